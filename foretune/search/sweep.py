"""Data-saturation sweep: train on nested subsets of growing size n and find where gains flatten.

The sweep is written against a plain callable, ``train_and_score(n, seed) -> metrics``, so the
logic (which sizes to run, when to stop) is tested with cheap functions and benchmarked on recorded
curves; `lora_train_and_score` is the real one (a LoRA fine-tune on the first n training products,
scored on the held-out test split; n = 0 scores the pretrained model).

Adaptive mode does not run the whole grid: it measures the smallest sizes the saturation model
needs, then repeatedly picks the size whose measurement is expected to shrink the uncertainty of
the target (minimum useful n by default) the most per unit of compute, and stops when the target's
interval is tight (hi / lo <= `tight_ratio`) or the grid is used up. With an `EarlyCut`, a run whose
final score the early-stage predictor already knows within its tolerance is stopped there
(`foretune.search.early_cut`): the point is marked `predicted` and costs the fraction it trained.

How "expected to shrink" is computed: the bootstrap replicates of the current fit give, for each
candidate size c, a predicted score F_b(c) and a target T_b. Under a linear-Gaussian reading
(an ensemble Kalman update) a measurement at c with noise variance s^2 reduces Var(log T) by
Cov(F(c), log T)^2 / (Var F(c) + s^2); we divide by the cost of measuring c.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from foretune.errors import ForetuneError
from foretune.predictors.saturation import SaturationModel, SaturationResult
from foretune.search.early_cut import EarlyCut
from foretune.trainers.reporters import Reporter

Target = Literal["min_useful_n", "min_sufficient_n"]


class TrainAndScore(Protocol):
    def __call__(self, n: int, seed: int, reporter: Reporter | None = None, /) -> Mapping[str, float]:
        """Train on the first n samples with `seed` and return the held-out scores.

        `reporter` (passed only when the sweep cuts runs early) receives the validation curve;
        when it says stop, return the held-out scores of the model as it stands.
        """


# --- sizes ---------------------------------------------------------------------------------------


def geometric_sizes(available: int, *, start: int = 50, factor: float = 2.0) -> list[int]:
    """0, start, start*factor, ... up to (and always including) `available`."""
    if available < 1:
        raise ForetuneError(f"no training data to sweep over (available = {available})")
    sizes = [0]
    n = float(min(start, available))
    while n < available:
        sizes.append(int(round(n)))
        n *= factor
    sizes.append(int(available))
    return sorted(set(sizes))


def parse_sizes(text: str, *, available: int) -> list[int]:
    """'0,50,100' -> [0, 50, 100]; each a non-negative integer no larger than `available`."""
    sizes = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            value = float(part)
        except ValueError:
            raise ForetuneError(f"--sizes: '{part}' is not a number; give integers, e.g. --sizes 0,50,100,200") from None
        if value < 0 or value != int(value):
            raise ForetuneError(f"--sizes: {part} is not a non-negative integer sample count")
        if value > available:
            raise ForetuneError(
                f"--sizes: {int(value)} is larger than the {available} training products available; "
                f"use sizes up to {available} or more data"
            )
        sizes.append(int(value))
    if not sizes:
        raise ForetuneError("--sizes: no sizes given; e.g. --sizes 0,50,100,200,400")
    return sorted(set(sizes))


# --- records -------------------------------------------------------------------------------------


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


# --- the adaptive rule (pure) --------------------------------------------------------------------


def target_values(result: SaturationResult, target: Target) -> np.ndarray:
    return result.replicate_estimates(target)


def interval_ratio(result: SaturationResult, target: Target) -> float:
    """hi / lo of the target's noise-only (bootstrap) interval (inf when an end is beyond the horizon).

    The sweep can shrink measurement noise by measuring; the calibrated extrapolation error it
    handles by measuring close to the answer (see `_settled`), so the noise band decides here.
    """
    lo, hi = getattr(result, f"{target}_noise_interval")
    if lo is None or hi is None or lo <= 0:
        return math.inf
    return hi / lo


def expected_reduction(result: SaturationResult, candidates: Sequence[int], *, target: Target, noise: float) -> np.ndarray:
    """Expected drop in Var(log target) from measuring each candidate size (ensemble Kalman gain)."""
    values = target_values(result, target)
    horizon = result.horizon
    log_t = np.log(np.clip(np.where(np.isfinite(values), values, horizon), 1.0, horizon))
    candidates = np.asarray([c for c in candidates], dtype=float)
    reduction = np.zeros(len(candidates))
    if len(log_t) < 3 or np.var(log_t) == 0:
        return reduction
    positive = candidates > 0
    if not positive.any():
        return reduction
    curves = result.replicate_curves(candidates[positive])  # (replicates, candidates)
    cov = ((curves - curves.mean(0)) * (log_t - log_t.mean())[:, None]).mean(0)
    reduction[positive] = cov**2 / (curves.var(0) + noise**2 + 1e-18)
    return reduction


def next_size(
    result: SaturationResult,
    candidates: Sequence[int],
    *,
    target: Target,
    noise: float,
    cost: Callable[[int], float],
) -> int | None:
    """The candidate with the largest expected variance reduction per unit of compute."""
    candidates = [c for c in candidates if c > 0]
    if not candidates:
        return None
    gain = expected_reduction(result, candidates, target=target, noise=noise)
    if not np.any(gain > 0):
        return max(candidates)  # no signal: the largest size says the most about the plateau
    per_cost = gain / np.array([max(cost(c), 1e-12) for c in candidates])
    return int(candidates[int(np.argmax(per_cost))])


# --- the sweep -----------------------------------------------------------------------------------


class SaturationSweep:
    """Runs `train_and_score(n, seed)` over a grid of sizes, adaptively or in full, and fits the curve.

    `metric` names the score in the returned metrics; `attribute_prefix` (``acc/``) selects
    per-attribute scores that get their own saturation fit (attributes with fewer than
    `min_attribute_labels` test labels, read from ``labels/<name>`` when the runs report it, are
    listed as rare instead: a curve through one or two labels says nothing). `cost(n)` is the compute of one run at
    size n (default: n, plus one unit so n = 0 is not free). `early_cut` stops runs whose final score
    the early-stage predictor already knows (None: every run trains its whole budget); `bounds` is
    the metric's range (e.g. (0, 1) for accuracy): it caps the fitted asymptote and clips predicted scores.
    """

    def __init__(
        self,
        train_and_score: TrainAndScore,
        *,
        sizes: Sequence[int],
        repeats: int = 1,
        metric: str = "accuracy",
        mode: Literal["max", "min"] = "max",
        epsilon: float = 0.01,
        adaptive: bool = True,
        target: Target = "min_useful_n",
        tight_ratio: float = 1.5,
        max_extrapolation: float = 4.0,
        max_n: int | None = None,
        cost: Callable[[int], float] | None = None,
        n_bootstrap: int = 100,
        attribute_prefix: str | None = "acc/",
        min_attribute_labels: int = 5,
        seed: int = 0,
        on_point: Callable[[SweepPoint], None] | None = None,
        early_cut: EarlyCut | None = None,
        bounds: tuple[float, float] | None = None,
    ) -> None:
        sizes = sorted(set(int(s) for s in sizes))
        if not sizes or sizes[0] < 0:
            raise ValueError(f"sizes must be non-negative integers, got {sizes}")
        if repeats < 1:
            raise ValueError(f"repeats must be >= 1, got {repeats}")
        if target not in ("min_useful_n", "min_sufficient_n"):
            raise ValueError(f"target must be 'min_useful_n' or 'min_sufficient_n', got {target!r}")
        if tight_ratio <= 1:
            raise ValueError(f"tight_ratio must be > 1, got {tight_ratio}")
        self.train_and_score = train_and_score
        self.sizes = sizes
        self.repeats = int(repeats)
        self.metric = metric
        self.mode = mode
        self.adaptive = adaptive
        self.target: Target = target
        self.tight_ratio = float(tight_ratio)
        if max_extrapolation < 1:
            raise ValueError(f"max_extrapolation must be >= 1, got {max_extrapolation}")
        self.max_extrapolation = float(max_extrapolation)
        self.max_n = max_n if max_n is not None else max(sizes)
        self.cost = cost or (lambda n: float(n) + 1.0)
        self.attribute_prefix = attribute_prefix
        self.min_attribute_labels = int(min_attribute_labels)
        self.seed = seed
        self.on_point = on_point
        self.early_cut = early_cut
        self.bounds = bounds
        self.model = SaturationModel(mode=mode, epsilon=epsilon, n_bootstrap=n_bootstrap, seed=seed, bounds=bounds)
        positive = [s for s in sizes if s > 0]
        if len(positive) < self.model.min_points:
            raise ForetuneError(
                f"the sweep needs at least {self.model.min_points} sizes above 0 to fit a curve, got "
                f"{len(positive)} ({', '.join(map(str, sizes))}); add sizes, e.g. a geometric grid 50,100,200,..."
            )

    def _measure(self, n: int, points: list[SweepPoint], result: SaturationResult | None = None) -> None:
        # No cut before the curve is fitted: a whole run's distance from it caps the cut's tolerance.
        cutting = self.early_cut is not None and n > 0
        noise = self._noise(points, result) * math.sqrt(self.repeats) if cutting and result is not None else 0.0
        for r in range(self.repeats):
            seed = self.seed + r
            started = time.perf_counter()
            watch = self.early_cut.watch(noise=noise) if cutting else None
            metrics = dict(self.train_and_score(n, seed) if watch is None else self.train_and_score(n, seed, watch))
            if self.metric not in metrics:
                raise ForetuneError(
                    f"the runs report no metric '{self.metric}' (they report: {', '.join(sorted(metrics))}); "
                    "set search.metric to one of them"
                )
            score, cost, fraction = float(metrics[self.metric]), self.cost(n), 1.0
            cut = watch.cut if watch is not None else None
            if watch is not None:
                self.early_cut.done(watch)
            if cut is not None:
                metrics[f"{self.metric}_when_cut"] = score
                score += cut.remaining_gain
                if self.bounds is not None:
                    score = float(np.clip(score, *self.bounds))
                # Per-attribute scores of a cut run are not final; the attribute fits use whole runs.
                if self.attribute_prefix:
                    metrics = {k: v for k, v in metrics.items() if not k.startswith(self.attribute_prefix)}
                fraction, cost = cut.fraction, cost * cut.fraction
            point = SweepPoint(
                n=n, seed=seed, score=score, metrics=metrics, cost=cost,
                seconds=time.perf_counter() - started, fraction=fraction, predicted=cut is not None,
            )
            points.append(point)
            if self.on_point is not None:
                self.on_point(point)

    def fit(self, points: Sequence[SweepPoint]) -> SaturationResult | None:
        measured = {p.n for p in points if p.n > 0}
        if len(measured) < self.model.min_points:
            return None
        return self.model.fit([p.n for p in points], [p.score for p in points], max_n=self.max_n)

    def _noise(self, points: Sequence[SweepPoint], result: SaturationResult) -> float:
        """Noise of one size's mean score: from the residuals around the fit."""
        residuals = np.array([p.score for p in points if p.n > 0]) - result.predict([p.n for p in points if p.n > 0])
        return float(np.sqrt(np.mean(residuals**2)) / math.sqrt(self.repeats)) if len(residuals) else 0.0

    def _settled(self, result: SaturationResult, measured: set[int]) -> bool:
        """Tight interval, and not read from too far beyond the largest measured size.

        The bootstrap sees measurement noise, not the error of extrapolating a curve family
        (on LCDB it is overconfident far out), so the sweep also measures up to within
        `max_extrapolation` x of where the answer lies (the target's upper end, or max_n).
        """
        if interval_ratio(result, self.target) > self.tight_ratio:
            return False
        hi = getattr(result, f"{self.target}_noise_interval")[1]
        reach = min(hi if hi is not None else math.inf, self.max_n, max(self.sizes))
        return max(measured) * self.max_extrapolation >= reach

    def run(self) -> SweepResult:
        points: list[SweepPoint] = []
        measured: set[int] = set()
        positive = [s for s in self.sizes if s > 0]
        if self.adaptive:
            # The zero-shot baseline is cheap; then the smallest sizes the model needs.
            first = ([0] if 0 in self.sizes else []) + positive[: self.model.min_points]
        else:
            first = list(self.sizes)
        result = None
        for n in first:
            self._measure(n, points, result)
            measured.add(n)
            if self.early_cut is not None:
                result = self.fit(points)  # the next run's cut needs the noise around the curve so far
        if self.early_cut is None:
            result = self.fit(points)  # with cuts, the loop's last fit is already this one
        reason = "full grid measured"
        while self.adaptive:
            remaining = [s for s in positive if s not in measured]
            if result is not None and self._settled(result, measured):
                reason = f"{self.target} interval tight (hi/lo <= {self.tight_ratio:g})"
                break
            if not remaining:
                reason = "grid used up (every size measured)"
                break
            n = next_size(result, remaining, target=self.target, noise=self._noise(points, result), cost=self.cost)
            self._measure(n, points, result)
            measured.add(n)
            result = self.fit(points)
        attributes, rare = self._attribute_fits(points)
        spent = sum(p.cost for p in points)
        full = sum(self.cost(n) for n in self.sizes) * self.repeats
        return SweepResult(
            points=points,
            saturation=result,
            sizes=list(self.sizes),
            repeats=self.repeats,
            cost_spent=spent,
            cost_full_grid=full,
            stopped_because=reason,
            attributes=attributes,
            rare_attributes=rare,
        )

    def _attribute_fits(self, points: Sequence[SweepPoint]) -> tuple[dict[str, SaturationResult], list[str]]:
        """Per-attribute saturation fits, and the attributes too rare in the test split to fit."""
        if not self.attribute_prefix:
            return {}, []
        names = sorted({k for p in points for k in p.metrics if k.startswith(self.attribute_prefix)})
        fits, rare = {}, []
        model = SaturationModel(mode=self.mode, epsilon=self.model.epsilon, n_bootstrap=min(self.model.n_bootstrap, 30),
                                seed=self.seed, bounds=self.bounds)
        for name in names:
            attribute = name.removeprefix(self.attribute_prefix)
            labels = [p.metrics[f"labels/{attribute}"] for p in points if f"labels/{attribute}" in p.metrics]
            if labels and max(labels) < self.min_attribute_labels:
                rare.append(attribute)
                continue
            pairs = [(p.n, p.metrics[name]) for p in points if name in p.metrics and np.isfinite(p.metrics[name])]
            if len({n for n, _ in pairs if n > 0}) < model.min_points:
                continue
            try:
                fits[attribute] = model.fit(*zip(*pairs), max_n=self.max_n)
            except ForetuneError:
                continue  # an attribute too sparse to fit is left out of the per-attribute table
        return fits, rare


