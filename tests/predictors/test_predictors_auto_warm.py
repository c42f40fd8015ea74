"""`auto` from `min_finished` finished runs: a loss's line joins the blend for a score objective (where no loss
is reported at the runs' end: else `_final_line`, tests/predictors/test_predictors_final_line.py)."""

from dataclasses import replace

import numpy as np
import pytest

from foretune.predictors import AutoPredictor, Curve, LearnedPredictor, metrics
from foretune.predictors._base import final_value

FRACTIONS = np.linspace(0.1, 1.0, 10)


def _runs(n, seed, *, loss_objective=False, loss_at_end=True):
    """Accuracies flat near 0.05 up to 20% (the objective ranks nothing there), each rising to its own final;
    eval loss at 20% falls with the final (not reported at the end: `loss_at_end=False`). With `loss_objective`,
    1 - accuracy is the objective."""
    rng = np.random.default_rng(seed)
    runs = []
    for i, final in enumerate(rng.uniform(0.1, 0.9, n)):
        values = np.where(FRACTIONS <= 0.2, 0.05 + rng.normal(0, 0.005, 10), 0.05 + (final - 0.05) * FRACTIONS)
        values[-1] = final
        eval_loss = (1.2 - final + rng.normal(0, 0.01)) * (1.2 - 0.4 * FRACTIONS)
        if not loss_at_end:
            eval_loss[-1] = np.nan
        objective = 1 - values if loss_objective else values
        runs.append(Curve(FRACTIONS, objective, trial=i, extras={"eval_loss": eval_loss}))
    return runs


def test_a_loss_line_joins_the_blend_of_a_score_objective_and_ranks():
    finished, judged = _runs(12, seed=1, loss_at_end=False), _runs(10, seed=2, loss_at_end=False)
    auto = AutoPredictor(mode="max").fit(finished)
    prediction = auto.predict([c.upto(0.2) for c in judged], at=0.2)
    assert set(auto.weights_) == {"snapshot", "curve", "learned", "signal:eval_loss"}
    assert auto.weights_["snapshot"] == auto.weights_["curve"] == 0.0  # the ranking rules weigh nothing
    assert max(auto.weights_, key=auto.weights_.get) == "signal:eval_loss"
    finals = np.array([final_value(c) for c in judged])
    assert metrics.spearman(prediction.mean, finals) > 0.9
    assert (prediction.lower <= prediction.mean).all() and (prediction.mean <= prediction.upper).all()


def test_from_min_finished_runs_the_ranking_rules_weigh_nothing():
    # `learned` reads the early value and the curve gain itself; a loss objective gets no loss line.
    finished, judged = _runs(12, seed=1, loss_objective=True), _runs(10, seed=2, loss_objective=True)
    auto = AutoPredictor(mode="min").fit(finished)
    prediction = auto.predict([c.upto(0.2) for c in judged], at=0.2)
    assert auto.weights_ == {"snapshot": 0.0, "curve": 0.0, "learned": 1.0}
    learned = LearnedPredictor(mode="min").fit(finished).predict([c.upto(0.2) for c in judged], at=0.2)
    np.testing.assert_allclose(prediction.mean, learned.mean)  # learned has its own intercept: no offset
    assert (prediction.lower <= prediction.mean).all() and (prediction.mean <= prediction.upper).all()


def test_blend_deviations_are_taken_without_each_run():
    from foretune.predictors._auto import blend_deviations
    from foretune.predictors.calibration import held_out_deviations

    rng = np.random.default_rng(0)
    finals = rng.normal(size=12)
    one = (finals + rng.normal(0, 0.1, 12))[:, None]
    # One candidate: nothing is chosen, the deviations are the plain held-out ones.
    plain = held_out_deviations(finals - one[:, 0])
    np.testing.assert_allclose(blend_deviations(one, finals, np.array([False]), combine="blend"), plain)
    # Two candidates, each good on half the runs: held out, a run is predicted by a blend leaning on the
    # candidate that is good on the *other* runs, so its deviation exceeds the one of the blend fit on all.
    good, bad = finals + rng.normal(0, 0.05, 12), finals + rng.normal(0, 1.0, 12)
    split = np.column_stack([np.where(np.arange(12) < 6, good, bad), np.where(np.arange(12) < 6, bad, good)])
    shift = np.array([False, False])
    nested = blend_deviations(split, finals, shift, combine="best")
    chosen = split[:, int(np.argmin(((finals[:, None] - split) ** 2).mean(axis=0)))]
    assert np.median(nested) > np.median(held_out_deviations(finals - chosen))


def _shifted(curves, shift, *, history=False):
    """The same runs in another study: every final `shift` higher (other products, another budget)."""
    out = []
    for c in curves:
        values = c.values.copy()
        values[-1] += shift
        out.append(replace(c, values=values, history=history))
    return out


@pytest.mark.parametrize("loss_at_end", [True, False], ids=["through-the-loss-final", "blend"])
def test_runs_of_an_earlier_study_rank_but_the_interval_is_calibrated_on_the_studys_own(loss_at_end):
    """Both warm paths of a score: through the eval loss's predicted final (`_final_line`), and the blend where
    the loss is not reported at the runs' end."""
    history = _shifted(_runs(30, seed=3, loss_at_end=loss_at_end), 0.0, history=True)
    own = _shifted(_runs(5, seed=4, loss_at_end=loss_at_end), 0.15)
    judged = _shifted(_runs(30, seed=5, loss_at_end=loss_at_end), 0.15)
    early = [c.upto(0.2) for c in judged]
    finals = np.array([final_value(c) for c in judged])

    # No run of its own yet: the earlier study orders the runs, but no final is predicted.
    ranked = AutoPredictor(mode="max").fit(history + own[:2]).predict(early, at=0.2)
    assert not ranked.predicted and "runs of earlier studies" in ranked.basis
    assert np.array_equal(ranked.lower, ranked.mean) and metrics.spearman(ranked.mean, finals) > 0.9

    # With 5 of its own: predictions move to the study's level and the band covers its finals; the same runs
    # taken for the study's own miss the shift (the interval can fail).
    auto = AutoPredictor(mode="max").fit(own + history)
    marked = auto.predict(early, at=0.2)
    assert ("signal:eval_loss's predicted final" in auto.weights_) == loss_at_end
    unmarked = AutoPredictor(mode="max").fit(own + _shifted(history, 0.0)).predict(early, at=0.2)
    assert marked.predicted and "on this study's 5" in marked.basis and marked.finished_used == 35
    inside = np.mean((marked.lower <= finals) & (finals <= marked.upper))
    assert inside >= 0.75 > np.mean((unmarked.lower <= finals) & (finals <= unmarked.upper))
    assert abs(np.median(finals - marked.mean)) < 0.05 < abs(np.median(finals - unmarked.mean))
    assert metrics.spearman(marked.mean, finals) > 0.9
