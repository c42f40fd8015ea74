"""Your own training function as a trial: `train_fn(params, reporter)` (`foretune.optimize`, `--trainable`).

The function runs any code (a transformers `Trainer` with `foretune.trainers.hf_callback.ReporterCallback`,
a plain PyTorch loop, ...) and calls `reporter.report(fraction, step, metrics)` at each evaluation; it
gets the trial's parameters under the names the search space gives them. Each report goes to Ray Tune,
so the function gets the same early-stage evaluator, storage, report and dashboard as `foretune search`.
When the scheduler stops the trial, Ray ends the trial's process and the searcher records it PRUNED with
the curve reported so far: the function needs no search-specific code. A function that returns before
fraction 1.0 (its own early stopping) is recorded PRUNED with its curve too. Each report carries the wall-clock
costs so far (`cost.train_seconds`, `cost.device_hours` over the devices the trial holds, `cost.usd` with a
price), so a cost objective or the cost/quality front counts your trials like the LoRA trainer's. A function
that gives its final's items (`reporter.final_items`) gets the report's validation-noise lines: their mean resampled
as the built-in trainer's items are.
"""

from __future__ import annotations

import importlib
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from foretune.config import ExperimentConfig
from foretune.errors import ForetuneError
from foretune.keys import FINAL_DRAWS_KEY, FINAL_ITEMS_KEY, FRACTION_KEY, NODE_KEY
from foretune.search.trainable import TuneReporter
from foretune.trainers.reporters import Decision, Reporter
from foretune.trainers.wall_clock import WallClockMeter

TrainFn = Callable[[dict[str, Any], Reporter], Any]

_HOW = "give 'package.module:function' (e.g. mytrain:train, run from the folder that holds mytrain.py)"


def trainable_name(train_fn: Callable[..., Any]) -> str:
    """'module:qualname' of a function: how the study's stored config names it."""
    module = getattr(train_fn, "__module__", None) or "__main__"
    return f"{module}:{getattr(train_fn, '__qualname__', type(train_fn).__name__)}"


def load_train_fn(path: str) -> TrainFn:
    """Import `package.module:function`; any failure is one ForetuneError that says what to fix."""
    where = f"search.trainable '{path}'"
    module_name, sep, attribute = path.partition(":")
    if not sep or not module_name.strip() or not attribute.strip():
        raise ForetuneError(f"{where}: {_HOW}")
    # Like `python -m`: a module beside the command imports (Ray's local workers get this folder too).
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        target: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and (module_name == error.name or module_name.startswith(error.name + ".")):
            raise ForetuneError(f"{where}: no module named '{error.name}'; {_HOW}") from None
        raise ForetuneError(f"{where}: importing {module_name} failed: {error}") from None
    except Exception as error:  # the user's module raised while importing: say what, not a traceback
        raise ForetuneError(f"{where}: importing {module_name} raised {type(error).__name__}: {error}") from None
    for part in attribute.split("."):
        target = getattr(target, part, None)
    if not callable(target):
        raise ForetuneError(f"{where}: {module_name} has no function '{attribute}'; {_HOW}")
    return target


class ReportMisuse(ForetuneError):
    """train_fn called the reporter wrongly (a fraction outside (0, 1] or not after the last one, a value that is not
    a number, no search metric, one outside a `search.metric_range` given by hand) or never, or the built-in trainer
    reported the search metric outside a `search.metric_range` given by hand: a mistake every trial repeats, so the
    search stops at the first one (`stop_on_misuse.StopOnReportMisuse`) instead of failing each trial after it
    trained to its first evaluation."""


def check_in_range(who: str, metric: str, value: float, fraction: float, metric_range) -> None:
    """A reported `metric` outside `search.metric_range` given by hand shows the range is not the metric's (clipped
    into it, predictions would be cut at its edge): the misuse that says so."""
    # Imported here: a trial's process stays without scipy.stats (the predictors' chain) unless a range is given.
    from foretune.predictors.calibration import outside_range, range_text

    if len(outside_range([value], metric_range)):
        raise ReportMisuse(
            f"{who} reported {metric}={value:g} at fraction {fraction:g}, outside search.metric_range "
            f"{range_text(metric_range)}; set search.metric_range to the metric's range (e.g. [0, 100] for "
            "a percentage), or auto to read it from the values"
        )


class RangeCheckedReporter(TuneReporter):
    """A `TuneReporter` (the built-in trainer's where `search.metric_range` was given by hand) whose reported search
    metric outside `metric_range` stops the search at the first trial (`check_in_range`); None: no range given."""

    who = "the trainer"  # who reported, as the misuse names it

    def __init__(self, metric: str, metric_range=None, costs: WallClockMeter | None = None) -> None:
        super().__init__(costs=costs)
        self.metric = metric
        self.metric_range = metric_range  # given by hand: a value outside it shows it is not the metric's range

    def report(self, fraction: float, step: int, metrics: Mapping[str, float]) -> Decision:
        value = metrics.get(self.metric)
        if value is not None and self.metric_range is not None:
            check_in_range(self.who, self.metric, float(value), float(fraction), self.metric_range)
        return super().report(fraction, step, metrics)


