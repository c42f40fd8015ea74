"""`learned`: learn from the study's finished runs how much a run still moves after `at`.

Target: ``final - snapshot`` (the residual over the last value seen), which is easier to learn
than the final itself, since the early value already explains most of it; taken on log values for a
loss with all values positive (a relative change), and winsorized so that a diverged run does not
steer the fit. Features: the early curve (last value, its fraction, the gain the `curve` ensemble
extrapolates from the slope), the other metrics the run reported up to `at` (`Curve.extras`: eval
loss, train loss) and the run's hyperparameters (numeric, log-scaled when they span a decade or
more; categorical one-hot).

Model: kernel ridge regression with Gaussian (RBF) kernels, alone and plus a linear kernel (the
posterior mean of a Gaussian process) on the winsorized target, each feature weighted by its rank
correlation with the target (`relevance`, a cheap stand-in for a GP's per-feature length scales: on
the scan-bench design pools it raised the warm Spearman of `auto` by 0.002-0.006). Every (kernel,
penalty) candidate is scored by its exact leave-one-out error, computed in closed form from one
eigendecomposition per kernel, and the candidates are averaged by those errors (pseudo-BMA), so fit +
predict on ~50 runs takes milliseconds. The interval is split-conformal on the leave-one-out
residuals (`calibration`). With fewer than `min_finished` finished runs it falls back to `snapshot`
(the early score moved by the finished runs' median change; below 3 runs, the early score alone).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import linalg

from foretune.keys import MAD_TO_STD, Mode
from foretune.predictors import metrics
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
from foretune.predictors._snapshot import SnapshotPredictor
from foretune.predictors.calibration import calibrated, predicted_basis

_ALPHAS = np.logspace(-3, 3, 13)
MIN_RELEVANCE_RUNS = 5  # below this, rank correlations are noise: every feature weighs the same


def limit_blas_threads():
    """One BLAS thread for our small matrices, if `threadpoolctl` is installed (optional).

    OpenBLAS spreads even a 100 x 100 eigendecomposition over every core; on a busy machine that
    makes it 10-100x slower than one thread. Without threadpoolctl this is a no-op.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


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
        mean = np.nanmean(X, axis=0) if len(X) else np.zeros(X.shape[1])
        scale = np.nanstd(X, axis=0) if len(X) else np.ones(X.shape[1])
        mean = np.where(np.isfinite(mean), mean, 0.0)
        scale = np.where(np.isfinite(scale) & (scale > 1e-12), scale, np.inf)  # constant columns vanish
        return cls(mean, scale)

    def transform(self, X: np.ndarray) -> np.ndarray:
        Z = (X - self.mean) / self.scale
        return np.where(np.isfinite(Z), Z, 0.0)  # missing -> the training mean


def _kernels(A: np.ndarray, B: np.ndarray) -> dict[str, np.ndarray]:
    """Candidate kernels between standardized feature rows: Gaussian (RBF) kernels of a few
    length scales, in units of the feature dimension, alone and plus a linear kernel. Like a GP's
    posterior mean, an RBF model falls back to the average residual far from the training runs; the
    linear part carries a trend on to a run beyond them (a study's best run often is: on the LoRA
    accuracy design ids warm Spearman of `learned` 0.904 → 0.918, eval loss 0.961 → 0.964, scan-bench
    design pools -0.001 / 0.000). Linear and quadratic kernels alone ranked worse during development."""
    d = max(A.shape[1], 1)
    sq = (A**2).sum(1)[:, None] + (B**2).sum(1)[None, :] - 2 * A @ B.T
    sq = np.maximum(sq, 0.0) / d
    rbf = {f"rbf{length:g}": np.exp(-sq / (2 * length**2)) for length in (0.5, 1.0, 2.0)}
    linear = A @ B.T / d
    return {**rbf, **{f"{name}+linear": K + linear for name, K in rbf.items()}}


