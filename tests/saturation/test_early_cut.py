"""Sweep runs cut short by the early-stage predictor: only where its interval allows, and honestly costed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from foretune.cli.sweep_outputs import write_sweep_files
from foretune.predictors import Curve
from foretune.search.sweep import EarlyCut, SaturationSweep, geometric_sizes, lora_train_and_score
from foretune.search.sweep.late_gain import LateGainPredictor
from foretune.trainers.reporters import Decision

SIZES = geometric_sizes(6_400, start=50)  # 0, 50, ..., 6,400
FRACTIONS = (0.1, 0.2, 0.4, 0.6, 0.8, 1.0)
TEST_OFFSET = -0.02  # the test split scores a little lower than the validation split


def final_score(n: int) -> float:
    return 0.9 - 3 * n**-0.6 if n > 0 else 0.3


def in_run_task(curve_noise: float, held_out_noise: float = 0.003, scale: float = 1.0):
    """A stand-in for training whose validation curve follows c - a f^-0.5 (plus noise) to its final score.

    The held-out score adds noise of its own (another sample of products): the sweep's measurement
    noise, which caps how far off a predicted score may be. `scale` 100: the accuracy in percent.
    """

    def train_and_score(n: int, seed: int, reporter=None) -> dict[str, float]:
        rng = np.random.default_rng(n * 10 + seed)
        final = final_score(n)
        value = final
        for fraction in FRACTIONS if n > 0 else ():
            value = final - 0.1 * final * (fraction**-0.5 - 1) + rng.normal(0, curve_noise)
            reported = {"accuracy": scale * value}
            decision = None if reporter is None else reporter.report(fraction, int(fraction * 100), reported)
            if decision == Decision.STOP:
                break
        # Held-out score of the model as it stands (whole run, or where it was cut).
        held_out = value + TEST_OFFSET + rng.normal(0, held_out_noise)
        return {"accuracy": scale * held_out, "acc/Brand": scale * value}

    return train_and_score


def test_predictable_runs_are_cut_early_and_their_predicted_finals_are_close(tmp_path: Path) -> None:
    cut = EarlyCut(metric="accuracy", tolerance=0.005)
    result = SaturationSweep(in_run_task(0.0005), sizes=SIZES, adaptive=False, n_bootstrap=20, early_cut=cut).run()
    whole = SaturationSweep(in_run_task(0.0005), sizes=SIZES, adaptive=False, n_bootstrap=20).run()

    positive = [p for p in result.points if p.n > 0]
    # The predictor first learns from finished runs (the conformal check needs 4).
    assert not any(p.predicted for p in positive[: cut.min_finished]) and cut.min_finished >= 4
    assert result.cut_short >= 3
    for point in positive:
        if point.predicted:
            assert point.fraction < 1.0 and point.cost < result.points[0].cost + point.n
            assert point.score == pytest.approx(final_score(point.n) + TEST_OFFSET, abs=0.01)
            assert not any(k.startswith("acc/") for k in point.metrics)  # not final: kept out of attribute fits
    assert result.compute_fraction < 0.7 * whole.compute_fraction
    # The held-out scores carry noise 0.003 either way, which moves the flat end's answer by more than
    # 20% (7,576 whole vs 10,066 cut here; analytic 13,440): agree within the whole sweep's 80% interval.
    lo, hi = whole.saturation.min_useful_n_interval
    assert lo <= result.saturation.min_useful_n <= hi

    paths = write_sweep_files(result, tmp_path, metric="accuracy", study_name="cut", mode="max")
    assert "cut short by the early-stage predictor" in paths["table"].read_text()
    assert '"cut_short": ' + str(result.cut_short) in paths["summary"].read_text()


def test_the_sweep_reads_its_range_from_the_scores_as_a_search_does() -> None:
    """A task's metric_fn may report `accuracy` in percent: the sweep of the config bounds it by [0, 100], read from
    the scores, not by the built-in task's [0, 1] for that name (which capped the asymptote near 1 beside scores near
    88, gave a minimum useful n of 50 and clipped every cut run's predicted score to 1); an accuracy in [0, 1] keeps
    [0, 1]. With epsilon and the tolerance in percent too, the answer is the same."""
    from foretune.cli.sweep import _build_sweep, _early_cut
    from foretune.config import load_config
    from foretune.search.sweep.runs import run_here

    answers = []
    for scale in (1.0, 100.0):
        where = {"sweep.epsilon": 0.01 * scale, "sweep.early_tolerance": 0.005 * scale}
        cfg = load_config(None, {**where, "sweep.bootstrap": 10, "sweep.adaptive": False})
        sweep = _build_sweep(
            cfg, in_run_task(0.0005, scale=scale), lambda n: n + 1.0, SIZES, max(SIZES), _early_cut(cfg)
        )
        sweep.runner = run_here  # no Ray: the range is the sweep's, not its runner's
        result = sweep.run()
        assert result.saturation.bounds == (0.0, scale)
        assert 0.8 * scale < result.saturation.asymptote <= scale
        cut = [p for p in result.points if p.predicted]
        assert cut and all(
            p.score == pytest.approx(scale * (final_score(p.n) + TEST_OFFSET), abs=0.01 * scale) for p in cut
        )
        answers.append(result.saturation.min_useful_n)
    assert answers[1] == pytest.approx(answers[0], rel=0.01)


def test_runs_are_not_cut_where_the_predictor_is_unsure() -> None:
    cut = EarlyCut(metric="accuracy", tolerance=0.005)
    result = SaturationSweep(in_run_task(0.03), sizes=SIZES, adaptive=False, n_bootstrap=10, early_cut=cut).run()
    assert result.cut_short == 0
    assert result.compute_fraction == 1.0


def test_conformal_check_needs_enough_finished_runs_and_uses_their_worst_error() -> None:
    cut = EarlyCut(metric="accuracy", tolerance=0.01)
    straight = [Curve(np.array([0.2, 0.6, 1.0]), np.array([v, v, v])) for v in (0.5, 0.6, 0.7)]
    cut.finished = list(straight)
    assert cut.conformal_error(0.2) == float("inf")  # 3 runs: no 80% bound exists
    # A fourth run that gained 0.1 after 20% of its budget: unpredictable from the others.
    cut.finished.append(Curve(np.array([0.2, 0.6, 1.0]), np.array([0.4, 0.45, 0.5])))
    assert cut.conformal_error(0.2) > 0.05


def test_conformal_bound_is_the_rank_ceil_k_plus_1_times_level_leave_one_out_error() -> None:
    """With the snapshot predictor (final = the value at the fraction) each run's error is its own late gain."""
    flat = [Curve(np.array([0.2, 0.6, 1.0]), np.array([v, v, v])) for v in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)]
    rising = [Curve(np.array([0.2, 0.6, 1.0]), np.array([0.1, 0.1 + gain / 2, 0.1 + gain])) for gain in (0.1, 0.2)]
    cut = EarlyCut(metric="accuracy", tolerance=0.01, predictor="snapshot")
    cut.finished = flat[:3] + rising[:1]
    # k = 4 errors (0, 0, 0, 0.1): rank ceil(5 * 0.8) = 4, the largest.
    assert cut.conformal_error(0.2) == pytest.approx(0.1)
    assert cut.conformal_error(0.6) == pytest.approx(0.05)
    assert cut.conformal_error(1.0) == 0.0
    cut.finished = flat + rising
    # k = 9 errors (seven 0, 0.1, 0.2): rank ceil(10 * 0.8) = 8, the second largest.
    assert cut.conformal_error(0.2) == pytest.approx(0.1)


