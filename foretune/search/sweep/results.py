"""What a sweep measured: one `SweepPoint` per run, and the `SweepResult` of the whole sweep (its fit, its cost,
why it stopped, the per-attribute fits)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from foretune.predictors.saturation import SaturationResult


@dataclass(frozen=True)
class SweepPoint:
    """One run of the sweep: `score` is the chosen metric, `metrics` everything the run reported."""

    n: int
    seed: int
    score: float
    metrics: dict[str, float] = field(default_factory=dict)
    cost: float = 0.0
    seconds: float = 0.0
    fraction: float = 1.0  # of the training budget run; < 1 when cut early
    predicted: bool = False  # score = held-out score when cut + the gain the predictor still expected
    curve: tuple[tuple[float, float], ...] = ()  # (fraction, validation score) as the early cut saw them
    recorded: bool = False  # run by an earlier session of the sweep, read back from its study


def interruption_reason(stop_signal: str, runs: int) -> str:
    by = "SIGTERM" if stop_signal == "SIGTERM" else "Ctrl-C"
    return f"interrupted ({by}) after {runs} run(s)"


@dataclass
class SweepResult:
    points: list[SweepPoint]
    saturation: SaturationResult | None  # None when too few sizes were measured to fit
    sizes: list[int]  # the full grid
    repeats: int
    cost_spent: float
    cost_full_grid: float
    stopped_because: str
    attributes: dict[str, SaturationResult] = field(default_factory=dict)
    rare_attributes: list[str] = field(default_factory=list)  # too few test labels for a curve of their own
    stop_signal: str | None = None  # 'SIGINT' (Ctrl-C) or 'SIGTERM' stopped it: the runs finished until then
    failure: str | None = None  # a run failed, which stopped the sweep: which run, and why

    @property
    def interrupted(self) -> bool:
        return self.stop_signal is not None

    def stopped_by(self, stop_signal: str) -> SweepResult:
        """This interrupted result, stopped by `stop_signal` ('SIGINT' or 'SIGTERM')."""
        reason = interruption_reason(stop_signal, len(self.points))
        return dataclasses.replace(self, stop_signal=stop_signal, stopped_because=reason)

    @property
    def compute_fraction(self) -> float:
        return self.cost_spent / self.cost_full_grid if self.cost_full_grid > 0 else 1.0

    @property
    def cut_short(self) -> int:
        """Runs stopped early on the predictor's word."""
        return sum(p.predicted for p in self.points)

    def late_attributes(self) -> list[str]:
        """Attributes that saturate later than the overall score, latest first.

        Later = minimum useful n beyond 1.5x the overall one; when both lie beyond the horizon (the
        points have not bent yet), still gaining more per doubling at the largest n than the overall.
        """
        if self.saturation is None:
            return []
        overall = self.saturation.min_useful_n or math.inf
        overall_gain = float(self.saturation.gain_per_doubling([self.saturation.n[-1]])[0])
        late = []
        for name, fit in self.attributes.items():
            useful = fit.min_useful_n or math.inf
            gain = float(fit.gain_per_doubling([fit.n[-1]])[0])
            if useful > overall * 1.5 or (math.isinf(useful) and math.isinf(overall) and gain > overall_gain):
                late.append((useful, gain, name))
        return [name for _, _, name in sorted(late, reverse=True)]
