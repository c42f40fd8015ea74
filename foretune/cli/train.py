"""`foretune config` and `foretune train`: one fine-tune with a progress bar, its curve as a table, and files to keep.

`foretune train` writes to the output folder: `curve.csv` (one row per evaluation), `curve.png`,
`metrics.json` (validation curve end, zero-shot and fine-tuned test scores, config) and `adapter/`
(the LoRA weights). Everything that can be wrong with the input is checked before the folder is created.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from foretune.cli.options import ConfigArg, SetOpt, _load, console

if TYPE_CHECKING:
    from foretune.config import ExperimentConfig
    from foretune.trainers.lora import TrainResult

CURVE_COLUMNS = ["fraction", "step", "accuracy", "exact_match", "null_fp_rate", "f1", "eval_loss", "train_loss"]
TEST_COLUMNS = ("accuracy", "exact_match", "null_fp_rate", "f1")


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
    cfg = _load(config, set_)
    run_training(cfg, out or Path("runs") / f"train-{cfg.name}", console=console)


def run_training(config: ExperimentConfig, out: Path, *, console: Console) -> TrainResult:
    """The body of `foretune train`: zero-shot score, fine-tune with a bar, test score, tables and files."""
    import pandas as pd

    from foretune.cli.plots import plot_curve
    from foretune.cli.render import frame_table, training_progress
    from foretune.trainers.lora import LoraTrainer
    from foretune.trainers.models import ensure_model
    from foretune.trainers.reporters import FileReporter

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
    with training_progress(console) as progress:
        bar = progress.add_task("fine-tuning", total=total, loss=math.nan)
        trainer.on_step = lambda step, _total, loss: progress.update(bar, completed=step, loss=loss)
        result = trainer.fit(FileReporter(out / "curve.csv"), evaluate_test=False)
    with console.status("test evaluation of the fine-tuned model (generating answers)..."):
        result.test_metrics = trainer.evaluate_test()

    console.print(frame_table(result.curve, title="validation curve", columns=CURVE_COLUMNS))
    summary = pd.DataFrame(
        [
            {"model": "zero-shot", **{k: zero_shot[k] for k in TEST_COLUMNS}},
            {"model": "fine-tuned", **{k: result.test_metrics[k] for k in TEST_COLUMNS}},
        ]
    )
    console.print(frame_table(summary, title="held-out test split (generated answers)"))

    plot_curve(result.curve, out / "curve.png", title=f"{config.name}: validation")
    trainer.save_adapter(out / "adapter")
    _write_metrics(out / "metrics.json", config, result, zero_shot)
    console.print(f"wrote {out}/curve.csv, curve.png, metrics.json, adapter/")
    return result


def _write_metrics(path: Path, config: ExperimentConfig, result: TrainResult, zero_shot: dict) -> None:
    metrics = {
        "validation": result.metrics,
        "test": result.test_metrics,
        "zero_shot_test": zero_shot,
        "steps": result.steps,
        "seconds": round(result.seconds, 1),
        "config": config.model_dump(mode="json"),
    }
    path.write_text(json.dumps(metrics, indent=2))
