"""Read learning curves from a long table (CSV / parquet); Optuna studies are read by `foretune.search.storage`.

A long table has one row per evaluation: ``trial, fraction, value`` (or ``trial, step`` plus a
column with each trial's total steps), and optionally hyperparameter columns, constant within a trial.
Bad input raises `ForetuneError` saying which column or rows are wrong and how to fix it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from foretune.errors import ForetuneError
from foretune.predictors._base import Curve, plain_params, plain_value
from foretune.predictors.metric_names import is_loss

# `extra_cols` value: every numeric column named as a loss that varies within a trial (what a search's trials report)
LOSSES = "losses"


def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV or parquet file as a DataFrame."""
    path = Path(path)
    if not path.is_file():
        raise ForetuneError(f"curves file {path} not found; pass a CSV or parquet file of trial, fraction, value rows")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        return pd.read_csv(path, low_memory=False)
    except Exception as error:  # parser errors come in many types; all mean "not a readable table"
        kind = "parquet" if path.suffix == ".parquet" else "CSV"
        raise ForetuneError(f"cannot read {path} as a {kind} table: {error}") from error


def read_curves(
    path: str | Path,
    *,
    trial_col: str = "trial",
    value_col: str = "value",
    fraction_col: str = "fraction",
    step_col: str | None = None,
    total_col: str | None = None,
    param_cols: Sequence[str] | None = None,
    extra_cols: Sequence[str] | str | None = (),
) -> list[Curve]:
    """The curves of a long-table file; see `curves_from_frame` for the arguments."""
    return curves_from_frame(
        read_table(path),
        trial_col=trial_col,
        value_col=value_col,
        fraction_col=fraction_col,
        step_col=step_col,
        total_col=total_col,
        param_cols=param_cols,
        extra_cols=extra_cols,
        source=str(path),
    )


def curves_from_frame(
    frame: pd.DataFrame,
    *,
    trial_col: str = "trial",
    value_col: str = "value",
    fraction_col: str = "fraction",
    step_col: str | None = None,
    total_col: str | None = None,
    param_cols: Sequence[str] | None = None,
    extra_cols: Sequence[str] | str | None = (),
    source: str = "the table",
) -> list[Curve]:
    """One `Curve` per trial of a long table, in order of first appearance.

    Args:
        trial_col, value_col: the trial id and the metric columns.
        fraction_col: the budget fraction in [0, 1]; used unless `step_col` is given.
        step_col, total_col: the step of each row and the trial's total steps (fraction = step / total).
        param_cols: hyperparameter columns; None takes every other column that is constant within
            each trial, [] takes none.
        extra_cols: other metrics of each row (eval loss, train loss), kept as `Curve.extras`;
            None takes every other numeric column that varies within a trial, `LOSSES` those of them named as a
            loss (`metric_names.is_loss`), () takes none.
    """
    columns = list(map(str, frame.columns))
    frame = frame.set_axis(columns, axis=1).reset_index(drop=True)  # labels = positions, for messages

    def need(name: str, role: str, flag: str) -> None:
        if name not in columns:
            raise ForetuneError(
                f"{source} has no {role} column {name!r} (columns: {', '.join(columns[:20])}"
                f"{', ...' if len(columns) > 20 else ''}); name it with {flag}"
            )

    need(trial_col, "trial", "--trial-col")
    need(value_col, "value", "--value-col")
    if step_col is not None:
        need(step_col, "step", "--step-col")
        if total_col is None:
            raise ForetuneError(f"{source}: a step column needs the trial's total steps; name it with --total-col")
        need(total_col, "total-steps", "--total-col")
        step = _numeric(frame, step_col, source)
        total = _numeric(frame, total_col, source)
        if (total <= 0).any() or total.isna().any():
            raise ForetuneError(f"{source}: column {total_col!r} must hold positive total steps for every row")
        fraction = step / total
    else:
        if fraction_col not in columns and "step" in columns:
            raise ForetuneError(
                f"{source} has a 'step' but no {fraction_col!r} column; pass --step-col step --total-col COLUMN"
            )
        need(fraction_col, "fraction", "--fraction-col")
        fraction = _numeric(frame, fraction_col, source)
    if fraction.isna().any():
        raise ForetuneError(f"{source}: {int(fraction.isna().sum())} rows have no budget fraction; every row needs one")
    outside = (fraction < -1e-9) | (fraction > 1 + 1e-9)
    if outside.any():
        row = int(np.flatnonzero(outside.to_numpy())[0])
        percent = " (percent? divide the column by 100)" if 1 < fraction.max() <= 100 and fraction.min() >= 0 else ""
        raise ForetuneError(
            f"{source}: budget fraction {float(fraction.iloc[row]):g} (row {row + 2}) is outside [0, 1]{percent}; "
            "fractions are the share of the run's budget done"
        )
    value = _numeric(frame, value_col, source)
    if frame[trial_col].isna().any():
        raise ForetuneError(f"{source}: {int(frame[trial_col].isna().sum())} rows have no trial id in {trial_col!r}")

    reserved = {trial_col, value_col, fraction_col, step_col, total_col}
    if isinstance(extra_cols, str):  # LOSSES: chosen before the parameters, which are what stays constant
        varying = _extra_columns(frame, trial_col, None, reserved | set(param_cols or ()), need, source)
        extra_cols = [c for c in varying if is_loss(c)]
    if param_cols is None:  # a metric named as extra is one even where it is flat (an exact match still 0 at 20%)
        candidates = [c for c in columns if c not in reserved | set(extra_cols or ())]
        constant = frame.groupby(trial_col, sort=False)[candidates].nunique(dropna=False).le(1).all()
        param_cols = [c for c in candidates if constant[c]]
    else:
        for col in param_cols:
            need(col, "hyperparameter", "--param")

    extra_cols = _extra_columns(frame, trial_col, extra_cols, reserved | set(param_cols), need, source)
    extras = {col: _numeric(frame, col, source) for col in extra_cols}
    data = pd.DataFrame({"trial": frame[trial_col], "fraction": fraction.clip(0, 1), "value": value})
    data = _one_row_per_point(data.assign(**{f"extra {c}": s for c, s in extras.items()}), source, trial_col)
    curves = []
    for trial, rows in data.groupby("trial", sort=False):
        first = frame.loc[rows.index[0], list(param_cols)] if param_cols else {}
        params = plain_params({k: v for k, v in dict(first).items() if not _missing(v)})
        series = {col: extras[col].loc[rows.index].to_numpy() for col in extra_cols}
        fractions, values = rows["fraction"].to_numpy(), rows["value"].to_numpy()
        curves.append(Curve(fractions, values, params, plain_value(trial), series))
    if not curves:
        raise ForetuneError(f"{source} has no rows")
    return curves


