"""`foretune rank --plot` and `rank-eval --plot`: a ranking and each predictor's predicted vs final as pictures,
showing only predictions made; `rank-eval` gives no error or coverage where no final was predicted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from foretune.cli.rank_plot import MAX_ROWS, evaluation_figure, ranking_figure
from foretune.predictors.evaluation import score_predictors
from foretune.predictors.synthetic_curves import make_study
from tests.predictors.test_predictors_cli import _cli, _write

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _foretune_without_torch_or_ray(run_without, *args):
    """`foretune ARGS` in a fresh interpreter where torch and Ray cannot be imported (neither command needs them)."""
    code = f"sys.argv = ['foretune', *{[str(a) for a in args]!r}]\nfrom foretune.cli import main\nmain()\n"
    return run_without(code, blocked=("torch", "ray"))


def _ranked(tmp_path, run_without, *, fit: bool, runs: int = 12):
    """The curves ranked, the finished runs, and `rank --out`'s table of them (read back from the CSV)."""
    judged = make_study(runs, seed=2, noise=0.003)
    finished = make_study(20, seed=1, noise=0.003) if fit else []
    args = ["rank", _write(judged, tmp_path / "partial.csv", at=0.2), "--out", tmp_path / "ranked.csv"]
    if fit:
        args += ["--fit", _write(finished, tmp_path / "finished.csv")]
    result = _foretune_without_torch_or_ray(run_without, *args, "--plot", tmp_path / "ranking.png")
    assert result.returncode == 0, result.stderr
    assert f"drew the ranking to {tmp_path / 'ranking.png'}" in result.stdout
    fitting = f"predicting {runs} runs' finals with auto from 20 finished runs"  # said before a fit, in a log a line
    assert (fitting in result.stderr) == fit
    assert (tmp_path / "ranking.png").read_bytes()[:8] == PNG_MAGIC
    return [c.upto(0.2) for c in judged], finished, pd.read_csv(tmp_path / "ranked.csv")


def _figure(table, judged, finished, top=3):
    basis = str(table["basis"].iloc[0])
    return ranking_figure(table, judged, finished, at=0.2, metric="value", top=top, basis=basis)


def test_rank_plot_draws_each_predicted_final_with_its_interval_in_rank_order(tmp_path, run_without):
    judged, finished, table = _ranked(tmp_path, run_without, fit=True)
    fig = _figure(table, judged, finished)
    curves_ax, rows_ax = fig.axes
    assert len(curves_ax.lines) == len(judged) + len(finished) + 1  # every curve and the --at line
    (bars,) = rows_ax.containers  # one errorbar: the predicted finals
    points, _, (segments,) = bars.lines
    np.testing.assert_allclose(np.asarray(points.get_xdata(), dtype=float), table["predicted_final"])
    np.testing.assert_allclose(np.asarray(points.get_ydata(), dtype=float), -np.arange(len(table)))  # rank 1 at the top
    ends = np.array([s[:, 0] for s in segments.get_segments()])
    np.testing.assert_allclose(ends, table[["lower", "upper"]].to_numpy())
    labels = [t.get_text() for t in rows_ax.get_yticklabels()]
    assert labels == [f"#{r}: {t}" for r, t in zip(table["rank"], table["trial"], strict=True)]
    legend = [t.get_text() for t in curves_ax.get_legend().get_texts()]
    assert legend[1:4] == [f"#{r}: {t}" for r, t in zip(table["rank"][:3], table["trial"][:3], strict=True)]
    assert fig.get_suptitle() == table["basis"].iloc[0]


def test_rank_plot_without_a_final_shows_the_early_values_only(tmp_path, run_without):
    judged, finished, table = _ranked(tmp_path, run_without, fit=False)
    fig = _figure(table, judged, finished)
    rows_ax = fig.axes[1]
    assert not rows_ax.containers  # no interval drawn: none was predicted
    (early,) = rows_ax.lines
    np.testing.assert_allclose(np.asarray(early.get_xdata(), dtype=float), table["early_value"])
    assert "no final predicted" in fig.get_suptitle()


def test_rank_plot_lists_at_most_its_rows(tmp_path, run_without):
    judged, finished, table = _ranked(tmp_path, run_without, fit=True, runs=MAX_ROWS + 5)
    rows_ax = _figure(table, judged, finished).axes[1]
    assert len(rows_ax.get_yticklabels()) == MAX_ROWS
    assert rows_ax.get_title() == f"ranked at 0.2: the best {MAX_ROWS} of {MAX_ROWS + 5}"