# --- the real trainer ----------------------------------------------------------------------------


def lora_train_and_score(config, splits=None) -> tuple[TrainAndScore, Callable[[int], float], int]:
    """(train_and_score, cost, available) for LoRA fine-tunes of `config` on nested subsets.

    One loaded dataset is shared by every run; the score is the held-out test split's metrics
    (generated answers), the same test products for every n. n = 0 scores the pretrained model.
    """
    from foretune.trainers.data import load_splits
    from foretune.trainers.lora import LoraTrainer

    splits = splits if splits is not None else load_splits(config.data, offline=config.model.offline)
    available = len(splits.train)

    def train_and_score(n: int, seed: int, reporter=None) -> dict[str, float]:
        run_config = config.with_overrides({"train.seed": seed}, where="sweep")
        trainer = LoraTrainer(run_config, splits=splits, train_size=n)
        if n == 0:
            return trainer.evaluate_zero_shot(split="test")
        # Scored on the test split whether it ran its budget or a reporter cut it short.
        trainer.fit(reporter, evaluate_test=False)
        return trainer.evaluate_test()

    def cost(n: int) -> float:
        # Optimizer steps x batch (examples processed), plus one test evaluation for every run.
        if n == 0:
            return float(config.train.batch_size)
        trainer = LoraTrainer(config, splits=splits, train_size=n)
        return float(trainer.total_steps * config.train.batch_size + config.train.batch_size)

    return train_and_score, cost, available