def _one_row_per_point(data: pd.DataFrame, source: str, trial_col: str) -> pd.DataFrame:
    """`data` without rows that repeat an earlier row whole (a file appended twice); two values of one
    trial at one fraction are an error: two runs share a trial id (say, two studies' tables
    concatenated). Rows of one point that each hold other metrics (a logger's train and eval rows) stay."""
    data = data[~data.duplicated(keep="first")]
    point = data[np.isfinite(data["value"])]
    clash = point.duplicated(["trial", "fraction"], keep="first") & ~point.duplicated(
        ["trial", "fraction", "value"], keep="first"
    )
    if clash.any():
        row = clash.to_numpy().nonzero()[0][0]
        trial, fraction = point["trial"].iloc[row], float(point["fraction"].iloc[row])
        raise ForetuneError(
            f"{source}: trial {plain_value(trial)!r} has two values at fraction {fraction:g} "
            f"(row {int(point.index[row]) + 2}); each run needs its own id in {trial_col!r} "
            "(two studies' tables concatenated?)"
        )
    return data


def _extra_columns(frame, trial_col, extra_cols, taken, need, source) -> list[str]:
    """The extra metric columns: those named (each must exist), or with None every other
    numeric column that varies within a trial."""
    if extra_cols is not None:
        for col in extra_cols:
            need(col, "extra metric", "--extra-col")
            if col in taken:
                raise ForetuneError(f"{source}: column {col!r} is already used as trial, value, fraction or parameter")
        return list(extra_cols)
    candidates = [c for c in frame.columns if c not in taken and pd.api.types.is_numeric_dtype(frame[c])]
    varies = frame.groupby(trial_col, sort=False)[candidates].nunique(dropna=True).gt(1).any()
    return [c for c in candidates if varies[c]]


def _numeric(frame: pd.DataFrame, col: str, source: str) -> pd.Series:
    """The column as floats; empty cells are missing, anything else non-numeric is an error."""
    raw = frame[col]
    numbers = pd.to_numeric(raw, errors="coerce").astype(float)
    bad = numbers.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ForetuneError(
            f"{source}: column {col!r} must be numeric, but row {row + 2} holds {raw.iloc[row]!r}; fix or drop that row"
        )
    return numbers


def _missing(value: object) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
