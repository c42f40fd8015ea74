"""`learned`: learn from the study's finished runs how much a run still moves after `at`.

Target: ``final - snapshot`` (the residual over the last value seen), which is easier to learn
than the final itself, since the early value already explains most of it; taken on log values for a
loss with all values positive (a relative change), and winsorized so that a diverged run does not
steer the fit. Features: the early curve (last value, its fraction, the gain the `curve` ensemble
extrapolates from the slope), the other metrics the run reported up to `at` (`Curve.extras`: eval
loss, train loss) and the run's hyperparameters (numeric, log-scaled when they span a decade or
more; categorical one-hot).

Model: the mean of two regressions on the winsorized target. `_kernel_ridge`: kernel ridge with Gaussian
(RBF) kernels, alone and plus a linear kernel, each feature weighted by its rank correlation with the
target (`relevance`); every (kernel, penalty) candidate is scored by its exact leave-one-out error from one
eigendecomposition per kernel and the candidates are averaged by those errors (pseudo-BMA).
`_gaussian_process`: a GP (RBF with a length scale per feature, plus linear) whose scales and variances
maximize the marginal likelihood under a prior on the length scales (round 13). Fit + predict on ~50
runs takes some 50 ms. The interval is split-conformal on the mean's exact leave-one-out residuals
(`calibration`). With fewer than `min_finished` finished runs it falls back to `snapshot` (the early
score moved by the finished runs' median change; below 3 runs, the early score alone).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from foretune.keys import Mode
from foretune.predictors import _gaussian_process, _kernel_ridge
from foretune.predictors._base import (
    Curve,
    Prediction,
    Predictor,
    check_at,
    final_value,
    observed,
    sign,
    snapshot_values,
)
from foretune.predictors._curve import extrapolate
from foretune.predictors._kernel_ridge import limit_blas_threads
from foretune.predictors._snapshot import SnapshotPredictor
from foretune.predictors.calibration import calibrated, predicted_basis
from foretune.predictors.metric_copies import common_names, distinct_metrics, repeated_losses


def curve_features(curves: Sequence[Curve], at: float, *, mode: Mode) -> np.ndarray:
    """(last value, its fraction, extrapolated gain) per curve; NaN rows for curves with no point."""
    s = sign(mode)
    out = np.full((len(curves), 3), np.nan)
    for i, curve in enumerate(curves):
        x, y = observed(curve, at)
        if len(y):
            gain, _ = extrapolate(x, s * y)
            out[i] = (y[-1], x[-1], s * gain)
    return out


class ParamEncoder:
    """Turns hyperparameter mappings into a numeric matrix, learned on the training runs.

    Numbers that are all positive and span a decade or more are log-scaled (learning rates,
    batch sizes); anything else non-numeric (strings, bools) is one-hot encoded. Keys missing
    from a run, or categories never seen in training, encode as all-zero / the training mean.
    """

    def __init__(self, *, max_categories: int = 20) -> None:
        self.max_categories = max_categories
        self.numeric: dict[str, bool] = {}  # name -> log-scaled
        self.categories: dict[str, list[str]] = {}

    def fit(self, params: Sequence[Mapping[str, object]]) -> ParamEncoder:
        keys = sorted({k for p in params for k in p})
        for key in keys:
            present = [p[key] for p in params if p.get(key) is not None]
            numbers = [_as_number(v) for v in present]
            if present and all(n is not None for n in numbers):
                finite = np.array([n for n in numbers if np.isfinite(n)], dtype=float)
                if len(finite) and np.ptp(finite) > 0:
                    self.numeric[key] = bool(finite.min() > 0 and finite.max() / finite.min() >= 10)
            else:
                levels = sorted({str(v) for v in present})
                if 1 < len(levels) <= self.max_categories:
                    self.categories[key] = levels
        return self

    def transform(self, params: Sequence[Mapping[str, object]]) -> np.ndarray:
        columns = []
        for key, log in self.numeric.items():
            col = np.array([_as_number(p.get(key)) for p in params], dtype=float)
            if log:
                col = np.log(np.where(col > 0, col, np.nan))
            columns.append(col)
        for key, levels in self.categories.items():
            for level in levels:
                columns.append(np.array([float(str(p.get(key)) == level) for p in params]))
        return np.column_stack(columns) if columns else np.zeros((len(params), 0))


def _as_number(value: object) -> float | None:
    """The value as a float, or None for anything categorical (bools count as categorical)."""
    if isinstance(value, (bool, np.bool_)):
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


@dataclass
class _Standardizer:
    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray) -> _Standardizer:
        with warnings.catch_warnings():  # a column no run reports (all NaN) is expected: it is dropped below
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(X, axis=0) if len(X) else np.zeros(X.shape[1])
            scale = np.nanstd(X, axis=0) if len(X) else np.ones(X.shape[1])
        mean = np.where(np.isfinite(mean), mean, 0.0)
        scale = np.where(np.isfinite(scale) & (scale > 1e-12), scale, np.inf)  # constant columns vanish
        return cls(mean, scale)

    def transform(self, X: np.ndarray) -> np.ndarray:
        Z = (X - self.mean) / self.scale
        return np.where(np.isfinite(Z), Z, 0.0)  # missing -> the training mean


def extra_names(curves: Sequence[Curve], *, distinct: bool = True) -> list[str]:
    """The extra metrics every one of `curves` reports (a metric only some runs have cannot be learned), each
    quantity once (`distinct_metrics`) unless `distinct` is False: decide that on finished runs, whose whole curves
    tell a copy from a loss that agrees with another at a judged run's one or two points (rounded logs)."""
    common = common_names(curves)
    return distinct_metrics(curves, common) if distinct else common


