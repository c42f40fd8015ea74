import subprocess
import sys
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from foretune.predictors.synthetic_curves import make_study


def _write(curves, path, at=None):
    rows = [
        {"trial": c.trial, "fraction": f, "value": v, **c.params}
        for c in curves
        for f, v in zip(c.fractions, c.values, strict=True)
        if at is None or f <= at + 1e-9
    ]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "foretune.cli", *map(str, args)], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def test_rank_writes_one_row_per_trial(tmp_path):
    partial = _write(make_study(12, seed=2, noise=0.003), tmp_path / "partial.csv", at=0.2)
    finished = _write(make_study(20, seed=1, noise=0.003), tmp_path / "finished.csv")
    out = tmp_path / "ranked.csv"
    result = _cli(
        "rank",
        partial,
        "--at",
        "0.2",
        "--mode",
        "max",
        "--predictor",
        "learned",
        "--fit",
        finished,
        "--top",
        "3",
        "--out",
        out,
    )
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(out)
    assert list(table.columns) == ["trial", "predicted_final", "lower", "upper", "early_value", "rank", "basis"]
    assert len(table) == 12 and sorted(table["trial"]) == sorted(f"t{i}" for i in range(12))
    assert list(table["rank"]) == list(range(1, 13))
    assert table["predicted_final"].is_monotonic_decreasing  # mode max: best first
    assert table["basis"].str.startswith("predicted by learned from 20 finished runs").all()
    assert (table["lower"] <= table["predicted_final"]).all() and (table["predicted_final"] <= table["upper"]).all()
    assert table.loc[0, "trial"] in result.stdout and "learned ranking" in result.stdout
    assert table.loc[5, "trial"] not in result.stdout.split("wrote")[0].split()  # only --top 3 printed
    assert "the best 3 of 12 runs" in result.stdout  # and the title says so


def test_rank_without_finished_runs_predicts_no_final(tmp_path):
    partial = _write(make_study(6, seed=2, noise=0.003), tmp_path / "partial.csv", at=0.2)
    out = tmp_path / "ranked.csv"
    result = _cli("rank", partial, "--at", "0.2", "--mode", "max", "--out", out)
    assert result.returncode == 0, result.stderr
    assert "no final predicted" in result.stderr
    table = pd.read_csv(out)
    assert table[["predicted_final", "lower", "upper"]].isna().all().all()  # never a number not predicted
    assert (table["basis"] == "ranked by early score; 0 finished runs, no final predicted").all()
    assert table["early_value"].is_monotonic_decreasing


def test_rank_eval_compares_every_predictor(tmp_path):
    curves = _write(make_study(30, seed=3, mode="min", noise=0.003), tmp_path / "complete.csv")
    result = _cli("rank-eval", curves, "--at", "0.2", "--mode", "min")
    assert result.returncode == 0, result.stderr
    for word in (
        "auto",
        "snapshot",
        "curve",
        "learned",
        "spearman",
        "kendall",
        "top-5 overlap",
        "regret",
        "best in top 20%",
        "mae",
        "coverage",
    ):
        assert word in result.stdout
    assert "inputs up to 0.2: value; hyperparameter columns: lr, optimizer; other metric columns: none" in result.stdout