# --- outputs -------------------------------------------------------------------------------------


def record_in_study(points: Sequence[SweepPoint], storage_path: Path, *, study_name: str, mode: str, max_n: int) -> None:
    """Each run becomes a finished trial (param and user attr n_samples) in a journal-file study."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = JournalStorage(JournalFileBackend(str(storage_path)))
    study = optuna.create_study(
        study_name=study_name, storage=storage, direction="maximize" if mode == "max" else "minimize", load_if_exists=True
    )
    distribution = optuna.distributions.IntDistribution(0, max(max_n, 1))
    for point in points:
        study.add_trial(
            optuna.trial.create_trial(
                value=point.score,
                params={"n_samples": point.n},
                distributions={"n_samples": distribution},
                user_attrs={"n_samples": point.n, "seed": point.seed, "seconds": round(point.seconds, 3),
                            "predicted": point.predicted, "budget_fraction": point.fraction,
                            **{k: v for k, v in point.metrics.items() if isinstance(v, (int, float))}},
            )
        )


def points_frame(points: Sequence[SweepPoint]):
    import pandas as pd

    return pd.DataFrame(
        [{"n": p.n, "seed": p.seed, "value": p.score, "predicted": p.predicted, "fraction": p.fraction,
          "seconds": round(p.seconds, 3), "cost": p.cost, **p.metrics}
         for p in points]
    )


def markdown_table(result: SweepResult) -> str:
    frame = points_frame(result.points)
    by_n = frame.groupby("n")["value"].agg(["mean", "std", "count"]).reset_index()
    sat = result.saturation
    lines = ["| n | mean score | std | runs | fitted | gain per doubling |", "|---|---|---|---|---|---|"]
    for row in by_n.itertuples():
        fitted = gain = "-"
        if sat is not None and row.n > 0:
            fitted = f"{float(sat.predict([row.n])[0]):.4f}"
            gain = f"{float(sat.gain_per_doubling([row.n])[0]):+.4f}"
        std = "-" if not np.isfinite(row.std) else f"{row.std:.4f}"
        lines.append(f"| {row.n} | {row.mean:.4f} | {std} | {row.count} | {fitted} | {gain} |")
    if sat is not None:
        s = sat.to_dict()
        lo, hi = s["asymptote_interval"]
        lines += [
            "",
            f"- asymptote: {s['asymptote']:.4f} (interval [{lo:.4f}, {hi:.4f}])",
            f"- minimum useful n: {s['min_useful_n']} (interval {s['min_useful_n_interval']})"
            + (" — extrapolated beyond the measured sizes" if s["extrapolated"] else ""),
            f"- minimum sufficient n (of max n = {s['max_n']}): {s['min_sufficient_n']} "
            f"(interval {s['min_sufficient_n_interval']})",
            f"- compute: {result.cost_spent:g} of the full grid's {result.cost_full_grid:g} "
            f"({result.compute_fraction:.0%}); stopped: {result.stopped_because}",
            f"- runs cut short by the early-stage predictor: {result.cut_short} of {len(result.points)}",
        ]
    if result.attributes:
        lines += ["", "| attribute | min useful n | interval | gain per doubling at the largest n |", "|---|---|---|---|"]
        for name, fit in sorted(result.attributes.items(), key=lambda kv: -(kv[1].min_useful_n or math.inf)):
            d = fit.to_dict()
            lines.append(
                f"| {name} | {d['min_useful_n'] if d['min_useful_n'] is not None else 'beyond horizon'} | "
                f"{d['min_useful_n_interval']} | {float(fit.gain_per_doubling([fit.n[-1]])[0]):+.4f} |"
            )
        late = result.late_attributes()
        lines += ["", f"Late-saturating attributes: {', '.join(late) if late else 'none'}"]
    if result.rare_attributes:
        lines += ["", f"Too few test labels for a curve of their own: {', '.join(result.rare_attributes)}"]
    return "\n".join(lines) + "\n"


def plot(result: SweepResult, path: Path, *, metric: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = points_frame(result.points)
    positive = frame[frame["n"] > 0]
    whole, cut = positive[~positive["predicted"]], positive[positive["predicted"]]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.scatter(whole["n"], whole["value"], s=18, color="black", zorder=3, label="runs")
    if len(cut):
        ax.scatter(cut["n"], cut["value"], s=22, facecolors="none", edgecolors="black", zorder=3,
                   label="runs cut early (predicted final)")
    sat = result.saturation
    if sat is not None:
        grid = np.geomspace(max(sat.n[0] / 2, 1), max(sat.max_n, sat.n[-1]) * 2, 200)
        lo, hi = sat.predict_interval(grid)
        ax.fill_between(grid, lo, hi, alpha=0.25, label=f"{sat.interval:.0%} interval")
        ax.plot(grid, sat.predict(grid), label="fitted curve")
        ax.axhline(sat.asymptote, ls=":", color="gray", label="asymptote")
        if sat.min_useful_n is not None and sat.min_useful_n < grid[-1]:
            ax.axvline(sat.min_useful_n, ls="--", color="tab:red", label=f"min useful n ~ {sat.min_useful_n:,.0f}")
        ax.axvline(sat.min_sufficient_n, ls="--", color="tab:green", label=f"min sufficient n ~ {sat.min_sufficient_n:,.0f}")
        if sat.baseline is not None:
            ax.axhline(sat.baseline, ls="-.", color="tab:orange", label="n = 0 (zero-shot)")
    ax.set_xscale("log")
    ax.set_xlabel("training samples n (log scale)")
    ax.set_ylabel(metric)
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def summary(result: SweepResult) -> dict[str, Any]:
    out: dict[str, Any] = result.saturation.to_dict() if result.saturation is not None else {}
    out.update(
        {
            "sizes": result.sizes,
            "measured_sizes": sorted({p.n for p in result.points}),
            "repeats": result.repeats,
            "cost_spent": result.cost_spent,
            "cost_full_grid": result.cost_full_grid,
            "compute_fraction": result.compute_fraction,
            "stopped_because": result.stopped_because,
            "cut_short": result.cut_short,
            "seconds": round(sum(p.seconds for p in result.points), 1),
            "attributes": {name: {k: v for k, v in fit.to_dict().items() if k != "points"}
                           for name, fit in result.attributes.items()},
            "late_attributes": result.late_attributes(),
            "rare_attributes": result.rare_attributes,
        }
    )
    return out


def write_outputs(result: SweepResult, out: Path, *, metric: str, study_name: str, mode: str) -> dict[str, Path]:
    """points.csv, table.md, saturation.png, summary.json and the study journal in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "points": out / "points.csv",
        "table": out / "table.md",
        "plot": out / "saturation.png",
        "summary": out / "summary.json",
        "study": out / "study.journal",
    }
    points_frame(result.points).to_csv(paths["points"], index=False)
    paths["table"].write_text(markdown_table(result))
    plot(result, paths["plot"], metric=metric)
    paths["summary"].write_text(json.dumps(summary(result), indent=2))
    record_in_study(result.points, paths["study"], study_name=study_name, mode=mode, max_n=max(result.sizes))
    return paths
