"""`prior`: how far a run still moves after the early fraction, as public learning curves say.

The cold start of `auto` (no finished run of this study or of a matching earlier one): instead of
only ranking by the early score, predict each run's final from the *shape* of its early curve, with
a model learned offline by `benchmarks/learn_prior.py` from public curves (scan-bench; provenance
and licence in `prior_scan_bench.json` itself) and shipped as package data (no download).

Space: the values must be positive losses (mode "min"); elsewhere the prior does not apply
(`loss_space` returns None) and the caller ranks by the early score.
Target: `log(z_final / z_early)`. Features, chosen to carry across tasks (shape, never level): log
of the fraction of the last point seen, and with two points the power-law extrapolation of the log
loss to fraction 1. Two linear models ("fraction"; "fraction+power", used only where the study's runs
extrapolate consistently: `feature_set`); features are clipped to the range seen in training (no
extrapolation); a study's finished and judged runs are predicted by the one model their slopes pick
together (else the finished runs' errors would measure another model than the one that predicts). Where
the public sources disagree on a coefficient the learner keeps the smallest one (the prior moves a run
only as far as every source agrees). 80% band: the training residuals'
10% and 90% quantiles per fraction bin, each source weighing the same; a run with two points also
gets its own power-law extrapolation inside its band (a fast-falling or flat run says so itself).
With 1-2 finished runs of the study `prior_shifted` moves every prediction toward their own change
(shrunk: the prior's centre weighs as much as `PRIOR_RUNS` runs). Extra metrics (eval / train loss)
are not used: on the design curves their slope added nothing once the objective's was known.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from foretune.keys import Mode
from foretune.predictors._base import Curve, Prediction, Predictor, check_at, fill_unobserved, final_value, observed
from foretune.predictors.calibration import calibrated, early_ranking, predicted_basis

PRIOR_FILE = "prior_scan_bench.json"
PRIOR_BASIS = "predicted by a prior learned from public curves (scan-bench), 80% band from its residuals there"
FEATURES = ("log_fraction", "power")
# A model per feature set: all runs of a study use the same one.
FEATURE_SETS = {"fraction": ("log_fraction",), "fraction+power": ("log_fraction", "power")}
MAX_OWN_CHANGE = np.log(10.0)  # a run's own extrapolation widens its band by at most 10x either way
# With 1-2 finished runs the prior's centre weighs as much as this many of them (`prior_shifted`);
# chosen on the design sets' cold-2 coverage and error (benchmarks/results/verdict.md).
PRIOR_RUNS = 3.0


def loss_space(values: np.ndarray, mode: Mode) -> np.ndarray | None:
    """`values` as positive losses, or None where the prior does not apply: it was learned on
    losses only, and an accuracy's error rate moves differently (on our LoRA curves it fell
    from 0.95 to 0.2, further than any public loss curve fell), so mode "max" gets no prior."""
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    return values if mode == "min" and bool((finite > 0).all()) else None


def loglog_slope(x: np.ndarray, z: np.ndarray) -> float:
    """d log z / d log fraction over the last two points (NaN with fewer, or a non-positive value)."""
    keep = np.isfinite(z) & (z > 0) & (x > 0)
    x, z = x[keep], z[keep]
    if len(z) < 2 or x[-1] <= x[-2]:
        return float("nan")
    return float((np.log(z[-1]) - np.log(z[-2])) / (np.log(x[-1]) - np.log(x[-2])))


def shape_features(curves: Sequence[Curve], at: float, *, mode: Mode) -> tuple[np.ndarray, np.ndarray] | None:
    """(features per run (n x 2, NaN where missing), early loss z per run (NaN: no point yet)), or
    None when the values are not positive losses (see `loss_space`).

    Features: log of the last point's fraction, and `power`: the log change a power law through
    the last two points would still make up to fraction 1 (-slope x log fraction; NaN with one point).
    """
    features = np.full((len(curves), len(FEATURES)), np.nan)
    early = np.full(len(curves), np.nan)
    for i, curve in enumerate(curves):
        x, y = observed(curve, at)
        if not len(y):
            continue
        z = loss_space(y, mode)
        if z is None:
            return None
        early[i] = z[-1]
        features[i, 0] = np.log(max(x[-1], 1e-6))
        features[i, 1] = -loglog_slope(x, z) * features[i, 0]
    return features, early


def feature_set(features: np.ndarray, *, max_noise: float) -> str:
    """ "fraction+power" when every run with a point has two and their power-law extrapolations agree
    in direction more than they scatter (std / |mean| <= `max_noise`: a slope made of evaluation
    noise ranks runs by the noise); else "fraction"."""
    power = features[np.isfinite(features[:, 0]), 1]
    if len(power) < 2 or not np.isfinite(power).all():
        return "fraction"
    mean = abs(float(np.mean(power)))
    return "fraction+power" if mean > 0 and float(np.std(power)) <= max_noise * mean else "fraction"


@dataclass(frozen=True)
class PriorModel:
    """One linear model of log(z_final / z_early) on a feature set, with its residual band."""

    features: tuple[str, ...]
    intercept: float
    coef: tuple[float, ...]
    low: tuple[float, ...]  # minimum of each feature in training (predictions clip to it)
    high: tuple[float, ...]
    bins: tuple[float, ...]  # upper fraction edge of each residual bin
    band_low: tuple[float, ...]  # 10% residual quantile per bin
    band_high: tuple[float, ...]  # 90% residual quantile per bin
    examples: int = 0  # training examples (run x cut) it was fit on

    def columns(self, features: np.ndarray) -> np.ndarray:
        X = features[:, [FEATURES.index(f) for f in self.features]]
        return np.clip(X, np.asarray(self.low), np.asarray(self.high))

    def log_ratio(self, features: np.ndarray) -> np.ndarray:
        return self.intercept + self.columns(features) @ np.asarray(self.coef)

    def band(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The 10% / 90% residual quantiles of each run's fraction bin."""
        fraction = np.exp(features[:, 0])
        index = np.minimum(np.searchsorted(np.asarray(self.bins), fraction - 1e-9), len(self.bins) - 1)
        index = np.where(np.isfinite(fraction), index, len(self.bins) - 1)
        return np.asarray(self.band_low)[index], np.asarray(self.band_high)[index]