@pytest.mark.parametrize(
    ("edit", "args", "message"),
    [
        (None, ["--trial-col", "run"], "no trial column 'run'"),
        (lambda f: f.assign(fraction=f["fraction"] * 2), [], "outside [0, 1]"),
        (lambda f: f.assign(value=f["value"].astype(object).where(f.index != 3, "abc")), [], "must be numeric"),
        (None, ["--at", "0.05"], "no run in"),
        (None, ["--mode", "up"], "--mode 'up'"),
        (None, ["--predictor", "magic"], "--predictor 'magic'"),
        (None, ["--bounds", "1,0"], "LOW must be below HIGH"),
        (None, ["--bounds", "0-100"], "give LOW,HIGH"),
        # a search report's trials.csv: it said "no value column 'value'" and listed 20 columns
        (lambda f: f.assign(early_rank=1, final_rank=1, early_score=0.5), [], "a search report's table"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, edit, args, message):
    path = _write(make_study(6, seed=0), tmp_path / "curves.csv")
    if edit is not None:
        edit(pd.read_csv(path)).to_csv(path, index=False)
    out = tmp_path / "ranked.csv"
    result = _cli("rank", path, "--out", out, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not out.exists()  # nothing half-done


def test_rank_eval_needs_complete_curves(tmp_path):
    path = _write(make_study(6, seed=0), tmp_path / "partial.csv", at=0.5)
    result = _cli("rank-eval", path)
    assert result.returncode == 2 and "complete curves" in result.stderr


def _accuracy_runs():
    import numpy as np

    from foretune.predictors import Curve

    rng = np.random.default_rng(1)
    x = np.linspace(0.1, 1.0, 10)
    runs = []
    for i in range(20):  # accuracy-like runs ending near 1: an unclipped interval passes 1
        y = np.clip(rng.uniform(0.9, 0.999) - rng.uniform(0.1, 0.6) * (1 - x) ** 2 + rng.normal(0, 0.01, 10), 0, 1)
        runs.append(Curve(x, y, {}, f"t{i}"))
    return runs


def test_rank_clips_an_accuracy_to_zero_one(tmp_path):
    from foretune.predictors import Curve

    runs = _accuracy_runs()
    finished, partial = _write(runs[:12], tmp_path / "finished.csv"), _write(runs[12:], tmp_path / "partial.csv", 0.2)
    out = tmp_path / "ranked.csv"
    args = ("rank", partial, "--mode", "max", "--predictor", "snapshot", "--fit", finished, "--out", out)
    result = _cli(*args)
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(out)
    assert table["upper"].max() == 1.0 and table[["predicted_final", "lower"]].to_numpy().max() <= 1.0
    _write([Curve(c.fractions, 2 * c.values, {}, c.trial) for c in runs[:12]], finished)  # a score up to 2
    assert _cli(*args).returncode == 0 and pd.read_csv(out)["upper"].max() > 1.0  # not an accuracy: no clip


def test_rank_reads_an_accuracy_in_percent_by_its_name_and_takes_bounds(tmp_path):
    from foretune.predictors import Curve

    percent = [Curve(c.fractions, 100 * c.values, {}, c.trial) for c in _accuracy_runs()]
    paths = _write(percent[:12], tmp_path / "finished.csv"), _write(percent[12:], tmp_path / "partial.csv", 0.2)
    for path in paths:
        pd.read_csv(path).rename(columns={"value": "val_acc"}).to_csv(path, index=False)
    out = tmp_path / "ranked.csv"
    args = ("rank", paths[1], "--fit", paths[0], "--predictor", "snapshot", "--value-col", "val_acc", "--out", out)
    columns = ["predicted_final", "lower", "upper"]
    result = _cli(*args)
    assert result.returncode == 0 and "range [0, 100]: predicted finals and intervals clipped" in result.stdout
    clipped = pd.read_csv(out)
    assert clipped["upper"].max() == 100.0 and clipped[columns].to_numpy().min() >= 0.0  # a share, in percent
    result = _cli(*args, "--bounds", "none")
    assert result.returncode == 0 and "range: none (predictions not clipped" in result.stdout
    free = pd.read_csv(out)
    assert free["upper"].max() > 100.0  # the test can fail: unclipped, the interval passes 100
    assert clipped["trial"].tolist() == free["trial"].tolist()  # runs past 100% keep their order, not tied
    assert (clipped[columns] == free[columns].clip(0, 100)).all().all()  # clipping moves nothing else
    given = _cli(*args, "--bounds", "-10,100")
    assert (
        given.returncode == 0
        and "range [-10, 100]: predicted finals and intervals clipped into it (--bounds)" in given.stdout
    )
    assert (
        pd.read_csv(out)["upper"].max() == 100.0
        and (pd.read_csv(out)[columns] == free[columns].clip(-10, 100)).all().all()
    )
    out.unlink()
    wrong = _cli(*args, "--bounds", "0,1")  # the range of a [0, 1] accuracy, given for one in percent
    assert wrong.returncode == 2 and "value(s) of val_acc in" in wrong.stderr and "lie outside [0, 1]" in wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1 and not out.exists()  # one line, nothing written


def test_rank_keeps_an_error_rate_named_so_at_zero_and_up(tmp_path):
    """An image classifier's error (the issue's unseen curves: error, lower is better), runs ending near 0: its
    predicted finals and intervals never go below 0 (round 42; before, an error rate was read as anything)."""
    from foretune.predictors import Curve

    errors = [Curve(c.fractions, 1 - c.values, {}, c.trial) for c in _accuracy_runs()]
    paths = _write(errors[:12], tmp_path / "finished.csv"), _write(errors[12:], tmp_path / "partial.csv", 0.2)
    for path in paths:
        pd.read_csv(path).rename(columns={"value": "val_error"}).to_csv(path, index=False)
    out = tmp_path / "ranked.csv"
    args = ("rank", paths[1], "--fit", paths[0], "--mode", "min", "--predictor", "snapshot", "--value-col", "val_error")
    result = _cli(*args, "--out", out)
    assert result.returncode == 0 and "range [0, inf]" in result.stdout, result.stderr
    assert pd.read_csv(out)[["predicted_final", "lower", "upper"]].to_numpy().min() >= 0.0
    assert _cli(*args, "--out", out, "--bounds", "none").returncode == 0
    assert pd.read_csv(out)["lower"].min() < 0.0  # the test can fail: unclipped, an interval reaches below 0


def test_rank_reads_an_error_rate_in_the_default_column_as_one(tmp_path):
    """The issue's own format, `trial, fraction, value` to minimize, holding an error rate: ranked as `--value-col
    val_error` ranks it, the range [0, 1], and the output says how it was read (round 43; before, a bare "value" to
    minimize went through the rules made for a loss and its cold intervals covered 45-88% of finals)."""
    from foretune.predictors import Curve

    errors = [Curve(c.fractions, 1 - c.values, {}, c.trial) for c in _accuracy_runs()]
    paths = _write(errors[:12], tmp_path / "finished.csv"), _write(errors[12:], tmp_path / "partial.csv", 0.2)
    bare, named = tmp_path / "bare.csv", tmp_path / "named.csv"
    result = _cli("rank", paths[1], "--fit", paths[0], "--mode", "min", "--out", bare)
    assert result.returncode == 0 and "read as an error rate" in result.stdout, result.stderr
    assert "range [0, 1]" in result.stdout  # a share, as its accuracy
    for path in paths:
        pd.read_csv(path).rename(columns={"value": "val_error"}).to_csv(path, index=False)
    result = _cli("rank", paths[1], "--fit", paths[0], "--mode", "min", "--value-col", "val_error", "--out", named)
    assert result.returncode == 0 and "read as an error rate" not in result.stdout, result.stderr
    bare, named = pd.read_csv(bare), pd.read_csv(named)
    pd.testing.assert_frame_equal(bare.drop(columns="basis"), named.drop(columns="basis"))
    assert bare["basis"].str.endswith("named neither a loss nor an error rate)").all()


def test_rank_says_how_to_read_an_error_rate_in_percent_under_a_bare_name(tmp_path):
    """In percent, a bare "value" to minimize leaves [0, 1]: read as a loss, with a note saying how to read it as an
    error rate; `--bounds 0,100` does, and the basis says so."""
    from foretune.predictors import Curve

    errors = [Curve(c.fractions, 100 * (1 - c.values), {}, c.trial) for c in _accuracy_runs()]
    paths = _write(errors[:12], tmp_path / "finished.csv"), _write(errors[12:], tmp_path / "partial.csv", 0.2)
    args = ("rank", paths[1], "--fit", paths[0], "--mode", "min")
    as_loss, given = _cli(*args), _cli(*args, "--bounds", "0,100")
    assert as_loss.returncode == given.returncode == 0, as_loss.stderr + given.stderr
    assert "value: read as a loss" in as_loss.stdout and "--bounds 0,100 reads it as one" in as_loss.stdout
    assert "read as an error rate" not in as_loss.stdout
    assert "read as a loss" not in given.stdout
    assert "read as an error rate: every value in [0, 100]" in " ".join(given.stdout.split())


def _scores(stdout):
    """rank-eval's table as {metric: value} (one predictor's column)."""
    rows = [line.split("│") for line in stdout.splitlines() if line.count("│") == 3]
    return {cells[1].strip(): float(cells[2]) for cells in rows if cells[2].strip()[:1].isdigit()}


def test_rank_eval_scores_predictions_as_rank_shows_them_within_the_range(tmp_path):
    from foretune.predictors import Curve
    from foretune.predictors.calibration import clip_to_bounds
    from foretune.predictors.evaluation import cross_fit_predict, evaluate_predictors

    percent = [Curve(c.fractions, 100 * c.values, {}, c.trial) for c in _accuracy_runs()]
    path = _write(percent, tmp_path / "complete.csv")
    pd.read_csv(path).rename(columns={"value": "val_acc"}).to_csv(path, index=False)
    args = ("rank-eval", path, "--predictor", "snapshot", "--value-col", "val_acc", "--folds", "4")
    clipped, free = _cli(*args), _cli(*args, "--bounds", "none")
    assert clipped.returncode == free.returncode == 0, clipped.stderr + free.stderr
    assert "range [0, 100]: predicted finals and intervals clipped into it (read from" in clipped.stdout
    clipped, free = _scores(clipped.stdout), _scores(free.stdout)
    assert clipped["mae"] < free["mae"]  # unclipped, predicted finals past 100% count their excess
    assert clipped["spearman"] == free["spearman"] and clipped["top-5 overlap"] == free["top-5 overlap"]
    # The same by hand: cross-fitted, clipped into [0, 100] for the errors, ranked before clipping.
    at, finals = 0.2, np.array([c.values[-1] for c in percent])
    raw = cross_fit_predict("snapshot", percent, at=at, mode="max", folds=4)
    assert raw.upper.max() > 100  # the test can fail: unclipped, an interval passes 100
    table = evaluate_predictors({"s": "snapshot"}, percent, at=at, mode="max", folds=4, bounds=(0.0, 100.0))
    assert table.loc["mae", "s"] == pytest.approx(np.mean(np.abs(clip_to_bounds(raw, (0.0, 100.0)).mean - finals)))
    assert table.loc["mae", "s"] == pytest.approx(clipped["mae"], abs=5e-4)
    bad = _cli(*args, "--bounds", "100,0")
    assert bad.returncode == 2 and "LOW must be below HIGH" in bad.stderr
    bad = _cli(*args, "--bounds", "0,1")
    assert bad.returncode == 2 and "lie outside [0, 1]" in bad.stderr and "--bounds 0,100" in bad.stderr


def test_rank_learns_from_the_finished_runs_of_fit_and_ranks_the_rest(tmp_path):
    ranked = make_study(12, seed=2, noise=0.003)
    finished = [replace(c, trial=f"done-{c.trial}") for c in make_study(20, seed=1, noise=0.003)]
    pruned = [replace(c.upto(0.5), trial=f"pruned-{c.trial}") for c in make_study(5, seed=4, noise=0.003)]
    fit = _write([*finished, *pruned, *ranked[:3]], tmp_path / "fit.csv")  # three of the ranked runs, finished
    out = tmp_path / "ranked.csv"
    result = _cli(
        "rank", _write(ranked, tmp_path / "partial.csv", at=0.2), "--fit", fit, "--predictor", "learned", "--out", out
    )
    assert result.returncode == 0, result.stderr
    assert "5 run(s) of" in result.stderr and "pruned-t0" in result.stderr  # not finished: not learned from
    assert "3 run(s) are finished runs of" in result.stderr and ": t0, t1, t2" in result.stderr  # finals known
    table = pd.read_csv(out)
    assert sorted(table["trial"]) == sorted(f"t{i}" for i in range(3, 12))
    assert table["basis"].str.startswith("predicted by learned from 23 finished runs").all()


def test_one_table_as_curves_and_fit_ranks_the_runs_still_running(tmp_path):
    study = make_study(16, seed=5, noise=0.003)
    table = _write([*study[:10], *(c.upto(0.3) for c in study[10:])], tmp_path / "study.csv")
    out = tmp_path / "ranked.csv"
    result = _cli("rank", table, "--fit", table, "--out", out)
    assert result.returncode == 0, result.stderr
    assert sorted(pd.read_csv(out)["trial"]) == [f"t{i}" for i in range(10, 16)]
    assert "6 run(s) of" in result.stderr and "10 run(s) are finished runs of" in result.stderr
    done = _write(study[:10], tmp_path / "done.csv")
    result = _cli("rank", done, "--fit", done, "--out", out)
    assert result.returncode == 2 and "nothing left to predict; `foretune rank-eval`" in result.stderr


def test_rank_with_no_finished_run_in_fit_exits_2(tmp_path):
    partial = _write(make_study(6, seed=2), tmp_path / "partial.csv", at=0.2)
    fit = _write(make_study(6, seed=1), tmp_path / "fit.csv", at=0.5)
    out = tmp_path / "ranked.csv"
    result = _cli("rank", partial, "--fit", fit, "--out", out)
    assert result.returncode == 2 and "none of its 6 runs is finished" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()


def test_rank_eval_leaves_the_runs_it_scores_out_of_fit(tmp_path):
    study = make_study(12, seed=6, mode="min", noise=0.003)
    curves = _write(study, tmp_path / "complete.csv")
    result = _cli("rank-eval", curves, "--mode", "min", "--fit", curves)
    assert result.returncode == 2 and "every run is among the runs scored" in result.stderr
    fit = _write(
        [*study[:4], *(replace(c, trial=f"other-{c.trial}") for c in make_study(8, seed=7, mode="min"))],
        tmp_path / "fit.csv",
    )
    result = _cli("rank-eval", curves, "--mode", "min", "--fit", fit, "--predictor", "snapshot")
    assert result.returncode == 0, result.stderr
    assert "4 run(s) of" in result.stderr and "left out of --fit: t0, t1, t2, t3" in result.stderr


def test_a_run_folder_as_curves_points_to_report(tmp_path, cli):
    """A search's run folder or journal given to rank: it said 'curves file not found' / a CSV parser error."""
    (tmp_path / "study.journal").write_text("")
    for given in (tmp_path, tmp_path / "study.journal"):
        code, _, stderr = cli("rank", str(given))
        assert code == 2 and "foretune report RUN_DIR" in stderr and "Traceback" not in stderr


def test_rank_names_its_inputs_and_a_metric_flat_at_the_start_is_no_hyperparameter(tmp_path):
    """A metric still 0 over the ranked runs' first points is constant per trial there, as a setting is: it was
    guessed a hyperparameter of that table (not of --fit's, where it moves)."""
    finished, ranked = make_study(12, seed=1, noise=0.003), make_study(6, seed=2, noise=0.003)
    fit = pd.read_csv(_write(finished, tmp_path / "fit.csv"))
    fit.assign(exact=fit["value"] / 2).to_csv(tmp_path / "fit.csv", index=False)
    partial = pd.read_csv(_write(ranked, tmp_path / "partial.csv", at=0.2))
    partial.assign(exact=0.0).to_csv(tmp_path / "partial.csv", index=False)
    result = _cli("rank", tmp_path / "partial.csv", "--fit", tmp_path / "fit.csv")
    assert result.returncode == 0, result.stderr
    assert "inputs up to 0.2: value; hyperparameter columns: lr, optimizer; other metric columns: none" in result.stdout
    named = _cli("rank", tmp_path / "partial.csv", "--fit", tmp_path / "fit.csv", "--extra-col", "exact")
    assert "hyperparameter columns: lr, optimizer; other metric columns: exact" in named.stdout
    assert "inputs up to" not in _cli("rank", tmp_path / "partial.csv", "--predictor", "snapshot").stdout


def test_rank_reads_the_losses_of_its_table_unless_told_otherwise(tmp_path):
    """A table's columns named as losses are given to the predictor by default (round 44), as a search gives it every
    loss its trials report: where the accuracy at 20% is flat, the eval loss ranks the runs; `--extra-col none`
    leaves them out (rank's default before), and the inputs line says which way it went."""
    from tests.predictors.test_predictors_extras import _study

    for curves, name, at in ((_study(12, seed=1), "fit.csv", None), (_study(10, seed=2), "partial.csv", 0.2)):
        rows = [
            {"trial": c.trial, "fraction": f, "value": v, "eval_loss": loss, "seed": c.params["seed"]}
            for c in curves
            for f, v, loss in zip(c.fractions, c.values, c.extras["eval_loss"], strict=True)
            if at is None or f <= at + 1e-9
        ]
        pd.DataFrame(rows).to_csv(tmp_path / name, index=False)
    args = ["rank", tmp_path / "partial.csv", "--fit", tmp_path / "fit.csv", "--out"]
    given = {"default": [], "named": ["--extra-col", "eval_loss"], "none": ["--extra-col", "none"]}
    default, named, none = (_cli(*args, tmp_path / f"{label}.csv", *extra) for label, extra in given.items())
    assert default.returncode == named.returncode == none.returncode == 0, default.stderr
    assert "other metric columns: eval_loss (named as losses; --extra-col none leaves them out" in default.stdout
    assert "other metric columns: none" in none.stdout and "named as losses" not in none.stdout
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "default.csv"), pd.read_csv(tmp_path / "named.csv"))
    finals = {c.trial: float(c.values[-1]) for c in _study(10, seed=2)}

    def spearman(label):
        out = pd.read_csv(tmp_path / f"{label}.csv")
        return out["predicted_final"].corr(out["trial"].map(finals), method="spearman")

    assert spearman("default") > 0.8 > spearman("none")
    pd.read_csv(tmp_path / "fit.csv").drop(columns="eval_loss").to_csv(tmp_path / "fit.csv", index=False)
    one_table = _cli(*args[:-1], "--top", "1")  # a loss only the ranked runs report is not learned from: says so
    assert "other metric columns: none; eval_loss left out: not in every run" in one_table.stdout, one_table.stderr


def test_rank_reads_a_loss_and_its_perplexity_once(tmp_path):
    """Given an eval loss, its perplexity, the same loss renamed and in bits, rank ranks as with the eval loss alone
    and says which columns it read once (rounds 38-39)."""
    finished, ranked = make_study(12, seed=1, noise=0.003), make_study(6, seed=2, noise=0.003)
    for curves, name, at in ((finished, "fit.csv", None), (ranked, "partial.csv", 0.2)):
        table = pd.read_csv(_write(curves, tmp_path / name, at=at))
        loss = 2.0 - table["value"] + 0.01 * table["fraction"]
        copies = {"eval_ppl": np.exp(loss), "val_nll": loss, "eval_bpb": loss / np.log(2)}  # bpb: in bits (round 39)
        table.assign(eval_loss=loss, **copies).to_csv(tmp_path / name, index=False)
    args = ["rank", tmp_path / "partial.csv", "--fit", tmp_path / "fit.csv", "--extra-col", "eval_loss"]
    once = _cli(*args, "--out", tmp_path / "once.csv")
    more = ["--extra-col", "eval_ppl", "--extra-col", "val_nll", "--extra-col", "eval_bpb"]
    copies = _cli(*args, *more, "--out", tmp_path / "copies.csv")
    assert once.returncode == 0 and copies.returncode == 0, copies.stderr
    named = (
        "other metric columns: eval_bpb, eval_loss, eval_ppl, val_nll (eval_bpb, eval_ppl, val_nll: another column's"
    )
    assert named in copies.stdout
    assert "read once" not in once.stdout
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "once.csv"), pd.read_csv(tmp_path / "copies.csv"))