class FunctionReporter(RangeCheckedReporter):
    """A `TuneReporter` that checks each report of a user's function: a bad one fails the trial with a message."""

    who = "train_fn"

    def __init__(self, metric: str, metric_range=None, costs: WallClockMeter | None = None) -> None:
        super().__init__(metric, metric_range, costs=costs)
        self.final_values: dict[str, list[float]] = {}

    def final_items(self, metric: str, values: Sequence[float]) -> None:
        """Each validation item's `metric` at the final, whose mean is the final reported under `metric`, in one
        order of the items in every trial: the report resamples them to say how far the items' luck decides the
        finals' order (as it does the built-in trainer's). Call it once the final is known, before or after
        reporting fraction 1.0."""
        self.final_values[metric] = [
            _number(v, f"{metric} of item {i}", " in final_items") for i, v in enumerate(values)
        ]

    def report(self, fraction: float, step: int, metrics: Mapping[str, float]) -> Decision:
        fraction = _number(fraction, "fraction", "")
        for name, value in metrics.items():
            _number(value, name, f" at fraction {fraction:g}")
        if not 0 < fraction <= 1:
            percent = " (a percentage? report step / total_steps)" if 1 < fraction <= 100 else ""
            raise ReportMisuse(f"train_fn reported fraction={fraction:g}; a budget fraction is in (0, 1]{percent}")
        previous = self.last.get(FRACTION_KEY)
        if previous is not None and fraction <= previous:
            raise ReportMisuse(
                f"train_fn reported fraction={fraction:g} after {previous:g}; report the fraction of the "
                "budget done so far, growing with each report (the last one 1.0)"
            )
        if self.metric not in metrics:
            raise ReportMisuse(
                f"train_fn reported {', '.join(sorted(metrics)) or 'no metrics'} at fraction {fraction:g} "
                f"but not '{self.metric}', the search metric; report it at every evaluation (or change the metric)"
            )
        return super().report(fraction, step, metrics)  # and the range given by hand


def _number(value: object, name: str, where: str) -> float:
    """`value` as a float, or the misuse that names it (a None, a string, a list of values)."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ReportMisuse(
            f"train_fn reported {name}={value!r}{where}: not a number; report floats (an int or a 0-d tensor do too)"
        ) from None


def run_function_trial(params: dict[str, Any], *, train_fn: TrainFn, base_config: ExperimentConfig) -> None:
    """Function trainable (bound with `tune.with_parameters`): the user's function with the trial's parameters."""
    costs = WallClockMeter.for_trial(base_config)
    reporter = FunctionReporter(base_config.search.metric, base_config.search.given_range, costs=costs)
    costs.start()
    train_fn(dict(params), reporter)
    if not reporter.last:
        raise ReportMisuse("train_fn returned without calling reporter.report(fraction, step, metrics)")
    draws = _item_draws(reporter)
    if draws:  # one more result at the final's budget point carries them to the searcher, as the built-in trainer's
        from ray import tune

        tune.report({**reporter.last, NODE_KEY: reporter.node, **draws})


def _item_draws(reporter: FunctionReporter) -> dict[str, Any]:
    """{FINAL_DRAWS_KEY: the mean of `reporter.final_items` of the search metric (the first objective's, as the
    config sets it) on paired resamples, FINAL_ITEMS_KEY}: empty before a final (fraction 1.0) or without its items;
    a misuse where their mean is not the final reported."""
    metric = reporter.metric
    values, final = reporter.final_values.get(metric), reporter.last.get(metric)
    if not values or reporter.last.get(FRACTION_KEY, 0.0) < 1.0 - 1e-9 or final is None:
        return {}
    mean = math.fsum(values) / len(values)
    if not math.isclose(mean, final, rel_tol=1e-4, abs_tol=1e-6):
        raise ReportMisuse(
            f"train_fn's final_items of {metric}: their mean {mean:.6g} is not the final it reported, {final:.6g}; "
            "give each validation item's value of the metric (their mean is the final), in one order in every trial"
        )
    from foretune.predictors.bootstrap import items_fingerprint, paired_draws  # scipy.stats: completed trials only

    draws = paired_draws(
        lambda _, item_values: {metric: math.fsum(item_values) / len(item_values)}, range(len(values)), values, metric
    )
    return (
        {FINAL_DRAWS_KEY: [round(v, 4) for v in draws], FINAL_ITEMS_KEY: items_fingerprint(range(len(values)))}
        if draws
        else {}
    )
