"""`foretune config` and `foretune train`: one fine-tune with a progress bar, its curve as a table, and files to keep.

`foretune train` writes to the output folder: `curve.csv` (one row per evaluation), `curve.png`,
`metrics.json` (validation curve end, zero-shot and fine-tuned test scores with their bootstrap 95%
intervals over test items, the test folds with `data.test_folds`, config) and `adapter/` (the LoRA
weights). Everything that can be wrong with the input is checked before the folder is created.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from foretune.cli.options import ConfigArg, SetOpt, _load, console

if TYPE_CHECKING:
    from foretune.config import ExperimentConfig
    from foretune.trainers.lora import TrainResult

# Every task kind's scores (completion/chat: token_f1; classification: macro_f1): a table shows those present.
CURVE_COLUMNS = [
    *("fraction", "step", "accuracy", "exact_match", "null_fp_rate", "f1", "token_f1", "macro_f1"),
    *("eval_loss", "train_loss"),
]
TEST_COLUMNS = ("accuracy", "exact_match", "null_fp_rate", "f1", "token_f1", "macro_f1")


def config_cmd(
    config: Annotated[Path | None, typer.Argument(help="Config to validate (default: built-in defaults).")] = None,
    set_: SetOpt = None,
) -> None:
    """Validate a config and print it in full, every default filled in."""
    console.print(_load(config, set_).to_yaml(), markup=False, highlight=False)


def train_cmd(
    config: ConfigArg,
    set_: SetOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help="Output folder (default runs/train-<name>).")] = None,
) -> None:
    """Run one LoRA fine-tune; report its curve at each budget fraction and score it on the test split."""
    from foretune.cli.stop_signals import sigterm_as_ctrl_c
    from foretune.errors import Interrupted
    from foretune.folders import check_output_folder

    cfg = _load(config, set_)
    out = out or Path("runs") / f"train-{cfg.name}"
    check_output_folder(out)
    with sigterm_as_ctrl_c() as sigterm:
        try:
            run_training(cfg, out, console=console)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: one line on what is kept, not a traceback
            raise Interrupted.by(sigterm.is_set())(f"the fine-tune stopped: {_kept_so_far(out)}") from None


def _kept_so_far(out: Path) -> str:
    """What an interrupted `foretune train` left in `out`: the evaluations written so far, if any."""
    import pandas as pd

    from foretune.keys import FRACTION_KEY

    curve = out / "curve.csv"
    if not curve.is_file():  # none yet (FileReporter writes whole files only; an earlier run's was cleared)
        return "nothing was written; run it again for the whole run"
    reached = float(pd.read_csv(curve)[FRACTION_KEY].max())
    return (
        f"{curve} holds its evaluations up to {reached:.0%} of the budget; no adapter, metrics.json or test score "
        "was written: run it again for the whole run"
    )


def run_training(config: ExperimentConfig, out: Path, *, console: Console) -> TrainResult:
    """The body of `foretune train`: zero-shot score, fine-tune with a bar, test score, tables and files."""
    from foretune.cli.plots import plot_curve
    from foretune.cli.render import frame_table, training_progress
    from foretune.predictors.bootstrap import item_intervals
    from foretune.search.held_out_folds import prepare_folds
    from foretune.trainers.lora import LoraTrainer
    from foretune.trainers.models import ensure_model
    from foretune.trainers.reporters import FileReporter

    # Validate everything (data, model, budget) before writing anything.
    ensure_model(config.model)
    trainer = LoraTrainer(config)
    total = trainer.total_steps
    unit = "products" if config.task.name == "attribute_extraction" else "rows"
    # Classification is scored by the likelihood of each label (`LoraTrainer.evaluate`), the others by generation.
    likelihood = config.task.name == "classification"
    scoring, scored = (
        ("scoring each label", "likeliest label") if likelihood else ("generating answers", "generated answers")
    )
    console.print(
        f"[bold]foretune train[/] {config.model.name}: {len(trainer.train_products)} train / "
        f"{len(trainer.splits.validation)} validation / {len(trainer.splits.test)} test {unit}, "
        f"{total} steps of batch {config.train.batch_size}, device {trainer.device}"
        + (" (bf16)" if trainer.bf16 else "")
    )
    with console.status(f"zero-shot evaluation on the test split ({scoring})..."):
        zero_shot = trainer.evaluate_zero_shot()
        zero_scored = trainer.last_scored
    if trainer.data_note:
        console.print(trainer.data_note, highlight=False)
    folds = prepare_folds(config) if config.data.test_folds else None  # checked before anything is written
    first = trainer.task.metric_names[0]  # the task kind's headline score
    console.print(f"zero-shot test {first} {zero_shot[first]:.3f}")

    out.mkdir(parents=True, exist_ok=True)
    _clear_earlier_run(out)
    with training_progress(console) as progress:
        bar = progress.add_task("fine-tuning", total=total, loss=math.nan)
        trainer.on_step = lambda step, _total, loss: progress.update(bar, completed=step, loss=loss)
        result = trainer.fit(FileReporter(out / "curve.csv"), evaluate_test=False)
    with console.status(f"test evaluation of the fine-tuned model ({scoring})..."):
        result.test_metrics = trainer.evaluate_test()
        result.test_scored = trainer.last_scored
        score, user_score = trainer.task.score, trainer.metric_fn_score  # a task.metric_fn's metrics get theirs
        intervals = {
            "zero_shot": item_intervals(zero_shot, score, *zero_scored, user_score=user_score),
            "fine_tuned": item_intervals(result.test_metrics, score, *result.test_scored, user_score=user_score),
        }

    console.print(frame_table(result.curve, title="validation curve", columns=CURVE_COLUMNS))
    console.print(
        _test_table(
            zero_shot,
            result.test_metrics,
            intervals,
            n_items=len(result.test_scored[0]),
            scored=scored,
            metric=config.search.metric,
        )
    )
    note = _small_test_note(config, intervals["fine_tuned"])
    if note:
        console.print(note, highlight=False)
    fold_scores = _test_folds(config, folds, console) if folds else None

    plot_curve(result.curve, out / "curve.png", title=f"{config.name}: validation")
    trainer.save_adapter(out / "adapter")
    _write_metrics(out / "metrics.json", config, result, zero_shot, intervals=intervals, note=note, folds=fold_scores)
    console.print(f"wrote {out}/curve.csv, curve.png, metrics.json, adapter/")
    return result


def _clear_earlier_run(out: Path) -> None:
    """Remove the files an earlier `foretune train` left in `out`: an interrupted run then leaves only its own."""
    import shutil

    for name in ("curve.csv", "curve.png", "metrics.json"):
        (out / name).unlink(missing_ok=True)
    if (out / "adapter" / "adapter_config.json").is_file():
        shutil.rmtree(out / "adapter")


def _test_table(zero_shot: dict, fine_tuned: dict, intervals: dict, *, n_items: int, scored: str, metric: str):
    """Zero-shot vs fine-tuned test scores, each with its bootstrap 95% interval over the test items: the task
    kind's scores, and `metric` (search.metric: a task.metric_fn's key, say) where it is another."""
    from foretune.search.held_out_report import with_interval

    table = Table(title=f"held-out test split ({n_items} items, {scored}; 95% bootstrap intervals)")
    columns = [k for k in TEST_COLUMNS if k in fine_tuned]
    if metric in fine_tuned and metric not in columns:
        columns.append(metric)
    for column in ("model", *columns):
        table.add_column(column, justify="right")
    for label, scores, which in (("zero-shot", zero_shot, "zero_shot"), ("fine-tuned", fine_tuned, "fine_tuned")):
        shown = intervals[which]
        cells = [with_interval(scores[k], _pair(shown.get(k))) if k in scores else "" for k in columns]
        table.add_row(label, *cells)
    return table


def _pair(interval) -> tuple[float, float] | None:
    return None if interval is None else (interval.low, interval.high)


def _small_test_note(config: ExperimentConfig, intervals: dict) -> str | None:
    from foretune.predictors.bootstrap import small_test_note

    metric = config.search.metric if config.search.metric in intervals else next(iter(intervals), None)
    if metric is None:
        return None
    shown = intervals[metric]
    return small_test_note(metric, shown.n_items, shown.low, shown.high, confidence=shown.confidence)


def _test_folds(config: ExperimentConfig, folds: list, console: Console) -> dict:
    """`data.test_folds`: the config and the zero-shot model over k disjoint test folds, printed and returned."""
    from foretune.search.held_out_folds import run_test_folds

    def say(i: int, k: int) -> None:
        console.print(f"test fold {i + 1} of {k}: zero-shot, fine-tune on the other folds, test")

    scores = run_test_folds(config, on_fold=say, folds=folds).to_dict()
    sizes = ", ".join(map(str, scores["fold_sizes"]))
    table = Table(title=f"over {scores['k']} disjoint test folds ({sizes} items): mean ± standard error")
    columns = [k for k in TEST_COLUMNS if k in scores["summary"]["fine_tuned"]]  # the task kind's scores
    for column in ("model", *columns):
        table.add_column(column, justify="right")
    for which, label in (("zero_shot", "zero-shot"), ("fine_tuned", "fine-tuned")):
        summary = scores["summary"][which]
        cells = [f"{summary[k]['mean']:.4f} ± {summary[k]['stderr']:.4f}" if k in summary else "" for k in columns]
        table.add_row(label, *cells)
    console.print(table)
    return scores


def _write_metrics(
    path: Path,
    config: ExperimentConfig,
    result: TrainResult,
    zero_shot: dict,
    *,
    intervals: dict,
    note: str | None,
    folds: dict | None,
) -> None:
    def as_json(shown: dict) -> dict:
        return {k: {"low": v.low, "high": v.high, "confidence": v.confidence} for k, v in shown.items()}

    metrics = {
        "validation": result.metrics,
        "test": result.test_metrics,
        "zero_shot_test": zero_shot,
        "test_intervals": {which: as_json(shown) for which, shown in intervals.items()},
        "test_items": len(result.test_scored[0]),
        "small_test_note": note,
        "test_folds": folds,
        "steps": result.steps,
        "seconds": round(result.seconds, 1),
        "config": config.model_dump(mode="json"),
    }
    path.write_text(json.dumps(metrics, indent=2))