@dataclass(frozen=True)
class Prior:
    models: dict[str, PriorModel]
    max_noise: float  # the most slope noise (std / |mean| of `power`) with which the power model is used
    provenance: dict

    @classmethod
    def from_dict(cls, data: dict) -> Prior:
        models = {
            name: PriorModel(**{k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()})
            for name, spec in data["models"].items()
        }
        return cls(models, float(data["max_noise"]), data.get("provenance", {}))


@lru_cache(maxsize=1)
def load_prior() -> Prior:
    """The prior shipped with the package (`foretune/predictors/prior_scan_bench.json`)."""
    text = resources.files("foretune.predictors").joinpath(PRIOR_FILE).read_text(encoding="utf-8")
    return Prior.from_dict(json.loads(text))


def prior_predict(
    curves: Sequence[Curve],
    at: float,
    *,
    mode: Mode,
    prior: Prior | None = None,
    study: Sequence[Curve] | None = None,
) -> Prediction | None:
    """Each run's final predicted by the prior, with its 80% band; None where the prior does not
    apply (not a loss: mode "max" or a value <= 0; or no run has a point yet). `study`: the runs whose
    early slopes pick the model (`feature_set`; default `curves`): a study's finished and judged runs
    must be predicted by the same one, or the finished runs' errors measure another model."""
    shaped = shape_features(curves, at, mode=mode)
    if shaped is None:
        return None
    features, early = shaped
    if not np.isfinite(early).any():
        return None
    prior = prior or load_prior()
    picking = features
    if study is not None:
        shaped_study = shape_features([c.upto(at) for c in study], at, mode=mode)
        if shaped_study is None:
            return None
        picking = shaped_study[0]
    chosen = feature_set(picking, max_noise=prior.max_noise)
    model = prior.models[chosen]
    ratio = model.log_ratio(features)
    low, high = ratio + np.stack(model.band(features))
    if chosen != "fraction":
        # The power model was learned on the one source whose slopes were clean: its own band knows
        # nothing of other tasks. The interval also spans what the all-source model allows.
        broad = prior.models["fraction"]
        low_all, high_all = broad.log_ratio(features) + np.stack(broad.band(features))
        low, high = np.minimum(low, low_all), np.maximum(high, high_all)
    # A run with two points also says itself where it is heading: the band spans its own power-law
    # extrapolation (NaN with one point: no change). Public curves fell less far and less steadily
    # than our LoRA eval losses (design ids: cold-0 coverage 0.50 -> 0.75, benchmarks/results/verdict.md).
    own = np.clip(features[:, 1], -MAX_OWN_CHANGE, MAX_OWN_CHANGE)
    low, high = np.fmin(low, own), np.fmax(high, own)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        log_early = np.log(early)
        mean, lower, upper = np.exp(log_early + ratio), np.exp(log_early + low), np.exp(log_early + high)
    filled = fill_unobserved(curves, mean, lower, upper, mode=mode, at=at)
    return Prediction(filled.mean, filled.lower, filled.upper, predicted=True, basis=PRIOR_BASIS, finished_used=0)


