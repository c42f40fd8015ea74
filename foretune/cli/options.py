"""Shared pieces of the commands: the consoles, the config argument and `--set`, loading a config."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Literal

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

BoundsOpt = Annotated[
    str | None,
    typer.Option(
        "--bounds",
        help="The metric's range LOW,HIGH, e.g. 0,1 or 0,100: predictions stay within it. Default: 0,1 when --mode is "
        "max and every value is in [0, 1] (an accuracy); 0,100 for a share named so (accuracy, f1, bleu, ...) with "
        "every value in [0, 100]; 0 and up for a loss or an error rate named so (eval_loss, val_mse, val_error); 0,1 "
        "with --mode min for a metric named neither (value) with every value in [0, 1] (an error rate); else none. "
        "'none' turns it off.",
    ),
]


def parse_bounds(text: str | None) -> tuple[float, float] | Literal["auto"] | None:
    """--bounds: "auto" when not given, None for "none", else (LOW, HIGH); ForetuneError on anything else."""
    from foretune.errors import ForetuneError

    if text is None:
        return "auto"
    if text.strip().lower() == "none":
        return None
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        raise ForetuneError(f"--bounds {text!r}: give LOW,HIGH, e.g. --bounds 0,1, or none") from None
    if not low < high:
        raise ForetuneError(f"--bounds {text!r}: LOW must be below HIGH, e.g. --bounds 0,1")
    return (low, high)


def check_bounds_hold(text: str | None, bounds, values, what: str) -> None:
    """A --bounds the values themselves leave (an accuracy in percent given --bounds 0,1) is one error: clipped
    into it, every prediction would sit on its edge."""
    from foretune.errors import ForetuneError
    from foretune.predictors.calibration import outside_range, range_text

    if bounds is None or bounds == "auto":
        return
    outside = outside_range(values, bounds)
    if len(outside):
        raise ForetuneError(
            f"--bounds {text}: {len(outside)} value(s) of {what} lie outside {range_text(bounds)} (from "
            f"{outside.min():g} to {outside.max():g}); give the metric's range, e.g. --bounds 0,100 for a "
            "percentage, or leave --bounds out to read it from the values"
        )


def read_bounds(text: str | None, parsed, *, seen: list, every: list, mode: str, value_col: str, tables: tuple):
    """The range predictions are clipped into: --bounds as given (`parsed`; one error where a value of the `tables`,
    `every` curve of CURVES and --fit, does not fit it), else read from the values `seen` and the column's name."""
    from foretune.predictors.calibration import curve_values, curves_range

    if parsed == "auto":
        return curves_range(seen, mode=mode, metric=value_col)
    where = f"{value_col} in " + " and ".join(str(t) for t in tables if t is not None)
    check_bounds_hold(text, parsed, curve_values(every), where)
    return parsed


def read_as_loss_note(mode: str, value_col: str, metric_range, seen: list) -> str | None:
    """For a metric to minimize read as a loss only because its values leave [0, 1] (its name says neither a loss
    nor an error rate, nor a cost, a time or a size): how to have it read as an error rate in percent. None where it
    is not so read."""
    from foretune.predictors.calibration import curve_values, reads_as_error_rate, share_top
    from foretune.predictors.metric_names import is_read_by_values

    high = share_top(metric_range)  # a range given by hand (rank), or the one read (rank-eval): a tuple or None
    if mode != "min" or not is_read_by_values(value_col):
        return None
    if reads_as_error_rate(curve_values(seen), mode="min", metric=value_col, top=high):
        return None
    return (
        f"{value_col}: read as a loss (its name says neither a loss nor an error rate, and its values leave "
        f"[0, {high:g}]); an error rate in percent? --bounds 0,100 reads it as one"
    )


def range_line(metric_range, given: bool) -> str:
    """Which range the predicted finals and intervals were clipped into, and where it came from."""
    if metric_range is None:
        return "range: none (predictions not clipped; --bounds LOW,HIGH sets one)"
    from foretune.predictors.calibration import range_text

    where = "--bounds" if given else "read from the values and the metric's name; --bounds LOW,HIGH or none to change"
    return f"range {range_text(metric_range)}: predicted finals and intervals clipped into it ({where})"


def _load(config: Path | None, overrides: list[str] | None):
    from foretune.config import load_config, parse_overrides

    return load_config(config, parse_overrides(overrides))


@contextmanager
def working(what: str) -> Iterator[None]:
    """A spinner saying `what` on a terminal while it runs; in a log, one line on stderr before it starts (a fit on
    a few hundred runs takes a minute, and a silent minute reads as a hang)."""
    if console.is_terminal:
        with console.status(what):
            yield
    else:
        err_console.print(f"{time.strftime('%H:%M:%S')} {what}", highlight=False, soft_wrap=True)
        yield
