"""The saturation sweep: train on nested subsets of growing size n and find where gains flatten.

The sweep is written against a plain callable, ``train_and_score(n, seed) -> metrics``, so the
logic (which sizes to run, when to stop) is tested with cheap functions and benchmarked on recorded
curves; `foretune.search.sweep.lora.lora_train_and_score` is the real one (a LoRA fine-tune on the
first n training products, scored on the held-out test split; n = 0 scores the pretrained model).

Adaptive mode picks each next size by the rule in `foretune.search.sweep.adaptive`. With an
`EarlyCut`, a run whose final score the early-stage predictor already knows within its tolerance
is stopped there (`foretune.search.sweep.early_cut`): the point is marked `predicted` and costs
the fraction it trained.

Runs go in rounds: each round hands every (size, seed) it chose to a runner at once (`runs.run_here`
one after another, or `ray_runs.RayRunner` side by side as Ray tasks); `slots` says how many fit side
by side, and the adaptive choice picks that many runs' worth of sizes per round.

Resuming: `recorded` runs (an earlier session's, from the sweep's study: `foretune.search.sweep.study`) are
not run again; each round takes them in its order, so a sweep resumed with the same settings makes the
same choices as one never stopped. `on_run` hears of each run as it ends, before its round is over;
`on_round` of each round's runs as they start.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import numpy as np

from foretune.errors import ForetuneError
from foretune.keys import SWEEP_TARGETS, Mode, SweepTarget
from foretune.predictors.calibration import MetricRange, bounds_among
from foretune.predictors.saturation import SaturationModel, SaturationResult
from foretune.search.sweep.adaptive import interval_ratio, next_sizes
from foretune.search.sweep.early_cut import EarlyCut, EarlyCutReporter
from foretune.search.sweep.results import SweepPoint, SweepResult, interruption_reason
from foretune.search.sweep.runs import RunFailed, RunJob, Runner, RunOutcome, run_here
from foretune.trainers.reporters import Reporter


class TrainAndScore(Protocol):
    def __call__(self, n: int, seed: int, reporter: Reporter | None = None, /) -> Mapping[str, float]:
        """Train on the first n samples with `seed` and return the held-out scores.

        `reporter` (passed only when the sweep cuts runs early) receives the validation curve;
        when it says stop, return the held-out scores of the model as it stands.
        """


# --- the sweep -----------------------------------------------------------------------------------


class SaturationSweep:
    """Runs `train_and_score(n, seed)` over a grid of sizes, adaptively or in full, and fits the curve.

    `metric` names the score in the returned metrics; `attribute_prefix` (``acc/``) selects
    per-attribute scores that get their own saturation fit (attributes with fewer than
    `min_attribute_labels` test labels, read from ``labels/<name>`` when the runs report it, are
    listed as rare instead: a curve through one or two labels says nothing). `cost(n)` is the compute of one run at
    size n (default: n, plus one unit so n = 0 is not free). `early_cut` stops runs whose final score
    the early-stage predictor already knows (None: every run trains its whole budget); `bounds` is
    the metric's range (e.g. (0, 1) for accuracy, or a `calibration.ReadRange` reading it from the scores): it caps
    the fitted asymptote and clips predicted scores.
    """

    def __init__(
        self,
        train_and_score: TrainAndScore,
        *,
        sizes: Sequence[int],
        repeats: int = 1,
        metric: str = "accuracy",
        mode: Mode = "max",
        epsilon: float = 0.01,
        adaptive: bool = True,
        target: SweepTarget = "min_useful_n",
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
        bounds: MetricRange = None,
        runner: Runner | None = None,
        slots: int | None = None,
        recorded: Sequence[SweepPoint] = (),
        on_run: Callable[[SweepPoint], None] | None = None,
        on_round: Callable[[Sequence[RunJob]], None] | None = None,
    ) -> None:
        sizes = sorted(set(int(s) for s in sizes))
        if not sizes or sizes[0] < 0:
            raise ValueError(f"sizes must be non-negative integers, got {sizes}")
        if repeats < 1:
            raise ValueError(f"repeats must be >= 1, got {repeats}")
        if target not in SWEEP_TARGETS:
            raise ValueError(f"target must be 'min_useful_n' or 'min_sufficient_n', got {target!r}")
        if tight_ratio <= 1:
            raise ValueError(f"tight_ratio must be > 1, got {tight_ratio}")
        self.train_and_score = train_and_score
        self.sizes = sizes
        self.repeats = int(repeats)
        self.metric = metric
        self.mode = mode
        self.adaptive = adaptive
        self.target: SweepTarget = target
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
        if slots is not None and slots < 1:
            raise ValueError(f"slots must be >= 1, got {slots}")
        self.runner = runner or run_here
        self.slots = slots
        self.recorded = list(recorded)
        self.on_run = on_run
        self.on_round = on_round
        self._unused: dict[tuple[int, int], SweepPoint] = {}  # the recorded runs no round has taken yet
        self.model = SaturationModel(mode=mode, epsilon=epsilon, n_bootstrap=n_bootstrap, seed=seed, bounds=bounds)
        positive = [s for s in sizes if s > 0]
        if len(positive) < self.model.min_points:
            listed = f" ({', '.join(map(str, positive))})" if positive else ""
            raise ForetuneError(
                f"the sweep needs at least {self.model.min_points} sizes above 0 to fit a curve, got "
                f"{len(positive)}{listed}; add sizes, e.g. a geometric grid 50,100,200,..."
            )

    def _measure(self, sizes: Sequence[int], points: list[SweepPoint], result: SaturationResult | None = None) -> None:
        """One round: every size x seed not recorded goes to the runner at once (side by side where it can); the
        round's points are read back in order, also when a stop ends it (then without the runs that did not end)."""
        wanted = [(n, self.seed + r) for n in sizes for r in range(self.repeats)]
        to_run = [(n, seed) for n, seed in wanted if (n, seed) not in self._unused]
        jobs = [RunJob(n, seed, self._reporter(n, points, result)) for n, seed in to_run]
        ended: dict[tuple[int, int], SweepPoint] = {}

        def on_done(index: int, outcome: RunOutcome) -> None:
            point = self._point(jobs[index], outcome)
            ended[point.n, point.seed] = point
            if self.on_run is not None:
                self.on_run(point)

        if jobs and self.on_round is not None:
            self.on_round(jobs)
        try:
            self.runner(self.train_and_score, jobs, on_done)
        finally:
            for key in wanted:
                point = self._unused.pop(key, None) or ended.get(key)
                if point is None:
                    continue  # stopped before it ended
                points.append(point)
                if self.early_cut is not None:
                    self.early_cut.learn(point.curve, cut=point.predicted)
                if self.on_point is not None:
                    self.on_point(point)

    def _reporter(
        self, n: int, points: Sequence[SweepPoint], result: SaturationResult | None
    ) -> EarlyCutReporter | None:
        """The early cut of a run of size n, fitted on the runs finished so far (it travels with the run)."""
        if self.early_cut is None or n == 0:
            return None
        # No cut before the curve is fitted: a whole run's distance from it caps the cut's tolerance.
        noise = self._noise(points, result) * math.sqrt(self.repeats) if result is not None else 0.0
        return self.early_cut.reporter(noise=noise)

    def _point(self, job: RunJob, outcome: RunOutcome) -> SweepPoint:
        metrics = dict(outcome.metrics)
        if self.metric not in metrics:
            raise ForetuneError(
                f"the runs report no metric '{self.metric}' (they report: {', '.join(sorted(metrics))}); "
                "set search.metric to one of them"
            )
        score, cost, fraction = float(metrics[self.metric]), self.cost(job.n), 1.0
        reporter = outcome.reporter  # the run's own copy, with its curve and its cut
        cut = reporter.cut if reporter is not None else None
        if cut is not None:
            metrics[f"{self.metric}_when_cut"] = score
            score += cut.remaining_gain
            # The range read from this run's own curve where it is read (a metric_fn's accuracy in percent).
            bounds = bounds_among(self.bounds, np.array(reporter.values))
            if bounds is not None:
                score = float(np.clip(score, *bounds))
            # Per-attribute scores of a cut run are not final; the attribute fits use whole runs.
            if self.attribute_prefix:
                metrics = {k: v for k, v in metrics.items() if not k.startswith(self.attribute_prefix)}
            fraction, cost = cut.fraction, cost * cut.fraction
        return SweepPoint(
            n=job.n,
            seed=job.seed,
            score=score,
            metrics=metrics,
            cost=cost,
            seconds=outcome.seconds,
            fraction=fraction,
            predicted=cut is not None,
            curve=tuple(zip(reporter.fractions, reporter.values, strict=True)) if reporter is not None else (),
        )

    def fit(self, points: Sequence[SweepPoint]) -> SaturationResult | None:
        measured = {p.n for p in points if p.n > 0}
        if len(measured) < self.model.min_points:
            return None
        return self.model.fit([p.n for p in points], [p.score for p in points], max_n=self.max_n).result

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
        stop_signal = failure = None
        self._unused = {}
        for point in self.recorded:
            self._unused.setdefault((point.n, point.seed), point)  # the first of a (size, seed) counts
        try:
            result, reason = self._rounds(points)
        except KeyboardInterrupt as stop:  # the runs that finished are the sweep's result (hours of them, maybe)
            # SIGTERM arrives as KeyboardInterrupt("SIGTERM") (foretune.cli.stop_signals.sigterm_as_ctrl_c), or bare
            # where Ray's ray.get raised its own: the caller then says so (`SweepResult.stopped_by`)
            stop_signal = str(stop.args[0]) if stop.args else "SIGINT"
            reason, result = None, None
        except RunFailed as error:  # a Ray task's error or a dead node: the runs that ended are kept, as above
            failure = reason = str(error)  # the table reads "stopped: the run n=... failed: ..."
            result = None
        if self._unused or stop_signal is not None or failure is not None:
            # Recorded runs at sizes or seeds no round chose (the settings changed since) are measurements all the same.
            points.extend(self._unused.values())
            self._unused.clear()
            result = self.fit(points)
        if stop_signal is not None:
            reason = interruption_reason(stop_signal, len(points))
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
            stop_signal=stop_signal,
            failure=failure,
        )

    def _rounds(self, points: list[SweepPoint]) -> tuple[SaturationResult | None, str]:
        """Measure round after round into `points`: the first sizes, then (adaptive) the most informative
        next ones until the answer settles; the last fit and why the sweep stopped."""
        measured: set[int] = set()
        positive = [s for s in self.sizes if s > 0]
        if self.adaptive:
            # The zero-shot baseline is cheap; then the smallest sizes the model needs.
            first = ([0] if 0 in self.sizes else []) + positive[: self.model.min_points]
        else:
            first = list(self.sizes)
        result = None
        # Sizes per round: as many runs as fit side by side (a Ray runner counts them once Ray is up).
        slots = self.slots if self.slots is not None else getattr(self.runner, "slots", 1)
        per_round = max(1, slots // self.repeats)
        for start in range(0, len(first), per_round):
            batch = first[start : start + per_round]
            self._measure(batch, points, result)
            measured.update(batch)
            if self.early_cut is not None:
                result = self.fit(points)  # the next run's cut needs the noise around the curve so far
        if self.early_cut is None:
            result = self.fit(points)  # with cuts, the loop's last fit is already this one
        reason = "full grid measured"
        while self.adaptive:
            remaining = [s for s in positive if s not in measured]
            if result is not None and self._settled(result, measured):
                # Say which interval was tight: the printed one adds LCDB's extrapolation error.
                lo, hi = getattr(result, f"{self.target}_noise_interval")
                reason = (
                    f"{self.target} measurement-noise interval [{lo:,.0f}, {hi:,.0f}] tight "
                    f"(hi/lo {hi / lo:.2f} <= {self.tight_ratio:g}); the reported interval adds the extrapolation error"
                )
                break
            if not remaining:
                reason = "grid used up (every size measured)"
                break
            noise = self._noise(points, result)
            batch = next_sizes(result, remaining, count=per_round, target=self.target, noise=noise, cost=self.cost)
            self._measure(batch, points, result)
            measured.update(batch)
            result = self.fit(points)
        return result, reason

    def _attribute_fits(self, points: Sequence[SweepPoint]) -> tuple[dict[str, SaturationResult], list[str]]:
        """Per-attribute saturation fits, and the attributes too rare in the test split to fit."""
        if not self.attribute_prefix:
            return {}, []
        names = sorted({k for p in points for k in p.metrics if k.startswith(self.attribute_prefix)})
        fits, rare = {}, []
        model = SaturationModel(
            mode=self.mode,
            epsilon=self.model.epsilon,
            n_bootstrap=min(self.model.n_bootstrap, 30),
            seed=self.seed,
            bounds=self.bounds,
        )
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
                fits[attribute] = model.fit(*zip(*pairs, strict=True), max_n=self.max_n).result
            except ForetuneError:
                continue  # an attribute too sparse to fit is left out of the per-attribute table
        return fits, rare
