"""The probability rule's safety nets (honest probability with few finished runs, sparing a trial still
improving faster than the run it must beat) and the evaluator's one fit per set of finished runs."""

from __future__ import annotations

import numpy as np
import pytest

from foretune.keys import BEAT_PROBABILITY_ATTR, EARLY_DECISION_ATTR
from foretune.predictors import get_predictor
from foretune.predictors.calibration import probability_better
from foretune.search.evaluator import EarlyStageEvaluator
from foretune.search.rule import EarlyStageRule, ProbabilityRule
from tests.search.conftest import FRACTIONS, feed_curve, oriented
from tests.search.test_termination import _finish_three


def _evaluator(mode, grace=0, **rule):
    rule = ProbabilityRule(mode=mode, grace_trials=grace, **rule)
    return EarlyStageEvaluator(
        mode=mode, fraction=0.2, make_predictor=lambda: get_predictor("snapshot", mode=mode), rule=rule
    )


@pytest.mark.parametrize("shape", ["kde", "student"])
def test_conformal_probability_is_never_below_one_in_n_plus_one(shape):
    plausible = np.array([0.9, 1.0, 1.1, 1.3])
    plain = probability_better(plausible, 5.0, mode="max", shape=shape)
    honest = probability_better(plausible, 5.0, mode="max", shape=shape, conformal=True)
    assert plain < 0.01 and honest == pytest.approx((4 * plain + 1) / 5)
    assert probability_better(plausible, -100.0, mode="max", shape=shape, conformal=True) == pytest.approx(1.0)


@pytest.mark.parametrize("mode", ["max", "min"])
def test_three_finished_runs_cannot_stop_a_trial_below_one_in_four(mode):
    hopeless = oriented(mode, [2.6, 2.5, 2.4])
    plain, honest = _evaluator(mode, min_probability=0.2), _evaluator(mode, min_probability=0.2, conformal=True)
    for evaluator in (plain, honest):
        _finish_three(evaluator, mode)
    assert feed_curve(plain, "bad", hopeless) == pytest.approx(0.1)
    assert feed_curve(honest, "bad", hopeless) == pytest.approx(0.3)  # ran on: P >= 1/4 with 3 finished runs
    assert honest.verdicts["bad"][BEAT_PROBABILITY_ATTR] >= 0.25
    assert honest.verdicts["bad"][EARLY_DECISION_ATTR] == "kept"


@pytest.mark.parametrize("mode", ["max", "min"])
def test_a_trial_still_falling_faster_than_the_incumbent_is_spared_until_it_flattens(mode):
    # The finished runs fall by 0.2 per 10% early, 0.1 later; this one falls by 0.3, then stops falling.
    # Judged from 20% (at the first evaluation there is no gain to compare).
    late = oriented(mode, [2.6, 2.3, 2.0, 1.7, 1.7, 1.7])
    plain = _evaluator(mode, min_probability=0.05, stop_from=0.2)
    spared = _evaluator(mode, min_probability=0.05, stop_from=0.2, spare_rising=True)
    for evaluator in (plain, spared):
        _finish_three(evaluator, mode)
    assert feed_curve(plain, "late", late) == pytest.approx(0.2)
    assert feed_curve(spared, "late", late) == pytest.approx(0.5)  # stopped at the first evaluation it did not gain
    assert spared.verdicts["late"][EARLY_DECISION_ATTR] == "pruned"


def test_the_predictor_is_fitted_once_per_number_of_finished_runs():
    fits = []

    def counted():
        fits.append(1)
        return get_predictor("snapshot", mode="min")

    for rule in (ProbabilityRule(mode="min", grace_trials=0), EarlyStageRule(mode="min", keep=1.0, grace_trials=0)):
        fits.clear()
        evaluator = EarlyStageEvaluator(mode="min", fraction=0.2, make_predictor=counted, rule=rule)
        _finish_three(evaluator, "min")  # judged with 0, 1 and 2 finished runs
        for trial in range(5):  # five more trials judged at every evaluation with 3 finished runs
            feed_curve(evaluator, f"t{trial}", list(1.0 + 0.1 * trial - np.linspace(0, 0.5, len(FRACTIONS) - 1)))
        assert len(fits) <= 3 + 1 + 5  # one fit per number of finished runs (3 grows to 8), not one per judgement


@pytest.mark.parametrize("mode", ["max", "min"])
def test_one_bad_evaluation_does_not_stop_a_trial_judged_on_its_best_so_far(mode):
    # A good run (like the finished ones) whose metric dips once at 40%, as a noisy accuracy does.
    dip = oriented(mode, [1.1, 0.9, 0.7, 2.9, 0.4, 0.3])
    plain = _evaluator(mode, min_probability=0.05)
    robust = _evaluator(mode, min_probability=0.05, best_so_far=True)
    for evaluator in (plain, robust):
        _finish_three(evaluator, mode)
    assert feed_curve(plain, "dip", dip) == pytest.approx(0.4)
    assert feed_curve(robust, "dip", dip) == pytest.approx(0.6)  # judged at 40% on its curve up to 30%
    assert robust.verdicts["dip"][EARLY_DECISION_ATTR] == "kept"


@pytest.mark.parametrize("mode", ["max", "min"])
def test_a_rank_cut_at_the_early_fraction_comes_before_the_probability(mode):
    # Judged only from 90% on by the probability: what stops trials before is the rank cut at 20%.
    evaluator = _evaluator(mode, grace=3, min_probability=0.05, stop_from=0.9, rank_cut=0.5)
    _finish_three(evaluator, mode)  # the grace trials; early scores 1.0, 1.1, 1.2 at 20%
    assert feed_curve(evaluator, "worst", oriented(mode, [1.5, 1.4, 1.3])) == pytest.approx(0.2)
    assert evaluator.verdicts["worst"][EARLY_DECISION_ATTR] == "pruned"
    assert BEAT_PROBABILITY_ATTR not in evaluator.verdicts["worst"]  # stopped by rank, not by a probability
    assert feed_curve(evaluator, "best", oriented(mode, [0.9, 0.8, 0.7])) == pytest.approx(0.3)  # ranks first: goes on