def _loo_candidates(
    kernels: dict[str, np.ndarray], y: np.ndarray, B_kernels: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (kernel, alpha) candidate's predictions for the rows of `B_kernels`, its exact leave-one-out
    predictions on `y` and its leave-one-out mean squared error (columns: candidates)."""
    yc = y - y.mean()
    n = len(y)
    predictions, loos, errors = [], [], []
    for name, K in kernels.items():
        # scipy's divide-and-conquer driver: numpy's eigh pays OpenBLAS threading overhead that
        # makes small matrices ~10x slower on a busy machine.
        lam, V = linalg.eigh(K, driver="evd", check_finite=False)
        lam = np.maximum(lam, 0.0)
        Vy = V.T @ yc
        for alpha in _ALPHAS:
            shrink = lam / (lam + alpha)
            fitted = V @ (shrink * Vy)
            h = (V**2) @ shrink
            # Exact LOO for kernel ridge, plus the 1/n the held-out point adds to the mean.
            loo = (yc - fitted) / np.maximum(1.0 - h - 1.0 / n, 1e-6)
            predictions.append(y.mean() + B_kernels[name] @ (V @ (Vy / (lam + alpha))))
            loos.append(y - loo)
            errors.append(float(np.mean(loo**2)))
    return np.column_stack(predictions), np.column_stack(loos), np.array(errors)


def extra_names(curves: Sequence[Curve]) -> list[str]:
    """The extra metrics every one of `curves` reports (a metric only some runs have cannot be learned)."""
    if not curves:
        return []
    common = set(curves[0].extras)
    for curve in curves[1:]:
        common &= set(curve.extras)
    return sorted(common)


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


def winsorize(target: np.ndarray, *, width: float = 3.0) -> np.ndarray:
    """Clip to median +- `width` robust std (MAD): one diverged run must not steer the fit."""
    median = np.median(target)
    spread = MAD_TO_STD * np.median(np.abs(target - median))
    if spread <= 0:
        return target
    return np.clip(target, median - width * spread, median + width * spread)


def relevance(A: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Each feature column's weight in the kernel, in [0, 1]: the square root of its larger rank
    correlation with the target, directly or through its distance from the median (a learning rate
    that is best in the middle). An isotropic RBF kernel would otherwise give an irrelevant
    hyperparameter as much say as the early score in which runs count as near. Learned from the fit
    runs only, so leave-one-out refits relearn it."""
    weights = np.zeros(A.shape[1])
    if len(target) < MIN_RELEVANCE_RUNS or np.ptp(target) == 0:
        return np.ones(A.shape[1])
    for j, column in enumerate(A.T):
        if np.ptp(column) == 0:
            continue
        direct = metrics.spearman(column, target)
        bowl = metrics.spearman(np.abs(column - np.median(column)), target)
        weights[j] = np.sqrt(np.nanmax([abs(direct), abs(bowl), 0.0]))
    top = weights.max()
    return weights / top if top > 0 else np.ones(A.shape[1])


def fit_predict_residual(A: np.ndarray, target: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kernel ridge on the winsorized target, features weighted by `relevance`; returns predictions for
    B and the leave-one-out predictions on A. Rather than the one (kernel, penalty) with the least
    leave-one-out error, every candidate is averaged with pseudo-BMA weights (error^(-n/2), as `auto`
    blends its candidates): on the scan-bench design pools, warm Spearman +0.001 (vlm 5-7 epochs, llm)
    at unchanged coverage, and no knife-edge switch between two near-equal candidates."""
    target = winsorize(target)
    weights = relevance(A, target)
    A, B = A * weights, B * weights
    predictions, loos, errors = _loo_candidates(_kernels(A, A), target, _kernels(B, A))
    loglik = -0.5 * len(target) * np.log(np.maximum(errors, 1e-300))
    blend = np.exp(loglik - loglik.max())
    blend /= blend.sum()
    return predictions @ blend, loos @ blend


def _log_curves(curves: Sequence[Curve]) -> list[Curve]:
    with np.errstate(divide="ignore", invalid="ignore"):
        return [Curve(c.fractions, np.log(c.values), c.params, c.trial, c.extras) for c in curves]


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
            return _log_curves(curves), _log_curves(train), np.exp
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