def extra_features(curves: Sequence[Curve], at: float, names: Sequence[str]) -> np.ndarray:
    """The last finite value at fraction <= `at` of each extra metric (NaN: not reported yet)."""
    out = np.full((len(curves), len(names)), np.nan)
    for i, curve in enumerate(curves):
        seen = curve.fractions <= at + 1e-9
        for j, name in enumerate(names):
            series = curve.extras.get(name)
            if series is not None:
                finite = series[seen & np.isfinite(series)]
                if len(finite):
                    out[i, j] = finite[-1]
    return out


def _positive(column: np.ndarray) -> bool:
    finite = column[np.isfinite(column)]
    return bool(len(finite)) and bool((finite > 0).all())


def design(
    train: Sequence[Curve], curves: Sequence[Curve], at: float, *, mode: Mode, use_params: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standardized features of `train` and `curves`, and the target of `train` (final - early).

    Features: the early curve, the extra metrics (`Curve.extras`: eval loss, train loss, ... at
    <= `at`, log-scaled when positive) and the hyperparameters. The encoding and scaling are
    learned from the training runs' inputs only (never their finals).
    """
    encoder = ParamEncoder().fit([c.params for c in train]) if use_params else None
    extras = extra_names(train)
    logged = [name for name in extras if _positive(extra_features(train, at, [name]))]

    def features(runs: Sequence[Curve]) -> np.ndarray:
        X = curve_features(runs, at, mode=mode)
        if extras:
            E = extra_features(runs, at, extras)
            for j, name in enumerate(extras):
                if name in logged:
                    with np.errstate(divide="ignore", invalid="ignore"):
                        E[:, j] = np.log(E[:, j])
            X = np.hstack([X, E])
        if encoder is not None:
            X = np.hstack([X, encoder.transform([c.params for c in runs])])
        return X

    X_train = features(train)
    target = np.array([final_value(c) for c in train]) - X_train[:, 0]
    scaler = _Standardizer.fit(X_train)
    return scaler.transform(X_train), scaler.transform(features(curves)), target


def fit_predict_residual(A: np.ndarray, target: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mean of two models' residual predictions for B and of their leave-one-out predictions on A:
    kernel ridge with heuristic feature weights (`_kernel_ridge`) and a Gaussian process that learns a
    length scale per feature (`_gaussian_process`). The plain mean ranked better than either alone and than
    the two blended by leave-one-out error (warm Spearman of `auto`, round 13, kernel ridge / GP -> mean:
    vlm 5-7 epochs 0.955 / 0.960 -> 0.964, llm 0.933 / 0.936 -> 0.939; `verdict.md`)."""
    ridge, ridge_loo = _kernel_ridge.fit_predict_residual(A, target, B)
    gp, gp_loo = _gaussian_process.fit_predict_residual(A, target, B)
    return (ridge + gp) / 2, (ridge_loo + gp_loo) / 2


def _log_curves(curves: Sequence[Curve], copies: set[str]) -> list[Curve]:
    """`curves` on log values, less the extras in `copies` (`repeated_losses`): on the log scale a copy of the
    objective (its perplexity) no longer reads as one."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return [
            replace(c, values=np.log(c.values), extras={k: v for k, v in c.extras.items() if k not in copies})
            for c in curves
        ]


def _all_positive(curves: Sequence[Curve]) -> bool:
    return all(bool((c.values[np.isfinite(c.values)] > 0).all()) for c in curves)


class LearnedPredictor(Predictor):
    """RBF kernel ridge on early-curve features + hyperparameters, fit on the study's finished runs.

    Args:
        mode: "max" if larger values are better (accuracy), "min" if smaller are (loss).
        min_finished: below this many finished runs (with a point before `at`), fall back to `snapshot`.
        use_params: learn from the runs' hyperparameters (`Curve.params`) as well as their curves.
        target: "log" learns log(final / early), the relative change (losses shrink in proportion);
            "difference" learns final - early; "auto" is "log" for mode "min" when every value is
            positive, else "difference" (a score such as an accuracy).
    """

    name = "learned"

    def __init__(
        self,
        *,
        mode: Mode = "max",
        min_finished: int = 8,
        use_params: bool = True,
        target: Literal["auto", "log", "difference"] = "auto",
    ) -> None:
        super().__init__(mode=mode)
        if int(min_finished) < 3:
            raise ValueError(f"min_finished must be >= 3, got {min_finished}")
        if target not in ("auto", "log", "difference"):
            raise ValueError(f"target must be 'auto', 'log' or 'difference', got {target!r}")
        self.min_finished = int(min_finished)
        self.use_params = bool(use_params)
        self.target = target
        self._finished: list[Curve] = []
        self._fallback = SnapshotPredictor(mode=mode)
        self._out_of_sample: dict[tuple[float, int], tuple[np.ndarray, np.ndarray]] = {}  # same fit, same answer

    def fit(self, curves: Sequence[Curve]) -> LearnedPredictor:
        self._finished = [c for c in curves if np.isfinite(final_value(c))]
        self._fallback.fit(self._finished)
        self._out_of_sample = {}
        return self

    def trainable(self, at: float) -> list[Curve]:
        """The finished runs it can learn from at `at` (those with a finite point before it)."""
        return [c for c in self._finished if len(observed(c, at)[1])]

    def _space(self, curves: Sequence[Curve], train: Sequence[Curve]):
        """The curves in the space the model learns in, and the map back to values."""
        # "auto": a loss shrinks in proportion, so its relative change; a score (mode "max") rises from
        # near its floor, where a relative change is noise: an accuracy of 0.05 vs 0.10 on 12 products is a
        # factor of 2 (the LoRA design ids' warm Spearman of `learned`: 0.851 log, 0.904 difference).
        use_log = self.target == "log" or (
            self.target == "auto" and self.mode == "min" and _all_positive([*train, *curves])
        )
        if use_log:
            if not _all_positive([*train, *curves]):
                raise ValueError("target='log' needs positive values; use target='difference'")
            copies = set(repeated_losses(train))  # decided on the finished runs: a judged run's few points may agree
            return _log_curves(curves, copies), _log_curves(train, copies), np.exp
        return list(curves), list(train), lambda v: v

    def predict(self, curves: Sequence[Curve], at: float = 0.2) -> Prediction:
        at = check_at(at)
        train = self.trainable(at)
        if len(train) < self.min_finished:
            return self._fallback.predict(curves, at)
        space_curves, space_train, back = self._space(curves, train)
        A, B, target = design(space_train, space_curves, at, mode=self.mode, use_params=self.use_params)
        with limit_blas_threads():
            residual, loo = fit_predict_residual(A, target, B)
        # Conformal on the exact leave-one-out errors, in the space the model learns in.
        return calibrated(
            curves,
            snapshot_values(space_curves, at) + residual,
            target - loo,
            at=at,
            mode=self.mode,
            basis=predicted_basis(self.name, len(train)),
            recenter=False,
            back=back,
        )

    def out_of_sample(self, at: float, *, max_refits: int = 40) -> tuple[np.ndarray, np.ndarray]:
        """(finals, predictions) of the trainable finished runs, each predicted by a model refit
        without it (its own kernel and penalty selection included): leave-one-out up to
        `max_refits` runs, beyond that `max_refits`-fold (the cost grows with refits x runs^3)."""
        at = check_at(at)
        if (at, max_refits) in self._out_of_sample:  # a search judges many trials between two finished runs
            return self._out_of_sample[at, max_refits]
        train = self.trainable(at)
        finals = np.array([final_value(c) for c in train])
        _, space_train, back = self._space([], train)
        A, _, target = design(space_train, [], at, mode=self.mode, use_params=self.use_params)
        early = snapshot_values(space_train, at)
        residual = np.empty(len(train))
        # Folds by position modulo k: deterministic, and leave-one-out when k >= n.
        fold = np.arange(len(train)) % max(1, min(max_refits, len(train)))
        with limit_blas_threads():
            for f in np.unique(fold):
                held = fold == f
                residual[held] = fit_predict_residual(A[~held], target[~held], A[held])[0]
        with np.errstate(over="ignore", invalid="ignore"):
            self._out_of_sample[at, max_refits] = finals, back(early + residual)
        return self._out_of_sample[at, max_refits]
