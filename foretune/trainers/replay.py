"""The replay trainer: recorded learning curves served as trials.

A trial's sampled hyperparameters pick the nearest recorded run (in normalized hyperparameter
space, over the searched parameters only); the trainer then reports that run's curve at the
config's `train.eval_fractions` through the same `fit(reporter)` protocol as the LoRA trainer.
The whole search stack can so be tested and benchmarked on recorded curves in seconds.

Sources: a long table in the format `foretune rank` reads (``trial, fraction, <metrics...>,
<hyperparameters...>``; `tests/data/replay_curves.csv` is one), or scan-bench's `vlm.csv`
(OpenCLIP runs, the 10-epoch runs that recorded every epoch). Metrics named ``test_*`` are the
held-out scores, given once at the end. Each report carries the replay's own wall-clock costs (`costs`, a
`WallClockMeter`: seconds x the devices the trial holds), as any trial does. No Ray or Optuna here.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from foretune.config import ExperimentConfig, ParamSpec
from foretune.errors import ForetuneError
from foretune.keys import FRACTION_KEY, STEP_KEY, TEST_ATTR_PREFIX
from foretune.predictors.io import read_table
from foretune.trainers.reporters import Decision, Reporter
from foretune.trainers.wall_clock import WallClockMeter

# train field -> (recorded column, scale used for distances and for the search space)
SCAN_BENCH_VLM_PARAMS: dict[str, tuple[str, str]] = {
    "learning_rate": ("lr", "log"),
    "weight_decay": ("wd", "log"),
    "warmup_ratio": ("warmup_fraction", "linear"),
    "batch_size": ("global_batch_size", "categorical"),
}
SCAN_BENCH_VLM_METRICS = ("val_loss", "train_loss", "test_loss")
SCALES = ("log", "linear", "categorical")


@dataclass(frozen=True)
class RecordedRun:
    run_id: str
    fractions: np.ndarray  # increasing, last == 1.0
    metrics: Mapping[str, np.ndarray]  # metric -> values at `fractions`
    params: Mapping[str, float]  # train field -> recorded value

    def at(self, metric: str, fraction: float) -> float:
        return float(np.interp(fraction, self.fractions, self.metrics[metric]))

    def final(self, metric: str) -> float:
        return float(self.metrics[metric][-1])


@dataclass
class ReplayBank:
    """Recorded runs and how their hyperparameters map onto `train` fields."""

    runs: list[RecordedRun]
    scales: dict[str, str]  # train field -> "log" | "linear" | "categorical"
    source: str = "recorded runs"
    reported_metrics: tuple[str, ...] = field(init=False)  # reported at each evaluation
    test_metrics: tuple[str, ...] = field(init=False)  # test_*: held out, given once at the end
    _matrix: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.runs:
            raise ValueError(f"{self.source}: no complete recorded runs")
        for name, scale in self.scales.items():
            if scale not in SCALES:
                raise ValueError(f"scale of {name} must be log, linear or categorical, got {scale!r}")
            self._matrix[name] = np.array([self._transform(name, r.params[name]) for r in self.runs])
        metrics = list(self.runs[0].metrics)
        self.reported_metrics = tuple(m for m in metrics if not m.startswith(TEST_ATTR_PREFIX))
        self.test_metrics = tuple(m for m in metrics if m.startswith(TEST_ATTR_PREFIX))

    @classmethod
    def from_scan_bench(cls, path: str | Path, *, total_epochs: int = 10) -> ReplayBank:
        """The runs of `vlm.csv` with `total_epochs` epochs that recorded every epoch."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"recorded curves not found: {path}")
        frame = pd.read_csv(path)
        frame = frame[frame["total_epochs"] == total_epochs]
        runs = []
        for config_id, rows in frame.groupby("config_id"):
            rows = rows.sort_values("epoch")
            if len(rows) != total_epochs or rows[list(SCAN_BENCH_VLM_METRICS)].isna().any().any():
                continue  # stopped or incomplete runs cannot be replayed to the end
            first = rows.iloc[0]
            runs.append(
                RecordedRun(
                    run_id=str(config_id),
                    fractions=rows["training_progress"].to_numpy(dtype=float),
                    metrics={m: rows[m].to_numpy(dtype=float) for m in SCAN_BENCH_VLM_METRICS},
                    params={k: float(first[col]) for k, (col, _) in SCAN_BENCH_VLM_PARAMS.items()},
                )
            )
        scales = {k: scale for k, (_, scale) in SCAN_BENCH_VLM_PARAMS.items()}
        return cls(runs, scales, source=str(path))

    @classmethod
    def from_long_table(
        cls,
        path: str | Path,
        *,
        trial_col: str = "trial",
        fraction_col: str = "fraction",
        scales: Mapping[str, str] | None = None,
    ) -> ReplayBank:
        """The runs of a long table (CSV or parquet), the format `foretune rank` reads.

        One row per evaluation: `trial_col`, `fraction_col` (in (0, 1], the last one 1.0 for a
        complete run) and the metric columns; numeric columns constant within every trial (other
        than ``test_*``, needed at the last row only) are the hyperparameters, named as the `train`
        fields they set (``learning_rate``, ``lora.r``). `scales` sets a hyperparameter's scale; by
        default one spanning two decades or more of positive values is "log", any other "linear".
        Runs that stop short of fraction 1 or miss a value are left out (they cannot be replayed).
        """
        frame = read_table(path)
        missing = [c for c in (trial_col, fraction_col) if c not in frame.columns]
        if missing:
            raise ForetuneError(
                f"{path} has no column {' or '.join(map(repr, missing))} "
                f"(columns: {', '.join(map(str, frame.columns))}); "
                "a long table needs one row per evaluation: trial, fraction, metrics, hyperparameters"
            )
        others = [c for c in frame.select_dtypes("number").columns if c not in (trial_col, fraction_col)]
        constant = frame.groupby(trial_col, sort=False)[others].nunique(dropna=False).le(1).all()
        params = [c for c in others if constant[c] and not c.startswith(TEST_ATTR_PREFIX)]
        metrics = [c for c in others if c not in params]
        if not metrics:
            raise ForetuneError(
                f"{path}: no metric column varies within a trial; record two or more evaluations per trial"
            )
        unknown = sorted(set(scales or {}) - set(params))
        if unknown:
            raise ForetuneError(
                f"{path}: scales name {', '.join(unknown)}, not hyperparameter columns ({', '.join(params)})"
            )
        runs = _complete_runs(frame, trial_col, fraction_col, metrics, params)
        chosen = {p: _default_scale(frame[p]) for p in params} | dict(scales or {})
        return cls(runs, {p: chosen[p] for p in params}, source=str(path))

    # --- the map from a sampled config to a recorded run ---------------------------------------

    def _transform(self, name: str, value: float) -> float:
        if self.scales[name] != "log":
            return float(value)
        floor = float(np.exp(self._matrix[name].min())) if name in self._matrix else 1e-300
        return math.log(max(float(value), floor))  # 0 (e.g. no weight decay) maps to the smallest recorded

    def nearest(self, params: Mapping[str, Any]) -> RecordedRun:
        """The recorded run closest to `params` (only the names this bank knows count)."""
        names = [n for n in params if n in self.scales]
        if not names:
            raise ValueError(f"none of {sorted(params)} is a replayed hyperparameter ({sorted(self.scales)})")
        distance = np.zeros(len(self.runs))
        for name in names:
            column = self._matrix[name]
            span = float(column.max() - column.min()) or 1.0
            value = self._transform(name, float(params[name]))
            if self.scales[name] == "categorical":
                distance += (column != value).astype(float)
            else:
                distance += ((column - value) / span) ** 2
        return self.runs[int(np.argmin(distance))]

    def space(self, names: Sequence[str] | None = None) -> dict[str, ParamSpec]:
        """A search space covering the recorded ranges (for benchmarks and tests)."""
        space = {}
        for name in names or list(self.scales):
            values = np.array([r.params[name] for r in self.runs])
            if self.scales[name] == "categorical":
                choices = sorted({int(v) if float(v).is_integer() else float(v) for v in values})
                space[name] = ParamSpec(type="categorical", choices=choices)
            elif all(float(v).is_integer() for v in values):  # a LoRA rank: a trial's config takes integers only
                kind = "log_int" if self.scales[name] == "log" else "int"
                space[name] = ParamSpec(type=kind, low=int(values.min()), high=int(values.max()))
            else:
                kind = "log_float" if self.scales[name] == "log" else "float"
                space[name] = ParamSpec(type=kind, low=float(values.min()), high=float(values.max()))
        return space

    def best_final(self, metric: str, *, mode: str = "min") -> float:
        finals = [r.final(metric) for r in self.runs]
        return min(finals) if mode == "min" else max(finals)

    def trainer_factory(self, **options: Any) -> functools.partial:
        """`config -> ReplayTrainer` with these options (picklable, for Ray)."""
        return functools.partial(ReplayTrainer, bank=self, **options)


