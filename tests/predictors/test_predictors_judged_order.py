"""A study's judgements held to one order (`judged_order`): a predicted final shown between those shown before."""

import numpy as np
import pytest

from foretune.predictors import Curve
from foretune.predictors._base import Prediction
from foretune.predictors.judged_order import JudgedRun, held_in_order, order_metric

FRACTIONS = np.round(np.linspace(0.1, 1.0, 10), 9)


def _prediction(mean, half=0.05, follows="eval_loss"):
    return Prediction(np.array([mean]), np.array([mean - half]), np.array([mean + half]), basis="b", follows=follows)


JUDGED = [JudgedRun("eval_loss", 0.5, 0.8), JudgedRun("eval_loss", 0.7, 0.6)]


@pytest.mark.parametrize(
    ("loss", "fitted", "shown"),
    [
        (0.6, 0.9, 0.8),  # above a run judged better early: held at its prediction
        (0.6, 0.5, 0.6),  # below a run judged worse early: held at its prediction
        (0.6, 0.7, 0.7),  # between them: as fitted
        (0.4, 0.95, 0.95),  # better than every run judged: nothing above it
        (0.8, 0.7, 0.6),  # worse than every run judged: not above the worst of them
    ],
)
def test_a_prediction_is_held_between_the_runs_judged_before_by_their_early_loss(loss, fitted, shown):
    run = JudgedRun("eval_loss", loss, fitted)
    held = held_in_order(_prediction(fitted), run, JUDGED, mode="max", at=0.2)
    assert held.mean[0] == pytest.approx(shown)
    # The interval holds both the fit's band and the same band around the value shown.
    assert held.lower[0] == pytest.approx(min(fitted, shown) - 0.05)
    assert held.upper[0] == pytest.approx(max(fitted, shown) + 0.05)
    moved = shown != pytest.approx(fitted)
    assert (held.basis != "b") == moved
    if moved:
        assert held.basis == f"b; held between the trials judged before by eval_loss at 20% (this fit: {fitted:.3g})"


def test_nothing_is_held_to_another_metric_to_runs_that_contradict_each_other_or_without_a_loss():
    run = JudgedRun("eval_loss", 0.6, 0.95)
    other_metric = [JudgedRun("val_loss", 0.5, 0.8)]
    assert held_in_order(_prediction(0.95), run, other_metric, mode="max", at=0.2).mean[0] == 0.95
    contradict = [JudgedRun("eval_loss", 0.5, 0.6), JudgedRun("eval_loss", 0.7, 0.8)]  # better early, lower final
    assert held_in_order(_prediction(0.95), run, contradict, mode="max", at=0.2).mean[0] == 0.95
    assert held_in_order(_prediction(0.95), None, JUDGED, mode="max", at=0.2).mean[0] == 0.95


def test_a_loss_objective_is_held_the_other_way():
    """Mode "min": a run with a higher eval loss early is not predicted a lower final loss than one judged better."""
    judged = [JudgedRun("eval_loss", 0.5, 0.4), JudgedRun("eval_loss", 0.7, 0.6)]
    held = held_in_order(_prediction(0.3), JudgedRun("eval_loss", 0.6, 0.3), judged, mode="min", at=0.2)
    assert held.mean[0] == pytest.approx(0.4)


def test_the_order_is_the_held_out_loss_where_the_run_reported_one():
    curve = Curve(FRACTIONS, FRACTIONS, extras={"train_loss": FRACTIONS, "eval_loss": FRACTIONS})
    assert order_metric(curve, "train_loss") == "eval_loss"
    assert order_metric(Curve(FRACTIONS, FRACTIONS, extras={"train_loss": FRACTIONS}), "train_loss") == "train_loss"
