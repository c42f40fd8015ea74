"""The `foretune` command line (typer).

Every command turns a `ForetuneError` into one red line on stderr and exit code 2. Heavy imports
(torch, ray, transformers) happen inside the commands so `foretune --help` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from foretune.errors import ForetuneError

app = typer.Typer(
    name="foretune",
    help="Hyperparameter search for LoRA fine-tuning that predicts, at 20% of a run, how it will end.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

ConfigArg = Annotated[Path, typer.Argument(help="Experiment config (YAML), e.g. configs/default.yaml.")]
SetOpt = Annotated[
    Optional[list[str]],
    typer.Option("--set", help="Override a config key, e.g. --set train.max_steps=20 (repeatable)."),
]


def _load(config: Path | None, overrides: list[str] | None):
    from foretune.config import load_config, parse_overrides

    return load_config(config, parse_overrides(overrides))


@app.command("config")
def config_cmd(
    config: Annotated[Optional[Path], typer.Argument(help="Config to validate (default: built-in defaults).")] = None,
    set_: SetOpt = None,
) -> None:
    """Validate a config and print it in full, every default filled in."""
    console.print(_load(config, set_).to_yaml(), markup=False, highlight=False)


# --- train (one fine-tune) -------------------------------------------------------------------------


@app.command("train")
def train_cmd(
    config: ConfigArg,
    set_: SetOpt = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Output folder (default runs/train-<name>).")] = None,
) -> None:
    """Run one LoRA fine-tune; report its curve at each budget fraction and score it on the test split."""
    from foretune.trainers.run import run_training

    cfg = _load(config, set_)
    run_training(cfg, out or Path("runs") / f"train-{cfg.name}", console=console)


# --- predictors: rank, rank-eval (foretune.predictors) ---------------------------------------------


# --- search: search, report, dashboard (foretune.search) -------------------------------------------


# --- data saturation: sweep, saturation ------------------------------------------------------------


def main() -> None:
    try:
        app()
    except ForetuneError as error:
        err_console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        sys.exit(error.exit_code)


if __name__ == "__main__":
    main()