def prior_raw(
    finished: Sequence[Curve], curves: Sequence[Curve], at: float, *, mode: Mode, prior: Prior | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """The prior's raw predictions of the finished runs (from their points up to `at`) and of `curves`;
    None where it does not apply."""
    study = [*finished, *curves]
    on_finished = prior_predict([c.upto(at) for c in finished], at, mode=mode, prior=prior, study=study)
    on_curves = prior_predict(curves, at, mode=mode, prior=prior, study=study)
    if on_finished is None or on_curves is None:
        return None
    return on_finished.mean, on_curves.mean


def recentre(
    raw: tuple[np.ndarray, np.ndarray],
    finished: Sequence[Curve],
    curves: Sequence[Curve],
    at: float,
    *,
    mode: Mode,
    deviations: np.ndarray | None = None,
) -> Prediction:
    """`prior_raw`'s predictions of `curves` moved by the prior's median error on the finished runs, with
    a conformal interval from those errors (`deviations`: see `calibration.conformal_band`)."""
    on_finished, on_curves = raw
    residuals = np.array([final_value(c) for c in finished]) - on_finished
    # Centred: the conformal band measures each error from the median of the others (`conformal_band`),
    # the honest error of a shift learned without the run.
    return calibrated(
        curves,
        on_curves + np.median(residuals),
        residuals - np.median(residuals),
        at=at,
        mode=mode,
        basis=predicted_basis("a prior learned from public curves, recentred", len(finished)),
        recenter=False,
        deviations=deviations,
    )


def prior_recentred(
    finished: Sequence[Curve],
    curves: Sequence[Curve],
    at: float,
    *,
    mode: Mode,
    prior: Prior | None = None,
    deviations: np.ndarray | None = None,
) -> tuple[Prediction, np.ndarray] | None:
    """With >= 3 finished runs: the prior's predictions moved by its median error on them, with a
    conformal interval from those errors (the prior never saw these runs, so they are out of
    sample: `recentre`); and its raw predictions of the finished runs, to weigh it against other rules."""
    raw = prior_raw(finished, curves, at, mode=mode, prior=prior)
    if raw is None:
        return None
    return recentre(raw, finished, curves, at, mode=mode, deviations=deviations), raw[0]


def prior_shifted(
    finished: Sequence[Curve],
    curves: Sequence[Curve],
    at: float,
    *,
    mode: Mode,
    prior: Prior | None = None,
    prior_runs: float = PRIOR_RUNS,
) -> Prediction | None:
    """With 1-2 finished runs: the prior moved toward their own change after `at`; None where the
    prior does not apply.

    A run's log error = its study's offset from the public curves + its own noise; k finished runs
    measure the offset, so every prediction moves by k / (k + `prior_runs`) of their mean log error
    (the prior's centre weighs as much as `prior_runs` runs; shrunk, as two runs are a noisy measure).
    The band keeps its shape and width around the moved centre: narrowing it as a random-effects model
    would (x sqrt((1 + 1 / (prior_runs + k)) / (1 + 1 / prior_runs))) cut the cold-2 coverage of the
    LoRA eval loss design ids from 0.79 to 0.72 (benchmarks/results/verdict.md).
    """
    study = [*finished, *curves]
    on_finished = prior_predict([c.upto(at) for c in finished], at, mode=mode, prior=prior, study=study)
    on_curves = prior_predict(curves, at, mode=mode, prior=prior, study=study)
    if on_finished is None or on_curves is None:
        return None
    finals = np.array([final_value(c) for c in finished], dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        errors = np.log(finals) - np.log(on_finished.mean)
    errors = errors[np.isfinite(errors)]
    if not len(errors):
        return on_curves
    k = len(errors)
    move = np.exp(shrunk_log_move(errors, prior_runs))  # a ratio: the ranking is unchanged
    mean, lower, upper = on_curves.mean * move, on_curves.lower * move, on_curves.upper * move
    runs = "run's" if k == 1 else "runs'"
    basis = f"predicted by a prior learned from public curves, moved toward {k} finished {runs} own change"
    return Prediction(mean, lower, upper, predicted=True, basis=basis, finished_used=k)


def shrunk_log_move(errors: np.ndarray, prior_runs: float = PRIOR_RUNS) -> float:
    """`prior_shifted`'s move in log space: k / (k + `prior_runs`) of the k finished runs' mean log error."""
    return len(errors) / (len(errors) + prior_runs) * float(np.mean(errors))


def prior_agrees(
    finished: Sequence[Curve],
    at: float,
    *,
    mode: Mode,
    prior: Prior | None = None,
    curves: Sequence[Curve] = (),
) -> bool:
    """Whether every finished run's final lies inside the prior's 80% band for it (a check the prior
    can fail: then the study is not like the public curves and the early score is safer); `curves`: the
    study's judged runs, which pick the model with the finished ones (`prior_predict`'s `study`)."""
    study = [*finished, *curves]
    prediction = prior_predict([c.upto(at) for c in finished], at, mode=mode, prior=prior, study=study)
    if prediction is None:
        return False
    finals = np.array([final_value(c) for c in finished])
    return bool(((finals >= prediction.lower) & (finals <= prediction.upper)).all())


class PriorPredictor(Predictor):
    """The prior alone (`prior_predict`), whatever the finished runs; ranks by the early score where
    the prior does not apply."""

    name = "prior"

    def predict(self, curves: Sequence[Curve], at: float = 0.2) -> Prediction:
        at = check_at(at)
        prediction = prior_predict(curves, at, mode=self.mode)
        return prediction if prediction is not None else early_ranking(curves, at, mode=self.mode, finished=0)