@pytest.mark.parametrize(("plot", "message"), [("", "that is a folder"), ("ranking.txt", "give a file ending in .png")])
def test_rank_plot_that_cannot_be_written_exits_2_before_any_output(tmp_path, plot, message):
    curves = _write(make_study(6, seed=0), tmp_path / "curves.csv")
    out = tmp_path / "ranked.csv"
    result = _cli("rank", curves, "--out", out, "--plot", tmp_path / plot)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not out.exists() and not (tmp_path / "ranking.txt").exists()


def test_rank_eval_gives_no_error_or_coverage_where_no_final_was_predicted(tmp_path, run_without):
    complete = _write(make_study(8, seed=2, noise=0.003), tmp_path / "complete.csv")
    two = _write(make_study(2, seed=1, noise=0.003), tmp_path / "two.csv")  # too few to predict a final from
    args = ("rank-eval", complete, "--fit", two, "--predictor", "snapshot", "--plot", tmp_path / "eval.png")
    result = _foretune_without_torch_or_ray(run_without, *args)
    assert result.returncode == 0, result.stderr
    rows = {
        line.split("│")[1].strip(): line.split("│")[2].strip() for line in result.stdout.splitlines() if "│" in line
    }
    assert rows["mae"] == rows["80% interval coverage"] == "n/a"  # was the early score's distance to the finals
    assert -1 <= float(rows["spearman"]) <= 1  # the ranking is still scored
    assert "snapshot: ranked by early score; 2 finished runs, no final predicted; no MAE or coverage" in result.stdout
    assert (tmp_path / "eval.png").read_bytes()[:8] == PNG_MAGIC


def test_rank_eval_plot_draws_each_predicted_final_against_its_final(tmp_path):
    curves = make_study(20, seed=3, noise=0.003)
    finals = np.array([c.values[-1] for c in curves])
    scored = score_predictors({"snapshot": "snapshot", "few": "snapshot"}, curves, at=0.2, mode="max", folds=4)
    scored["few"] = score_predictors({"few": "snapshot"}, curves, at=0.2, mode="max", finished=curves[:2])["few"]
    fig = evaluation_figure(scored, finals, at=0.2, metric="accuracy")
    made, few = fig.axes
    drawn = [
        (np.asarray(c.lines[0].get_xdata(), float), np.asarray(c.lines[0].get_ydata(), float)) for c in made.containers
    ]
    x, y = (np.concatenate(parts) for parts in zip(*drawn, strict=True))
    order = np.argsort(x)
    np.testing.assert_allclose(x[order], np.sort(finals))
    np.testing.assert_allclose(y[order], scored["snapshot"].shown.mean[np.argsort(finals)])
    inside = round(scored["snapshot"].scores["coverage"] * len(finals))
    assert made.get_title().endswith(f", {inside} of {len(finals)} inside")
    assert not few.containers and not few.lines and few.get_title().endswith("ranking only")  # no final, no point
    assert "no final predicted" in few.texts[0].get_text().replace("\n", " ")


def test_rank_plot_draws_the_loss_that_ranked_the_runs_where_no_final_was_predicted():
    from foretune.predictors import get_predictor
    from foretune.predictors.evaluation import ranking_table
    from tests.predictors.test_predictors_extras import _study

    early = [c.upto(0.2) for c in _study(10, seed=2)]
    prediction = get_predictor("auto", mode="max").fit([]).predict(early, at=0.2)
    assert not prediction.predicted and prediction.follows == "eval_loss"  # no finished run: the eval loss ranks
    table = ranking_table(early, prediction, at=0.2, mode="max")
    how = {"at": 0.2, "metric": "accuracy", "top": 3, "basis": prediction.basis}
    rows_ax = ranking_figure(table, early, [], **how, ranked_by=prediction.follows).axes[1]
    (drawn,) = rows_ax.lines
    losses = np.asarray(drawn.get_xdata(), dtype=float)
    assert np.all(np.diff(losses) > 0)  # rank 1, the lowest eval loss, at the top
    by_trial = {c.trial: c.extras["eval_loss"][-1] for c in early}
    np.testing.assert_allclose(losses, [by_trial[t] for t in table["trial"]])
    assert rows_ax.get_xlabel() == "eval_loss" and "eval_loss at 0.2 (ranks them)" in drawn.get_label()
