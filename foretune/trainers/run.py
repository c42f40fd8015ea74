"""`foretune train`: one fine-tune with a progress bar, its curve as a table, and files to keep.

Writes to the output folder: `curve.csv` (one row per evaluation), `curve.png`, `metrics.json`
(validation curve end, zero-shot and fine-tuned test scores, config) and `adapter/` (the LoRA weights).
Everything that can be wrong with the input is checked before the folder is created.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from foretune.config import ExperimentConfig
from foretune.trainers.lora import LoraTrainer, TrainResult
from foretune.trainers.models import ensure_model
from foretune.trainers.reporters import FileReporter

CURVE_COLUMNS = ["fraction", "step", "accuracy", "exact_match", "null_fp_rate", "f1", "eval_loss", "train_loss"]


def frame_table(frame: pd.DataFrame, *, title: str | None = None, columns: list[str] | None = None) -> Table:
    """A pandas table as a rich table (floats to 4 digits)."""
    columns = [c for c in (columns or list(frame.columns)) if c in frame.columns]
    table = Table(title=title)
    for column in columns:
        table.add_column(str(column), justify="right")
    for _, row in frame[columns].iterrows():
        table.add_row(*[f"{v:.4f}" if isinstance(v, float) and not float(v).is_integer() else str(v) for v in row])
    return table


def plot_curve(curve: pd.DataFrame, path: Path, *, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for metric in ("accuracy", "exact_match", "f1"):
        if metric in curve:
            left.plot(curve["fraction"], curve[metric], marker="o", label=metric)
    left.set(xlabel="budget fraction", ylabel="score (validation)", ylim=(0, 1), title=title)
    left.legend()
    for metric in ("eval_loss", "train_loss"):
        if metric in curve:
            right.plot(curve["fraction"], curve[metric], marker="o", label=metric)
    right.set(xlabel="budget fraction", ylabel="loss", title="loss")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.3f}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def run_training(config: ExperimentConfig, out: Path, *, console: Console | None = None) -> TrainResult:
    console = console or Console()
    # Validate everything (data, model, budget) before writing anything.
    ensure_model(config.model)
    trainer = LoraTrainer(config)
    total = trainer.total_steps
    console.print(
        f"[bold]foretune train[/] {config.model.name}: {len(trainer.train_products)} train / "
        f"{len(trainer.splits.validation)} validation / {len(trainer.splits.test)} test products, "
        f"{total} steps of batch {config.train.batch_size}, device {trainer.device}"
        + (" (bf16)" if trainer.bf16 else "")
    )
    with console.status("zero-shot evaluation on the test split (generating answers)..."):
        zero_shot = trainer.evaluate_zero_shot()
    console.print(f"zero-shot test accuracy {zero_shot['accuracy']:.3f}")

    out.mkdir(parents=True, exist_ok=True)
    (out / "curve.csv").unlink(missing_ok=True)
    with _progress(console) as progress:
        bar = progress.add_task("fine-tuning", total=total, loss=math.nan)
        trainer.on_step = lambda step, _total, loss: progress.update(bar, completed=step, loss=loss)
        result = trainer.fit(FileReporter(out / "curve.csv"), evaluate_test=False)
    with console.status("test evaluation of the fine-tuned model (generating answers)..."):
        result.test_metrics = trainer.evaluate_test()

    console.print(frame_table(result.curve, title="validation curve", columns=CURVE_COLUMNS))
    summary = pd.DataFrame(
        [
            {"model": "zero-shot", **{k: zero_shot[k] for k in ("accuracy", "exact_match", "null_fp_rate", "f1")}},
            {"model": "fine-tuned", **{k: result.test_metrics[k] for k in ("accuracy", "exact_match", "null_fp_rate", "f1")}},
        ]
    )
    console.print(frame_table(summary, title="held-out test split (generated answers)"))

    plot_curve(result.curve, out / "curve.png", title=f"{config.name}: validation")
    trainer.save_adapter(out / "adapter")
    (out / "metrics.json").write_text(
        json.dumps(
            {
                "validation": result.metrics,
                "test": result.test_metrics,
                "zero_shot_test": zero_shot,
                "steps": result.steps,
                "seconds": round(result.seconds, 1),
                "config": config.model_dump(mode="json"),
            },
            indent=2,
        )
    )
    console.print(f"wrote {out}/curve.csv, curve.png, metrics.json, adapter/")
    return result
