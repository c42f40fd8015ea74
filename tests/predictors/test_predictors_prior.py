"""The cold-start prior shipped in the package (foretune/predictors/prior.py) and its offline learner
(benchmarks/learn_prior.py, pure parts on tiny data: no ../shared needed)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from foretune.predictors import Curve, get_predictor, metrics
from foretune.predictors.prior import (
    PRIOR_BASIS,
    feature_set,
    load_prior,
    prior_agrees,
    prior_predict,
    prior_raw,
    prior_shifted,
    shape_features,
)

ROOT = Path(__file__).resolve().parents[2]


def _learner():
    spec = importlib.util.spec_from_file_location("learn_prior", ROOT / "benchmarks" / "learn_prior.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def power_curve(trial: int, scale: float, exponent: float, noise: float = 0.0, seed: int = 0) -> Curve:
    """A loss falling as a power law of the budget fraction, evaluated at every 10%."""
    fractions = np.linspace(0.1, 1.0, 10)
    rng = np.random.default_rng([seed, trial])
    values = scale * fractions**-exponent * np.exp(noise * rng.normal(size=10))
    return Curve(fractions, values, {}, trial)


def test_prior_loads_from_package_data_with_its_provenance():
    prior = load_prior()
    assert set(prior.models) == {"fraction", "fraction+power"}
    assert prior.max_noise > 0
    text = str(prior.provenance)
    for needed in ("scan-bench", "MIT", "CC BY-SA 4.0", "learn_prior.py"):
        assert needed in text
    for model in prior.models.values():
        assert all(low < 0 < high for low, high in zip(model.band_low, model.band_high, strict=True))


def test_a_steeper_early_curve_is_predicted_to_end_lower():
    # Same loss at 0.2; the steeper run has further to fall (power law), and the prior says so.
    curves = [power_curve(0, 0.2**-0.5 / 0.2**-0.1, 0.1), power_curve(1, 1.0, 0.5)]
    early = [c.upto(0.2).values[-1] for c in curves]
    assert early[0] == pytest.approx(early[1])
    prediction = prior_predict([c.upto(0.2) for c in curves], 0.2, mode="min")
    assert prediction is not None and prediction.predicted
    assert prediction.basis == PRIOR_BASIS
    assert prediction.mean[1] < prediction.mean[0] < early[0]
    assert (prediction.lower <= prediction.mean).all() and (prediction.mean <= prediction.upper).all()


def test_the_prior_does_not_apply_to_scores_or_signed_values():
    scores = [Curve([0.1, 0.2], [0.3, 0.4], {}, 0), Curve([0.1, 0.2], [0.2, 0.5], {}, 1)]
    assert prior_predict(scores, 0.2, mode="max") is None
    signed = [Curve([0.1, 0.2], [-1.0, -2.0], {}, 0)]
    assert prior_predict(signed, 0.2, mode="min") is None
    prediction = get_predictor("auto", mode="max").predict(scores, at=0.2)
    assert not prediction.predicted and "ranked by early score" in prediction.basis


def test_noisy_slopes_fall_back_to_the_fraction_model():
    consistent = np.array([[np.log(0.2), 0.30], [np.log(0.2), 0.35], [np.log(0.2), 0.25]])
    noisy = np.array([[np.log(0.2), 0.30], [np.log(0.2), -0.35], [np.log(0.2), 0.1]])
    assert feature_set(consistent, max_noise=1.0) == "fraction+power"
    assert feature_set(noisy, max_noise=1.0) == "fraction"
    one_point = np.array([[np.log(0.2), np.nan], [np.log(0.2), np.nan]])
    assert feature_set(one_point, max_noise=1.0) == "fraction"


def test_auto_cold_start_names_the_prior_and_checks_it_against_finished_runs():
    judged = [power_curve(i, 1.0 + 0.1 * i, 0.2 + 0.05 * i).upto(0.2) for i in range(6)]
    cold = get_predictor("auto", mode="min").predict(judged, at=0.2)
    assert cold.predicted and "prior learned from public curves" in cold.basis
    assert not get_predictor("auto", mode="min", use_prior=False).predict(judged, at=0.2).predicted

    # Two finished runs that end far outside the prior's band: the study is not like the public
    # curves, so `auto` ranks by the early score instead.
    odd = [Curve([0.1, 0.2, 1.0], [1.0, 0.9, 50.0], {}, 10 + i) for i in range(2)]
    assert not prior_agrees(odd, 0.2, mode="min")
    fallback = get_predictor("auto", mode="min").fit(odd).predict(judged, at=0.2)
    assert not fallback.predicted and fallback.basis.startswith("ranked by early score; 2 finished runs")


def test_learner_examples_cut_each_run_at_its_early_points():
    learner = _learner()
    frame = learner.examples([power_curve(0, 1.0, 0.3)], mode="min", source="toy")
    assert list(np.round(np.exp(frame["log_fraction"]), 2)) == [0.1, 0.2, 0.3, 0.4, 0.5]
    # Target log(final / value at the cut) = 0.3 * log(cut) for this power law.
    assert np.allclose(frame["target"], 0.3 * frame["log_fraction"])
    # With two points the power-law extrapolation is exact for a power law: feature = target.
    assert np.isnan(frame["power"].iloc[0]) and np.allclose(frame["power"].iloc[1:], frame["target"].iloc[1:])
    assert frame["weight"].sum() == pytest.approx(1.0)


def test_learner_keeps_only_what_every_source_agrees_on():
    learner = _learner()
    assert learner.agreed([[0.4, 1.0], [0.05, -0.2]]) == [0.05, 0.0]
    rng = np.random.default_rng(0)
    x = np.log(rng.uniform(0.1, 0.5, 200))
    frame = pd.DataFrame({"log_fraction": x, "power": np.nan, "target": 0.5 * x - 0.1, "weight": 1 / 200})
    model = learner.fit_model(frame, ["log_fraction"])
    assert model["coef"] == [pytest.approx(0.5)] and model["intercept"] == pytest.approx(-0.1)
    assert max(np.abs(model["band_low"] + model["band_high"])) < 1e-9  # no residual: a zero band


def test_learned_prior_band_covers_each_source():
    learner = _learner()
    curves = {
        "fast": [power_curve(i, 1.0, 0.5, noise=0.02, seed=1) for i in range(30)],
        "slow": [power_curve(i, 1.0, 0.05, noise=0.02, seed=2) for i in range(30)],
    }
    frames = {name: learner.examples(c, mode="min", source=name) for name, c in curves.items()}
    models = learner.learn(frames, max_noise=1.0)
    assert set(models) == {"fraction", "fraction+power"}
    single = models["fraction"]
    for frame in frames.values():
        fraction = np.exp(frame["log_fraction"])
        residual = frame["target"] - single["intercept"] - single["coef"][0] * frame["log_fraction"]
        index = np.minimum(np.searchsorted(single["bins"], fraction - 1e-9), len(single["bins"]) - 1)
        inside = (residual >= np.array(single["band_low"])[index] - 1e-9) & (
            residual <= np.array(single["band_high"])[index] + 1e-9
        )
        assert inside.mean() >= 0.75
    features, _ = shape_features([c.upto(0.2) for c in curves["fast"]], 0.2, mode="min")
    assert feature_set(features, max_noise=1.0) == "fraction+power"


def test_with_a_few_finished_runs_auto_uses_the_recentred_prior_where_it_errs_less():
    # Power laws of different steepness: the early score alone misjudges how far each still falls.
    # Early losses rank the runs the wrong way round: the steeper ones start higher but end lower.
    runs = [power_curve(i, 1.0 - 0.03 * (i % 5), 0.1 + 0.08 * (i % 5), noise=0.005) for i in range(10)]
    auto = get_predictor("auto", mode="min").fit(runs[:5])
    prediction = auto.predict([c.upto(0.2) for c in runs[5:]], at=0.2)
    assert auto.weights_ == {"prior": 1.0}
    assert prediction.basis.startswith("predicted by a prior learned from public curves, recentred from 5 finished")
    assert (prediction.lower <= prediction.mean).all() and (prediction.mean <= prediction.upper).all()
    finals = np.array([c.final for c in runs[5:]])
    early = np.array([c.upto(0.2).values[-1] for c in runs[5:]])
    assert metrics.spearman(early, finals) < 0 < metrics.spearman(prediction.mean, finals)


def test_the_band_spans_a_runs_own_power_law_extrapolation():
    # Steep and noisy: the slopes scatter, so the fraction model predicts; one run falls far faster.
    curves = [power_curve(0, 1.0, 0.05), power_curve(1, 1.0, 1.2), power_curve(2, 1.0, 0.0)]
    early = [c.upto(0.2) for c in curves]
    features, _ = shape_features(early, 0.2, mode="min")
    assert feature_set(features, max_noise=load_prior().max_noise) == "fraction"
    prediction = prior_predict(early, 0.2, mode="min")
    # Run 1 falls as 1.0 x^-1.2: its own two points extrapolate to its true final, 1.0 at x = 1,
    # far below where the public curves' band would reach (values at 0.2: 6.9).
    assert prediction.lower[1] == pytest.approx(curves[1].final) and prediction.lower[1] < 0.5 * prediction.mean[1]
    assert prediction.upper[2] >= curves[2].values[1]  # a flat run may stay where it is
    assert prediction.lower[0] < prediction.mean[0] < prediction.upper[0]


def test_one_or_two_finished_runs_move_the_prior_toward_their_own_change():
    judged = [power_curve(i, 1.0 + 0.1 * i, 0.2 + 0.05 * i).upto(0.2) for i in range(6)]
    plain = prior_predict(judged, 0.2, mode="min")
    # Two finished runs that ended 20% below where the prior put them (inside its band: it agrees).
    finished = [power_curve(10 + i, 1.0, 0.25) for i in range(2)]
    on_finished = prior_predict([c.upto(0.2) for c in finished], 0.2, mode="min")
    finished = [
        Curve(c.fractions, np.r_[c.values[:-1], 0.8 * m], {}, c.trial)
        for c, m in zip(finished, on_finished.mean, strict=True)
    ]
    assert prior_agrees(finished, 0.2, mode="min")
    shifted = prior_shifted(finished, judged, 0.2, mode="min", prior_runs=2.0)
    # k / (k + prior_runs) = 1/2 of their mean log error: every prediction x sqrt(0.8), ranks unchanged.
    np.testing.assert_allclose(shifted.mean, plain.mean * np.sqrt(0.8))
    np.testing.assert_allclose(shifted.upper / shifted.mean, plain.upper / plain.mean)  # the band keeps its shape
    assert shifted.finished_used == 2 and "moved toward 2 finished runs' own change" in shifted.basis
    auto = get_predictor("auto", mode="min").fit(finished)
    assert "moved toward 2 finished runs" in auto.predict(judged, at=0.2).basis and auto.weights_ == {"prior": 1.0}
    one = prior_shifted(finished[:1], judged, 0.2, mode="min", prior_runs=2.0)
    assert "moved toward 1 finished run's own change" in one.basis  # it said "1 finished run' own change"
    assert prior_shifted(finished, judged, 0.2, mode="max") is None  # not a loss: no prior


def test_finished_and_judged_runs_are_predicted_by_one_model():
    # Three finished runs with like slopes would get the power model alone; with the judged runs' scattered
    # slopes the study gets the fraction model, and the finished runs' errors must be measured on that one.
    finished = [power_curve(i, 1.0, 0.3 + 0.02 * i) for i in range(3)]
    judged = [power_curve(10 + i, 1.0, e).upto(0.2) for i, e in enumerate([0.05, 1.2, -0.3])]
    early = [c.upto(0.2) for c in finished]
    max_noise = load_prior().max_noise
    assert feature_set(shape_features(early, 0.2, mode="min")[0], max_noise=max_noise) == "fraction+power"
    assert feature_set(shape_features([*early, *judged], 0.2, mode="min")[0], max_noise=max_noise) == "fraction"
    alone = prior_predict(early, 0.2, mode="min")
    together = prior_predict(early, 0.2, mode="min", study=[*finished, *judged])
    assert not np.allclose(alone.mean, together.mean)
    on_finished, on_judged = prior_raw(finished, judged, 0.2, mode="min")
    np.testing.assert_allclose(on_finished, together.mean)
    np.testing.assert_allclose(on_judged, prior_predict(judged, 0.2, mode="min").mean)
