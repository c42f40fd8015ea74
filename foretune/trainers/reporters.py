"""Reporters: where a trainer sends its evaluations, and how it is told to stop.

A trainer calls `reporter.report(fraction, step, metrics)` at each evaluation point. The reporter
answers `Decision.CONTINUE` (or None) to go on, or `Decision.STOP` to end the run cleanly. The search
brings its own reporters (Ray Tune, Optuna); trainers know only this protocol.
"""

from __future__ import annotations

import csv
import enum
import json
from collections.abc import Mapping
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

    def report(self, fraction: float, step: int, metrics: Mapping[str, float]) -> Decision:
        self.rows.append({FRACTION_KEY: float(fraction), STEP_KEY: int(step), **metrics})
        return Decision.CONTINUE

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)


class FileReporter:
    """Appends each report to a CSV or JSONL file (chosen by suffix) as it arrives."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.suffix not in {".csv", ".jsonl"}:
            raise ValueError(f"FileReporter writes .csv or .jsonl, got {self.path}")
        self._fields: list[str] | None = None

    def report(self, fraction: float, step: int, metrics: Mapping[str, float]) -> Decision:
        row = {FRACTION_KEY: float(fraction), STEP_KEY: int(step), **metrics}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.suffix == ".jsonl":
            with self.path.open("a") as f:
                f.write(json.dumps(row) + "\n")
            return Decision.CONTINUE
        first = self._fields is None
        self._fields = self._fields or list(row)
        with self.path.open("w" if first else "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self._fields, extrasaction="ignore")
            if first:
                writer.writeheader()
            writer.writerow(row)
        return Decision.CONTINUE
