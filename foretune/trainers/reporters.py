"""Reporters: where a trainer sends its evaluations, and how it is told to stop.

A trainer calls `reporter.report(fraction, step, metrics)` at each evaluation point. The reporter
answers `Decision.CONTINUE` (or None) to go on, or `Decision.STOP` to end the run cleanly. The search
brings its own reporters (Ray Tune, Optuna); trainers know only this protocol.
"""

from __future__ import annotations

import csv
import enum
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import pandas as pd

from foretune.keys import FRACTION_KEY, STEP_KEY


class Decision(enum.Enum):
    CONTINUE = "continue"
    STOP = "stop"


@runtime_checkable
class Reporter(Protocol):
    def report(self, fraction: float, step: int, metrics: Mapping[str, float]) -> Decision | None:
        """Receive one evaluation; return Decision.STOP to end the run."""


class MemoryReporter:
    """Keeps every report; `.frame()` gives the learning curve as a pandas table."""

    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []
        self.final_values: dict[str, list[float]] = {}

    def report(self, fraction: float, step: int, metrics: Mapping[str, float]) -> Decision:
        self.rows.append({FRACTION_KEY: float(fraction), STEP_KEY: int(step), **metrics})
        return Decision.CONTINUE

    def final_items(self, metric: str, values: Sequence[float]) -> None:
        """Kept as given: a function written for a search (`FunctionReporter.final_items`) runs with this one too."""
        self.final_values[metric] = [float(v) for v in values]

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)


class FileReporter:
    """Writes every report so far to a CSV or JSONL file (chosen by suffix) as each arrives.

    Each write replaces the file whole (a temporary file, then a rename), so that a run stopped by Ctrl-C,
    SIGTERM or a crash leaves the evaluations it finished and never a cut row. Curves hold tens of rows.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.suffix not in {".csv", ".jsonl"}:
            raise ValueError(f"FileReporter writes .csv or .jsonl, got {self.path}")
        self.rows: list[dict[str, float]] = []

    def report(self, fraction: float, step: int, metrics: Mapping[str, float]) -> Decision:
        rows = [*self.rows, {FRACTION_KEY: float(fraction), STEP_KEY: int(step), **metrics}]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial")
        try:
            with partial.open("w", newline="") as f:
                if self.path.suffix == ".jsonl":
                    f.writelines(json.dumps(row) + "\n" for row in rows)
                else:  # the first report's keys are the columns, as before
                    writer = csv.DictWriter(f, fieldnames=list(rows[0]), extrasaction="ignore")
                    writer.writeheader()
                    writer.writerows(rows)
            partial.replace(self.path)
        except BaseException:  # stopped mid-write: the last complete file stays, no stray partial
            partial.unlink(missing_ok=True)
            raise
        self.rows = rows
        return Decision.CONTINUE