@dataclass
class ReplayResult:
    metrics: dict[str, float]
    curve: pd.DataFrame
    run_id: str
    stopped_early: bool
    test_metrics: dict[str, float] | None = None


class ReplayTrainer:
    """Serves the recorded run nearest to the config's searched hyperparameters.

    `seconds_per_report` sleeps before each report (to make trials overlap like real ones);
    `fail_above` = {train field: threshold} raises after the first report when the trial's value is
    above the threshold (a real exception from inside a trial, for testing failure handling).
    """

    def __init__(
        self,
        config: ExperimentConfig,
        *,
        bank: ReplayBank,
        seconds_per_report: float = 0.0,
        fail_above: Mapping[str, float] | None = None,
    ) -> None:
        if seconds_per_report < 0:
            raise ValueError(f"seconds_per_report must be >= 0, got {seconds_per_report}")
        self.config = config
        self.bank = bank
        self.seconds_per_report = seconds_per_report
        self.fail_above = dict(fail_above or {})
        self.params = {name: _train_value(config, name) for name in config.search.space if name in bank.scales}
        self.run = bank.nearest(self.params)
        metric = config.search.metric
        if metric not in bank.reported_metrics:
            raise ValueError(f"search.metric={metric!r} is not replayed (replayed: {', '.join(bank.reported_metrics)})")
        self.total_steps = config.train.max_steps or 100
        self.costs = WallClockMeter.for_trial(config)  # a search's reporter reads it at each report

    def fit(self, reporter: Reporter | None = None) -> ReplayResult:
        self.costs.start()
        rows = []
        stopped = False
        for fraction in self.config.train.eval_fractions:
            if self.seconds_per_report:
                time.sleep(self.seconds_per_report)
            metrics = {m: self.run.at(m, fraction) for m in self.bank.reported_metrics}
            step = max(1, round(fraction * self.total_steps))
            rows.append({FRACTION_KEY: fraction, STEP_KEY: step, **metrics})
            decision = reporter.report(fraction, step, metrics) if reporter is not None else None
            for name, threshold in self.fail_above.items():
                value = _train_value(self.config, name)
                if value > threshold:
                    raise RuntimeError(f"replay: injected failure ({name}={value:g} > {threshold:g})")
            if decision == Decision.STOP:
                stopped = True
                break
        curve = pd.DataFrame(rows)
        last = curve.iloc[-1]
        metrics = {m: float(last[m]) for m in self.bank.reported_metrics}
        test = {m.removeprefix(TEST_ATTR_PREFIX): self.run.final(m) for m in self.bank.test_metrics}
        return ReplayResult(metrics, curve, self.run.run_id, stopped, None if stopped or not test else test)


