"""The task kinds by `task.name`, a user's `task.metric_fn`, and which metrics a run reports.

`make_task(config)` builds the kind; `MetricFn` loads ``"package.module:function"`` once and calls it
with (predictions, references) on every evaluation; `reported_metrics` names every metric a run of
the config reports, so `check_search_metric` can refuse a `search.metric` no trial would ever report
before a search starts (`check_search_metric_before_trials`: from the config and its data, without model weights).
"""

from __future__ import annotations

import importlib
import numbers
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from foretune.errors import ForetuneError
from foretune.keys import COST_PREFIX
from foretune.trainers.tasks.base import TRAINER_METRICS, Task
from foretune.trainers.tasks.classification import ClassificationTask
from foretune.trainers.tasks.extraction import AttributeExtractionTask
from foretune.trainers.tasks.text import ChatTask, CompletionTask

if TYPE_CHECKING:
    from foretune.config import ExperimentConfig

__all__ = ["MetricFn", "check_search_metric", "check_search_metric_before_trials", "make_task", "reported_metrics"]


def make_task(config: ExperimentConfig) -> Task:
    """The task of `config.task.name` (its records are read by `task.load_splits`)."""
    name, style = config.task.name, config.task.prompt_style
    if name == "attribute_extraction":
        return AttributeExtractionTask.from_config(config)
    if name == "completion":
        return CompletionTask(prompt_style=style)
    if name == "chat":
        return ChatTask()
    if name == "classification":
        return ClassificationTask(prompt_style=style)
    raise ForetuneError(f"task.name '{name}' is not a task kind")  # the config's Literal prevents this


class MetricFn:
    """A user's metric, ``"package.module:function"``: ``function(predictions, references) -> {name: float}``.

    The module is imported from the working folder (as ``python -m`` would) or an installed package.
    """

    def __init__(self, reference: str) -> None:
        self.reference = reference
        module_name, _, function_name = reference.partition(":")
        for folder in (os.environ.get("TUNE_ORIG_WORKING_DIR"), os.getcwd()):  # a Ray trial runs elsewhere
            if folder and folder not in sys.path:
                sys.path.insert(0, folder)
        try:
            module = importlib.import_module(module_name)
        except Exception as error:  # the user's module may fail in any way while importing
            raise ForetuneError(
                f"task.metric_fn '{reference}': cannot import '{module_name}' ({type(error).__name__}: {error}); "
                "give a module importable from the working folder or an installed package"
            ) from None
        self.function = getattr(module, function_name, None)
        if not callable(self.function):
            raise ForetuneError(f"task.metric_fn '{reference}': '{module_name}' has no function '{function_name}'")

    def __call__(self, predictions: Sequence[Any], references: Sequence[Any]) -> dict[str, float]:
        try:
            scores = self.function(list(predictions), list(references))
        except Exception as error:  # the user's code: say whose error it is
            raise ForetuneError(f"task.metric_fn '{self.reference}' raised {type(error).__name__}: {error}") from None
        if not isinstance(scores, Mapping) or not scores:
            raise ForetuneError(
                f"task.metric_fn '{self.reference}' returned {type(scores).__name__}; "
                "return a non-empty dict of metric name -> float"
            )
        bad = [k for k, v in scores.items() if not isinstance(k, str) or not _is_number(v)]
        if bad:
            raise ForetuneError(
                f"task.metric_fn '{self.reference}': values of {', '.join(map(repr, bad))} are not numbers; "
                "return a dict of metric name -> float"
            )
        return {k: float(v) for k, v in scores.items()}

    def item_score(self, task: Task) -> Callable[[Sequence[Any], Sequence[Any]], dict[str, float]]:
        """This metric in a task's `score` shape ((records, predictions) -> metrics), so its value can be re-scored
        on resampled records like the task's own metrics."""
        return lambda records, predictions: self(predictions, [task.reference(r) for r in records])

    def resample_score(self, task: Task) -> Callable[[Sequence[Any], Sequence[Any]], dict[str, float]]:
        """`item_score` for resampled records (test intervals, the final's paired draws): a resample the function
        fails on (one that holds a single label, say) scores nothing, so it costs an interval or the draws, never
        the trial."""
        score = self.item_score(task)

        def on_a_resample(records: Sequence[Any], predictions: Sequence[Any]) -> dict[str, float]:
            try:
                return score(records, predictions)
            except ForetuneError:  # the user's error, said once on the whole items where the metric is reported
                return {}

        return on_a_resample


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def reported_metrics(task: Task, metric_fn: MetricFn | None = None, references: Sequence[Any] = ()) -> list[str]:
    """Every metric a run of `task` reports; a metric_fn's keys are learned by scoring `references` against
    themselves (cheap, and it checks the function works before any training)."""
    names = [*task.metric_names, *TRAINER_METRICS]
    if metric_fn is not None:
        names += [k for k in metric_fn(list(references), list(references)) if k not in names]
    return names


