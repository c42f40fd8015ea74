"""Before 2 runs have finished, a score is ranked by the held-out loss every run reports (`_held_out_rank`), in
`foretune rank` as in a search; an error rate read as the score it mirrors too; without one, by the early score."""

import numpy as np
import pandas as pd
import pytest

from tests.predictors.test_predictors_cli import _cli
from tests.predictors.test_predictors_extras import _study


def _table(path, *, error_rate: bool = False, loss: str = "eval_loss"):
    """10 runs up to 20%: an accuracy flat at its floor (or 1 - it, under the bare name `value`), the eval loss
    already apart; returns each run's final."""
    curves = _study(10, seed=2)
    rows = [
        {"trial": c.trial, "fraction": f, "value": 1.0 - v if error_rate else v, loss: eval_loss}
        for c in curves
        for f, v, eval_loss in zip(c.fractions, c.values, c.extras["eval_loss"], strict=True)
        if f <= 0.2 + 1e-9
    ]
    pd.DataFrame(rows).to_csv(path, index=False)
    return {c.trial: float(c.values[-1]) for c in curves}


@pytest.mark.parametrize("error_rate", [False, True])
def test_rank_with_no_finished_run_orders_a_score_by_its_eval_loss(tmp_path, error_rate):
    finals = _table(tmp_path / "partial.csv", error_rate=error_rate)
    mode = "min" if error_rate else "max"
    ranked = {}
    for label, extra in (("loss", []), ("none", ["--extra-col", "none"])):
        args = ["rank", tmp_path / "partial.csv", "--mode", mode, "--out", tmp_path / f"{label}.csv", *extra]
        result = _cli(*args)
        assert result.returncode == 0, result.stderr
        ranked[label] = pd.read_csv(tmp_path / f"{label}.csv")
        assert ranked[label]["predicted_final"].isna().all()  # a ranking: no final is predicted either way
    assert (
        ranked["loss"]["basis"]
        .str.startswith("ranked by eval_loss at 20%, finer than the score there; 0 finished")
        .all()
    )
    assert ranked["none"]["basis"].str.startswith("ranked by early score; 0 finished runs, no final predicted").all()
    early_loss = pd.read_csv(tmp_path / "partial.csv").query("fraction > 0.19").set_index("trial")["eval_loss"]
    assert list(ranked["loss"]["trial"]) == list(early_loss.sort_values().index)  # lower loss first
    # Rank 1 is the best run either way (the lowest error rate: the best accuracy it mirrors).
    agree = {
        label: -table["rank"].corr(table["trial"].map(finals), method="spearman") for label, table in ranked.items()
    }
    assert agree["loss"] > 0.8 > agree["none"]


def test_a_train_loss_alone_does_not_rank_before_two_runs_finish(tmp_path):
    """A train loss is measured on the batches a run trained on: it can fall fastest where a run overfits, so with
    nothing to check its direction on, the early score keeps ranking."""
    _table(tmp_path / "partial.csv", loss="train_loss")
    result = _cli("rank", tmp_path / "partial.csv", "--out", tmp_path / "out.csv")
    assert result.returncode == 0, result.stderr
    basis = pd.read_csv(tmp_path / "out.csv")["basis"]
    assert (basis == "ranked by early score; 0 finished runs, no final predicted").all()
    assert np.isfinite(pd.read_csv(tmp_path / "out.csv")["early_value"]).all()


def test_a_run_with_no_eval_loss_by_the_early_fraction_leaves_the_ranking_to_the_score(tmp_path):
    """A run whose eval loss is not logged by 20% (or went NaN) cannot be placed by it: the early score ranks them
    all, as where no loss's line can be drawn."""
    _table(tmp_path / "partial.csv")
    table = pd.read_csv(tmp_path / "partial.csv")
    table.loc[table["trial"] == "t3", "eval_loss"] = np.nan
    table.to_csv(tmp_path / "partial.csv", index=False)
    result = _cli("rank", tmp_path / "partial.csv", "--out", tmp_path / "out.csv")
    assert result.returncode == 0, result.stderr
    basis = pd.read_csv(tmp_path / "out.csv")["basis"]
    assert (basis == "ranked by early score; 0 finished runs, no final predicted").all()