def test_late_gain_is_proportional_where_runs_gain_in_proportion_to_their_level_else_additive() -> None:
    fractions = np.array([0.2, 0.6, 1.0])
    levels = (0.3, 0.45, 0.6, 0.75, 0.9)
    scaled = [Curve(fractions, np.array([0.8 * v, 0.9 * v, v])) for v in levels]
    shifted = [Curve(fractions, np.array([v - 0.1, v - 0.05, v])) for v in levels]
    new = Curve(np.array([0.2]), np.array([0.4]))
    predictor = LateGainPredictor().fit(scaled)
    prediction = predictor.predict([new], at=0.2)
    assert predictor.form[0.2] == "proportional" and prediction.mean[0] == pytest.approx(0.5)
    assert prediction.lower[0] <= prediction.mean[0] <= prediction.upper[0]
    predictor = LateGainPredictor().fit(shifted)
    assert predictor.predict([new], at=0.2).mean[0] == pytest.approx(0.5) and predictor.form[0.2] == "additive"
    assert not LateGainPredictor().fit(scaled[:2]).predict([new], at=0.2).predicted  # too few finished runs


def test_early_cut_checks_its_arguments() -> None:
    for bad in ({"tolerance": 0}, {"min_fraction": 1.0}, {"min_finished": -1}, {"predictor": "nope"}, {"level": 1.0}):
        with pytest.raises(ValueError):
            EarlyCut(metric="accuracy", **bad)
    from foretune.predictors._mirrored import MirroredScore

    # An error rate to minimize is predicted as the accuracy it mirrors, a loss as a loss (get_predictor's metric).
    assert isinstance(EarlyCut(metric="val_error", mode="min", predictor="snapshot")._new_predictor(), MirroredScore)
    assert not isinstance(
        EarlyCut(metric="eval_loss", mode="min", predictor="snapshot")._new_predictor(), MirroredScore
    )


@pytest.mark.slow
def test_real_lora_run_is_cut_and_scored_where_it_stopped(tmp_path: Path) -> None:
    """The real trainer stops at the cut (half its two steps) and is scored on the test split there."""
    from foretune.config import load_config

    config = load_config(
        None,
        {
            "data.synthetic_size": 60,
            "data.max_test_samples": 2,
            "data.max_eval_samples": 2,
            "train.max_steps": 2,
            "train.batch_size": 2,
            "train.eval_fractions": [0.5, 1.0],
            "task.max_new_tokens": 24,
            "early_stage.fraction": 0.5,  # else the config adds an evaluation at the default 0.2
        },
    )
    train_and_score, cost, _ = lora_train_and_score(config)
    # Four finished runs that never moved and a tolerance no interval can fail: the run is cut at
    # its first evaluation past min_fraction (the decision itself is tested above).
    cut = EarlyCut(metric="accuracy", tolerance=10.0)
    cut.finished = [Curve(np.array([0.5, 1.0]), np.array([v, v])) for v in (0.1, 0.2, 0.3, 0.4)]
    reporter = cut.reporter()
    metrics = train_and_score(4, 0, reporter)
    assert reporter.cut is not None and reporter.cut.fraction == 0.5
    assert reporter.fractions == [0.5]  # no evaluation after the stop: the trainer did stop
    assert 0.0 <= metrics["accuracy"] <= 1.0