def check_search_metric(config: ExperimentConfig, reported: Sequence[str]) -> None:
    """A clear error before a search starts when no trial would report `search.metric` (or an objective's metric;
    the costs, ``cost.*``, are reported by every LoRA trial)."""
    wanted = [o.metric for o in config.search.objectives] if config.search.objectives else [config.search.metric]
    for metric in wanted:
        per_attribute = config.task.name == "attribute_extraction" and metric.startswith("acc/")
        if metric in reported or per_attribute or metric.startswith(COST_PREFIX):
            continue
        raise ForetuneError(
            f"search.metric '{metric}' is never reported by task {config.task.name} "
            f"(it reports: {', '.join(reported)}); set search.metric to one of them "
            "(search.mode: min for a loss), or return it from task.metric_fn"
        )


def check_search_metric_before_trials(config: ExperimentConfig) -> None:
    """Before a search's first trial: bad data, a failing task.metric_fn or a `search.metric` no trial reports is
    one error. The data is read (its errors raise here); it is tokenized only where `data.too_long` is 'error', so
    that an over-long row stops the search here rather than failing every trial. The metric_fn is called once on
    two references scored against themselves, to learn its keys."""
    task = make_task(config)
    splits = task.load_splits(config.data, offline=config.model.offline)
    train = splits.train_subset(config.data.train_size) if config.data.train_size is not None else splits.train
    policy = config.data.too_long or ("error" if task.name != "attribute_extraction" else None)
    if policy == "error":
        from foretune.trainers.encoding import Encoder, fit_lengths
        from foretune.trainers.models import load_tokenizer

        encoder = Encoder(task, load_tokenizer(config.model), config.model.max_length)
        records = {"train": list(train), "validation": splits.validation, "test": splits.test}
        fit_lengths(encoder, records, policy, config.data.source)
    metric_fn = MetricFn(config.task.metric_fn) if config.task.metric_fn else None
    references = [task.reference(r) for r in (splits.validation or splits.test)[:2]]
    check_search_metric(config, reported_metrics(task, metric_fn, references))
    if metric_fn is not None:
        _check_metric_range(config, metric_fn(list(references), list(references)))


def _check_metric_range(config: ExperimentConfig, perfect: Mapping[str, float]) -> None:
    """A `search.metric_range` given by hand that the metric_fn's own score of answers equal to their references
    leaves (an accuracy of 100.0 beside [0, 1]) is one error: clipped into it, every prediction would sit on 1."""
    from foretune.predictors.calibration import outside_range, range_text

    given, metric = config.search.given_range, config.search.metric
    if given is None or metric not in perfect:
        return
    value = float(perfect[metric])
    if len(outside_range([value], given)):
        raise ForetuneError(
            f"search.metric_range {range_text(given)}: task.metric_fn '{config.task.metric_fn}' scores "
            f"{metric}={value:g} for answers equal to their references, outside it; set search.metric_range to the "
            "metric's range (e.g. [0, 100] for a percentage), or auto to read it from the values"
        )
