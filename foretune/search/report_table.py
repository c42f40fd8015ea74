"""The trials table of `report.md`: the columns a reader compares, as GitHub markdown.

`trials.csv` keeps every column; the markdown keeps the verdict (ranks, prediction, interval, final), the
signals it saw, the hyperparameters, the search metric's test score and the training time. The rest (each
test score with its interval, per attribute, and every cost) made the demo's table 67 columns wide.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from foretune.keys import COST_PREFIX, TEST_ATTR_PREFIX
from foretune.predictors.metric_names import is_loss

VERDICT_COLUMNS = (
    "trial",
    "state",
    "early_rank",
    "final_rank",
    "final",
    "predicted_final",
    "predicted_lower",
    "predicted_upper",
    "final_in_interval",
    "early_score",
)
AFTER_SIGNALS = ("early_decision", "fraction_reached", "early_basis", "error")


def _cell(value) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub markdown table (no `tabulate` dependency)."""
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def early_loss_columns(table: pd.DataFrame) -> list[str]:
    """`early_<name>` of each loss the trials reported (`report.early_losses`)."""
    return [c for c in table.columns if c.startswith("early_") and is_loss(c.removeprefix("early_"))]


def report_columns(table: pd.DataFrame, metric: str) -> list[str]:
    """The columns `report.md` shows, in order; a column no trial fills (no error, no test score) is left out."""
    signals = early_loss_columns(table)
    params = [c for c in table.columns if c.startswith("param.")]
    wanted = [*VERDICT_COLUMNS, *signals, *AFTER_SIGNALS, *params, f"{TEST_ATTR_PREFIX}{metric}"]
    wanted.append(f"{COST_PREFIX}train_seconds")
    return [c for c in wanted if c in table.columns and (c in VERDICT_COLUMNS or table[c].notna().any())]


def trials_markdown(table: pd.DataFrame, metric: str, csv_name: str = "trials.csv") -> str:
    """The table for `report.md`, and a line naming where the columns it leaves out are."""
    shown = report_columns(table, metric)
    left_out = len(table.columns) - len(shown)
    if not left_out:
        return markdown_table(table[shown])
    note = f"{left_out} more columns (test scores with intervals, costs) in `{csv_name}`."
    return f"{markdown_table(table[shown])}\n\n{note}"