def test_rank_names_a_copy_where_the_finished_runs_show_one(tmp_path):
    """The predictor decides what is a copy on the finished runs' whole curves: the inputs line decided it over all
    given runs, so it did not name a copy the ranked runs' early points break (the predictor reads it once), and
    named one with no --fit (nothing is decided, nothing read once)."""
    finished, ranked = make_study(12, seed=1, noise=0.003), make_study(6, seed=2, noise=0.003)
    for curves, name, at in ((finished, "fit.csv", None), (ranked, "partial.csv", 0.2)):
        table = pd.read_csv(_write(curves, tmp_path / name, at=at))
        loss = 2.0 - table["value"] + 0.01 * table["fraction"]
        renamed = loss if at is None else loss.round(2)  # the ranked runs' copy logged at two decimals
        table.assign(eval_loss=loss, val_nll=renamed).to_csv(tmp_path / name, index=False)
    extras = ["--extra-col", "eval_loss", "--extra-col", "val_nll"]
    given = ["rank", tmp_path / "partial.csv", "--fit", tmp_path / "fit.csv"]
    warm = _cli(*given, *extras, "--out", tmp_path / "w.csv")
    alone = _cli(*given, *extras[:2], "--out", tmp_path / "a.csv")
    assert warm.returncode == 0 and alone.returncode == 0, warm.stderr
    assert "other metric columns: eval_loss, val_nll (val_nll: another column's values" in warm.stdout
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "w.csv"))  # read once
    cold = _cli("rank", tmp_path / "partial.csv", *extras)
    assert cold.returncode == 0, cold.stderr
    assert "other metric columns: eval_loss, val_nll" in cold.stdout and "read once" not in cold.stdout
