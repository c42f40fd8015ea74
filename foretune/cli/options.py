"""Shared pieces of the commands: the consoles, the config argument and `--set`, loading a config."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console()
if not console.is_terminal:  # logs and pipes: do not squeeze tables into 80 columns
    console = Console(width=140)
err_console = Console(stderr=True)

ConfigArg = Annotated[Path, typer.Argument(help="Experiment config (YAML), e.g. configs/default.yaml.")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a config key, e.g. --set train.max_steps=20 (repeatable)."),
]


def _load(config: Path | None, overrides: list[str] | None):
    from foretune.config import load_config, parse_overrides

    return load_config(config, parse_overrides(overrides))
