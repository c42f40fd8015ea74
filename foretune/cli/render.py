"""Terminal output shared by the commands (rich): tables of frames and reports, the training progress bar."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from foretune.search.audit import AUDIT

if TYPE_CHECKING:
    from foretune.search.report import Report


def frame_table(frame: pd.DataFrame, *, title: str | None = None, columns: list[str] | None = None) -> Table:
    """A pandas table as a rich table (floats to 4 digits)."""
    columns = [c for c in (columns or list(frame.columns)) if c in frame.columns]
    table = Table(title=title)
    for column in columns:
        table.add_column(str(column), justify="right")
    for _, row in frame[columns].iterrows():
        table.add_row(*[f"{v:.4f}" if isinstance(v, float) and not float(v).is_integer() else str(v) for v in row])
    return table


def training_progress(console: Console) -> Progress:
    """The bar of `foretune train`: steps done, the last training loss, time spent and left."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.3f}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def print_report(report: Report, console: Console, *, limit: int = 30) -> None:
    """The ranking as a terminal table: narrow columns, the hyperparameters folded into one."""

    def cell(value) -> str:
        if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
            return "-"
        if isinstance(value, (bool, np.bool_)):
            return "yes" if value else "no"
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    table = Table(title=f"trials ({report.metric}, {'higher' if report.mode == 'max' else 'lower'} is better)")
    columns = {
        "trial": "trial",
        "state": "state",
        "early_rank": "rank early",
        "final_rank": "rank final",
        "early_score": "early",
        "predicted_final": "predicted",
        "interval": "80% interval",
        "final": "final",
        "final_in_interval": "inside",
    }
    for label in columns.values():
        table.add_column(label, justify="right", no_wrap=True)
    params = [c for c in report.table.columns if c.startswith("param.")]
    table.add_column("hyperparameters", overflow="fold", min_width=28)
    for _, row in report.table.head(limit).iterrows():
        folded = " ".join(f"{c.removeprefix('param.')}={cell(row.get(c))}" for c in params)
        shown = {c: cell(row.get(c)) for c in columns}
        if shown["predicted_final"] == "-" and "no final predicted" in str(row.get("early_basis") or ""):
            shown["predicted_final"] = "no final"  # ranked by its early score: nothing was predicted
        if row.get("early_decision") == AUDIT:  # the verdict would have stopped it: run on to check the verdict
            shown["state"] = f"{shown['state']} (audit)"
        if shown["predicted_final"] not in ("-", "no final"):
            shown["interval"] = f"[{cell(row.get('predicted_lower'))}, {cell(row.get('predicted_upper'))}]"
        table.add_row(*shown.values(), folded)
    if len(report.table):
        console.print(table)
    if len(report.table) > limit:
        console.print(f"(the first {limit} of {len(report.table)} trials; all of them: {report.files['csv']})")
    for line in report.summary:
        console.print(line, highlight=False)
    if report.pareto is not None:  # several objectives: the front, the knee first-class
        front = report.pareto[report.pareto["front_rank"] == 1].drop(columns="front_rank")
        console.print(frame_table(front.map(lambda v: f"{v:.4g}" if isinstance(v, float) else v), title="Pareto front"))
    if report.best:
        console.print(f"best: trial {report.best['number']}, {report.metric} = {report.best['value']:.6g}")
        test = report.best.get("test") or {}
        if test and report.zero_shot:
            from foretune.predictors.bootstrap import read_intervals
            from foretune.search.held_out_report import note, scored_trials_line, with_interval

            zero_iv, best_iv = read_intervals(report.zero_shot), read_intervals(test)
            console.print(
                "held-out test split (generated answers; 95% intervals): "
                + ", ".join(
                    f"{k} {with_interval(report.zero_shot.get(k, float('nan')), zero_iv.get(k), 3)} zero-shot -> "
                    f"{with_interval(test[k], best_iv.get(k), 3)} fine-tuned"
                    for k in ("accuracy", "exact_match")
                    if k in test
                ),
                highlight=False,
            )
            if note(test, report.metric):
                console.print(note(test, report.metric), highlight=False)
            if scored := scored_trials_line(report.table):
                console.print(scored, highlight=False)
        elif report.zero_shot:  # the search scored the test split, but not this trial
            from foretune.search.held_out_report import unscored_best_line

            console.print(unscored_best_line(report.best["number"]), highlight=False)
    for label, path in report.files.items():
        console.print(f"  {label}: {path}", highlight=False)
