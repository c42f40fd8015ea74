"""How `foretune rank` and `foretune rank-eval` read a long table of curves: its column options, and the line that
says which columns the predictor was given."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from foretune.errors import ForetuneError

if TYPE_CHECKING:
    from foretune.predictors import Curve

CurvesArg = Annotated[
    Path, typer.Argument(help="Long table (CSV or parquet): trial, fraction, value [+ hyperparameters].")
]
TrialColOpt = Annotated[str, typer.Option("--trial-col", help="Column with the trial id.")]
ValueColOpt = Annotated[str, typer.Option("--value-col", help="Column with the metric.")]
FractionColOpt = Annotated[str, typer.Option("--fraction-col", help="Column with the budget fraction in [0, 1].")]
StepColOpt = Annotated[str | None, typer.Option("--step-col", help="Column with the step (use with --total-col).")]
TotalColOpt = Annotated[str | None, typer.Option("--total-col", help="Column with the trial's total steps.")]
ParamOpt = Annotated[
    list[str] | None,
    typer.Option("--param", help="Hyperparameter column (repeatable; default: every column constant per trial)."),
]
NoParamsOpt = Annotated[bool, typer.Option("--no-params", help="Use no hyperparameter columns.")]
ExtraOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--extra-col",
        help="Another metric column (eval loss, train loss) the learned predictors may use up to --at "
        "(repeatable; default: every column named as a loss, eval_loss, val_loss, train_loss, ..., that varies "
        "within a trial, as a search gives the verdict every loss its trials report; 'auto': every numeric column "
        "that varies within a trial; 'none': none).",
    ),
]


@dataclass(frozen=True)
class CurveColumns:
    """Where the curves table keeps each thing (the --*-col, --param, --no-params and --extra-col options)."""

    trial: str
    value: str
    fraction: str
    step: str | None
    total: str | None
    params: list[str] | None
    no_params: bool
    extras: list[str] | None = None

    @property
    def extra_cols(self) -> list[str] | str | None:
        """`read_curves`'s extra_cols: the losses by their names (`LOSSES`) unless --extra-col says otherwise."""
        from foretune.predictors.io import LOSSES

        return {(): LOSSES, ("auto",): None, ("none",): []}.get(tuple(self.extras or ()), self.extras)

    def read(self, path: Path) -> list[Curve]:
        from foretune.predictors.io import read_curves

        _not_a_study(path)
        return read_curves(
            path,
            trial_col=self.trial,
            value_col=self.value,
            fraction_col=self.fraction,
            step_col=self.step,
            total_col=self.total,
            param_cols=[] if self.no_params else self.params,
            extra_cols=self.extra_cols,
        )


def _not_a_study(path: Path) -> None:
    """A search's run folder, its journal or its report table given as CURVES: say what reads those."""
    report = "`foretune report RUN_DIR` ranks a search's trials (early vs final)"
    wanted = "`foretune rank` reads a long table of curves: trial, fraction, value rows"
    if path.is_dir() or path.suffix == ".journal":
        raise ForetuneError(f"{path} is a search's run folder or study journal: {report}; {wanted}")
    if path.suffix == ".csv" and path.is_file():
        import pandas as pd

        try:
            columns = set(pd.read_csv(path, nrows=0).columns)
        except Exception:  # noqa: BLE001 - read_curves says what is wrong with it
            return
        if {"early_rank", "final_rank", "early_score"} <= columns:
            raise ForetuneError(f"{path} is a search report's table (one row per trial): {report}; {wanted}")


def inputs_line(runs: list[Curve], finished: list[Curve], columns: CurveColumns, at: float) -> str:
    """Which columns the predictor was given: a table's other metrics (eval loss) are its losses by their names unless
    --extra-col says otherwise, and a copy of a loss (its perplexity, the same values renamed) is read once. The
    predictor decides what is a copy on the finished runs' whole curves (`metric_copies.repeated_losses`), so the
    line does too: ranked runs whose few early points agree say nothing, and with no finished run nothing is read as
    a copy."""
    from foretune.predictors.metric_copies import common_names, repeated_losses

    curves = [*runs, *finished]
    params = sorted({name for c in curves for name in c.params})
    used = common_names(curves)  # a metric only some runs report is not learned from (`extra_names`)
    extras = ", ".join(used)
    left = sorted({name for c in curves for name in c.extras} - set(used))
    left_out = f"; {', '.join(left)} left out: not in every run" if left else ""
    copies = [name for name in repeated_losses(finished) if all(name in c.extras for c in runs)]
    repeated = (
        f" ({', '.join(copies)}: another column's values, a multiple, power or exp of them, read once)"
        if copies
        else ""
    )
    if not columns.extras:  # the default: the columns named as losses
        extras = (
            f"{extras} (named as losses; --extra-col none leaves them out, --extra-col auto adds every other)"
            if extras
            else "none"
            if left
            else "none (no column named as a loss varies within a run; name one with --extra-col NAME, or "
            "--extra-col auto)"
        )
    return (
        f"inputs up to {at:g}: {columns.value}; hyperparameter columns: {', '.join(params) or 'none'}; other metric "
        f"columns: {extras or 'none'}{repeated}{left_out}"
    )
