"""Test scores over k disjoint test folds: a small test split's headline figure as mean +- standard error.

With `data.test_folds: k`, the training and test products are pooled and cut into k disjoint folds
(seeded by `data.seed`); fold i is scored with a model fine-tuned on the other folds (the validation
split stays as it is), and the zero-shot model is scored on the same fold. Each metric is then the
mean over the k folds with its standard error. `foretune train` runs this for its config and
`foretune search` for the best configuration, after the search (stored in the study as
`TEST_FOLDS_ATTR`, shown by the report). The fine-tunes run one after another in the calling process.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from foretune.errors import ForetuneError
from foretune.keys import TEST_FOLDS_ATTR
from foretune.predictors.bootstrap import interval_metrics, mean_and_standard_error

if TYPE_CHECKING:
    import optuna

    from foretune.config import ExperimentConfig
    from foretune.trainers.data import Splits

WHICH = ("zero_shot", "fine_tuned")


@dataclass
class FoldScores:
    """Per-fold test scores of the zero-shot and the fine-tuned model (one dict of metrics per fold)."""

    fold_sizes: list[int] = field(default_factory=list)
    zero_shot: list[dict[str, float]] = field(default_factory=list)
    fine_tuned: list[dict[str, float]] = field(default_factory=list)

    @property
    def k(self) -> int:
        return len(self.fold_sizes)

    def summary(self) -> dict[str, dict[str, tuple[float, float]]]:
        """{"zero_shot" | "fine_tuned": {metric: (mean, standard error)}} over the folds."""
        out: dict[str, dict[str, tuple[float, float]]] = {}
        for which in WHICH:
            folds = getattr(self, which)
            names = interval_metrics(folds[0]) if folds else []
            out[which] = {name: mean_and_standard_error([f.get(name, np.nan) for f in folds]) for name in names}
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (a study attribute, metrics.json): the folds and the mean +- standard error."""
        summary = {w: {m: {"mean": v[0], "stderr": v[1]} for m, v in s.items()} for w, s in self.summary().items()}
        return {
            "k": self.k,
            "fold_sizes": self.fold_sizes,
            "zero_shot": self.zero_shot,
            "fine_tuned": self.fine_tuned,
            "summary": summary,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FoldScores:
        return cls(list(data["fold_sizes"]), list(data["zero_shot"]), list(data["fine_tuned"]))


def fold_splits(splits: Splits, k: int, *, seed: int) -> list[Splits]:
    """k splits whose test sets are disjoint folds of train + test; each trains on the rest (seeded order).

    Records are kept whole, so a text is never in two folds when the task's splits are made by text."""
    from foretune.trainers.data import Splits

    pool = list(splits.test) + list(splits.train)
    if k < 2 or len(pool) < 2 * k:
        raise ForetuneError(
            f"data.test_folds={k}: {len(pool)} training + test records cannot make {k} folds of at least "
            f"2 records each; lower data.test_folds (2 or more) or use more data"
        )
    order = np.random.default_rng(seed).permutation(len(pool))
    out = []
    for fold in np.array_split(order, k):
        held = set(fold.tolist())
        train = [pool[i] for i in order if i not in held]  # a seeded order: its prefixes are nested subsets
        out.append(Splits(train=train, validation=list(splits.validation), test=[pool[i] for i in fold]))
    return out


def prepare_folds(config: ExperimentConfig) -> list[Splits]:
    """The k fold splits of `config` (data.test_folds), checked: enough records, and data.train_size fits each."""
    from foretune.trainers.tasks import make_task

    k = config.data.test_folds
    if not k:
        raise ForetuneError("data.test_folds is not set; set it to the number of folds, e.g. --set data.test_folds=5")
    whole = config.data.model_copy(update={"train_size": None})  # folds draw from all training records
    folds = fold_splits(make_task(config).load_splits(whole, offline=config.model.offline), k, seed=config.data.seed)
    size, room = config.data.train_size, min(len(fold.train) for fold in folds)
    if size is not None and size > room:
        raise ForetuneError(
            f"data.test_folds={k}: a fold trains on at most {room} records but data.train_size={size}; "
            f"lower data.train_size to {room} or use fewer folds"
        )
    return folds


def run_test_folds(
    config: ExperimentConfig,
    *,
    on_fold: Callable[[int, int], None] | None = None,
    folds: Sequence[Splits] | None = None,
) -> FoldScores:
    """Score `config` fine-tuned, and the zero-shot model, on each of `config.data.test_folds` folds
    (`folds`: from `prepare_folds`, made here when not given).

    Every test record of a fold is scored (data.max_test_samples does not apply); `on_fold(i, k)`
    is called before fold i starts.
    """
    from foretune.trainers.lora import LoraTrainer

    folds = list(folds) if folds is not None else prepare_folds(config)
    config = config.with_overrides({"data.max_test_samples": None}, where="test folds")
    scores = FoldScores()
    for i, fold in enumerate(folds):
        if on_fold is not None:
            on_fold(i, len(folds))
        trainer = LoraTrainer(config, splits=fold)
        zero_shot = trainer.evaluate_zero_shot(split="test")
        result = trainer.fit(None, evaluate_test=True)
        scores.fold_sizes.append(len(fold.test))
        scores.zero_shot.append(_plain(zero_shot))
        scores.fine_tuned.append(_plain(result.test_metrics or {}))
    return scores


def _plain(metrics: Mapping[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if "/" not in k}


def record_test_folds(study: optuna.Study, config: ExperimentConfig, console=None) -> None:
    """Run the test folds for the best trial's configuration and store them in the study (TEST_FOLDS_ATTR);
    nothing without a complete trial."""
    from foretune.search.report import best_trial
    from foretune.search.trainable import trial_config

    best = best_trial(study)
    if best is None:
        return
    tuned = trial_config(config, best["params"])

    def say(i: int, k: int) -> None:
        if console is not None:
            console.print(f"test fold {i + 1} of {k}: zero-shot and best configuration (trial {best['number']})")

    scores = run_test_folds(tuned, on_fold=say)
    study.set_user_attr(TEST_FOLDS_ATTR, {**scores.to_dict(), "trial": best["number"]})


def fold_lines(folds: Mapping[str, Any], metrics: Sequence[str]) -> list[str]:
    """Markdown lines: each metric's mean +- standard error over the folds, zero-shot and fine-tuned."""
    summary = folds.get("summary", {})
    sizes = folds.get("fold_sizes", [])
    lines = [
        f"Over {folds.get('k')} disjoint test folds ({', '.join(map(str, sizes))} items; each fold scored by a model "
        "fine-tuned on the rest), mean ± standard error:",
        "",
        "| metric | zero-shot | fine-tuned |",
        "|---|---|---|",
    ]
    for metric in metrics:
        cells = []
        for which in WHICH:
            value = summary.get(which, {}).get(metric)
            cells.append("" if value is None else f"{value['mean']:.4f} ± {value['stderr']:.4f}")
        if any(cells):
            lines.append(f"| {metric} | {cells[0]} | {cells[1]} |")
    return [*lines, ""]
