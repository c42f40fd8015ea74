"""`SaturationResult`: what a saturation fit says, in the user's units, and the curve it fitted."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from foretune.keys import REGIME_KEY, Mode, SaturationRegime
from foretune.predictors.saturation.ensemble import Ensemble


@dataclass(frozen=True)
class SaturationResult:
    """What the fit says about data saturation; scores are in the user's units (not negated)."""

    mode: Mode
    epsilon: float
    interval: float
    max_n: float
    n: np.ndarray  # distinct measured sizes (n > 0), increasing
    mean: np.ndarray  # mean score at each of them
    count: np.ndarray  # measurements at each of them
    baseline: float | None  # mean score at n = 0 (zero-shot), when measured
    asymptote: float
    asymptote_interval: tuple[float, float]
    min_useful_n: float | None
    min_useful_n_interval: tuple[float | None, float | None]
    min_sufficient_n: float
    min_sufficient_n_interval: tuple[float, float]
    score_at_max_n: float
    family_weights: dict[str, float]
    horizon: float
    n_bootstrap: int
    set_aside: tuple[float, ...]  # sizes whose points lay far off the robust fit and were left out
    regime: SaturationRegime  # "still rising", "bent", "flat" or "ill-behaved: not monotone"
    # The factor the LCDB-learned correction applied to the read-off minimum sufficient n (1: none).
    min_sufficient_n_correction: float
    # The bootstrap-only bands (measurement noise only); the *_interval fields above also include
    # the extrapolation error learned on LCDB when the model is `calibrated`.
    min_useful_n_noise_interval: tuple[float | None, float | None]
    min_sufficient_n_noise_interval: tuple[float | None, float | None]
    _ensemble: Ensemble = field(repr=False)
    _replicates: tuple[Ensemble, ...] = field(repr=False)
    _n_ref: float = field(repr=False)
    # Per bootstrap replicate: (asymptote, min useful n, min sufficient n); inf = beyond horizon.
    _replicate_estimates: np.ndarray = field(repr=False, default_factory=lambda: np.empty((0, 3)))
    bounds: tuple[float | None, float | None] | None = None  # the metric's range: predictions stay in it

    @property
    def extrapolated(self) -> bool:
        """True when the minimum useful n lies beyond the largest measured n (or was not reached)."""
        return self.min_useful_n is None or self.min_useful_n > self.n[-1]

    @property
    def asymptote_capped(self) -> bool:
        """True when the asymptote sits on the metric's best score (`bounds`): the fit would level off past
        it, so the points do not show where the curve levels off, only that it is not below the bound."""
        if self.bounds is None:
            return False
        best = self.bounds[1] if self.mode == "max" else self.bounds[0]
        return best is not None and abs(self.asymptote - best) <= 1e-6 * max(1.0, abs(best))

    @property
    def min_sufficient_n_extrapolated(self) -> bool:
        return self.min_sufficient_n > self.n[-1]

    def _sign(self) -> float:
        return 1.0 if self.mode == "max" else -1.0

    def _clip(self, values: np.ndarray) -> np.ndarray:
        if self.bounds is None:
            return values
        low, high = self.bounds
        return np.clip(values, -np.inf if low is None else low, np.inf if high is None else high)

    def predict(self, n: Any) -> np.ndarray:
        """Predicted score at sizes `n` (> 0)."""
        x = np.asarray(n, dtype=float) / self._n_ref
        return self._clip(self._sign() * self._ensemble(x))

    def predict_interval(self, n: Any) -> tuple[np.ndarray, np.ndarray]:
        """Central `interval` band of the predicted score at sizes `n`, from the bootstrap."""
        x = np.asarray(n, dtype=float) / self._n_ref
        if not self._replicates:
            value = self.predict(n)
            return value, value
        curves = self._clip(self._sign() * np.array([r(x) for r in self._replicates]))
        alpha = (1 - self.interval) / 2
        lower, upper = np.quantile(curves, alpha, axis=0), np.quantile(curves, 1 - alpha, axis=0)
        point = self.predict(n)  # held inside its band, as the asymptote is (see `SaturationModel.fit`)
        return np.minimum(lower, point), np.maximum(upper, point)

    def replicate_curves(self, n: Any) -> np.ndarray:
        """Predicted score at sizes `n` under each bootstrap replicate: shape (replicates, len(n))."""
        x = np.atleast_1d(np.asarray(n, dtype=float)) / self._n_ref
        curves = self._sign() * np.array([r(x) for r in self._replicates]).reshape(len(self._replicates), len(x))
        return self._clip(curves)

    def replicate_estimates(self, which: Literal["min_useful_n", "min_sufficient_n", "asymptote"]) -> np.ndarray:
        """`which` under each bootstrap replicate (inf where the minimum useful n is beyond the horizon)."""
        column = {"asymptote": 0, "min_useful_n": 1, "min_sufficient_n": 2}[which]
        values = self._replicate_estimates[:, column].copy()
        return self._sign() * values if column == 0 else values

    def gain_per_doubling(self, n: Any = None) -> np.ndarray:
        """Improvement F(2n) - F(n) in the user's direction (positive = better), at `n` (default: measured n)."""
        n = self.n if n is None else np.asarray(n, dtype=float)
        return self._sign() * (self.predict(2 * n) - self.predict(n))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""

        def num(v):
            return None if v is None or not np.isfinite(v) else float(v)

        def size(v):
            return None if v is None or not np.isfinite(v) else int(np.ceil(v - 1e-9))

        gains = self.gain_per_doubling()
        bootstrapped = self.n_bootstrap > 0  # else the bands are the point repeated: no interval was computed
        return {
            "mode": self.mode,
            "epsilon": self.epsilon,
            "interval": self.interval,
            "max_n": size(self.max_n),
            "asymptote": num(self.asymptote),
            "n_bootstrap": self.n_bootstrap,
            "asymptote_interval": [num(v) if bootstrapped else None for v in self.asymptote_interval],
            "asymptote_capped": bool(self.asymptote_capped),
            "bounds": None if self.bounds is None else [num(v) for v in self.bounds],
            "min_useful_n": size(self.min_useful_n),
            "min_useful_n_interval": [size(v) for v in self.min_useful_n_interval],
            "min_sufficient_n": size(self.min_sufficient_n),
            "min_sufficient_n_interval": [size(v) for v in self.min_sufficient_n_interval],
            "min_useful_n_noise_interval": [
                size(v) if bootstrapped else None for v in self.min_useful_n_noise_interval
            ],
            "min_sufficient_n_noise_interval": [
                size(v) if bootstrapped else None for v in self.min_sufficient_n_noise_interval
            ],
            "extrapolated": bool(self.extrapolated),
            "min_sufficient_n_extrapolated": bool(self.min_sufficient_n_extrapolated),
            REGIME_KEY: self.regime,
            "min_sufficient_n_correction": round(self.min_sufficient_n_correction, 4),
            "score_at_max_n": num(self.score_at_max_n),
            "baseline": num(self.baseline),
            "horizon": num(self.horizon),
            "family_weights": {k: round(v, 4) for k, v in self.family_weights.items()},
            "set_aside_n": [int(v) for v in self.set_aside],
            "points": [
                {"n": int(n), "mean": float(m), "count": int(c), "fitted": float(f), "gain_per_doubling": float(g)}
                for n, m, c, f, g in zip(self.n, self.mean, self.count, self.predict(self.n), gains, strict=True)
            ],
        }