def _train_value(config: ExperimentConfig, dotted: str) -> float:
    node: Any = config.train
    for part in dotted.split("."):
        node = getattr(node, part)
    return float(node)


def _default_scale(values: pd.Series) -> str:
    """ "log" for positive values spanning two decades or more (learning rates), else "linear"."""
    low, high = float(values.min()), float(values.max())
    return "log" if low > 0 and high / low >= 100 else "linear"


def _complete_runs(
    frame: pd.DataFrame, trial_col: str, fraction_col: str, metrics: list[str], params: list[str]
) -> list[RecordedRun]:
    """The trials of a long table that reach fraction 1 with every value (a test_* metric: at the end)."""
    every_row = [m for m in metrics if not m.startswith(TEST_ATTR_PREFIX)] + params
    runs = []
    for trial, rows in frame.groupby(trial_col, sort=False):
        rows = rows.sort_values(fraction_col)
        fractions = rows[fraction_col].to_numpy(dtype=float)
        if not np.isclose(fractions[-1], 1.0) or rows[every_row].isna().any().any():
            continue  # stopped or incomplete runs cannot be replayed to the end
        if rows[metrics].iloc[-1].isna().any():
            continue
        first = rows.iloc[0]
        runs.append(
            RecordedRun(
                run_id=str(trial),
                fractions=fractions,
                metrics={m: rows[m].to_numpy(dtype=float) for m in metrics},
                params={p: float(first[p]) for p in params},
            )
        )
    return runs
