"""`foretune rank` and `foretune rank-eval`: rank runs from their early curves (foretune.predictors)."""

from __future__ import annotations

import math
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from foretune.cli.curve_table import (
    CurveColumns,
    CurvesArg,
    ExtraOpt,
    FractionColOpt,
    NoParamsOpt,
    ParamOpt,
    StepColOpt,
    TotalColOpt,
    TrialColOpt,
    ValueColOpt,
    inputs_line,
)
from foretune.cli.options import (
    BoundsOpt,
    console,
    err_console,
    parse_bounds,
    range_line,
    read_as_loss_note,
    read_bounds,
    working,
)
from foretune.errors import ForetuneError
from foretune.keys import MODES, PREDICTOR_NAMES

if TYPE_CHECKING:
    from foretune.predictors import Curve

AtOpt = Annotated[float, typer.Option("--at", help="Budget fraction to predict from: only points at <= this are used.")]
ModeOpt = Annotated[str, typer.Option("--mode", help="'max' if larger values are better (accuracy), 'min' for a loss.")]
FitOpt = Annotated[Path | None, typer.Option("--fit", help="Finished runs (same columns) to learn from.")]
PlotOpt = Annotated[
    Path | None,
    typer.Option("--plot", help="Draw the runs' curves up to --at and their predicted finals to this .png/.svg/.pdf."),
]


def _check_rank_args(at: float, mode: str, names: list[str]) -> None:
    if not 0.0 < at <= 1.0:
        raise ForetuneError(f"--at {at} is not a budget fraction; give one in (0, 1], e.g. --at 0.2")
    if mode not in MODES:
        raise ForetuneError(f"--mode {mode!r} is unknown; use --mode max (accuracy) or --mode min (loss)")
    for name in names:
        if name not in PREDICTOR_NAMES:
            raise ForetuneError(f"--predictor {name!r} is unknown; choose one of {', '.join(PREDICTOR_NAMES)}")


def _check_outputs(out: Path | None, plot: Path | None) -> None:
    """One clear error before any work for an --out or --plot that cannot be written."""
    from foretune.folders import check_output_folder

    if out is not None:
        if out.is_dir():
            raise ForetuneError(f"--out {out}: that is a folder; give a CSV file, e.g. --out {out / 'ranking.csv'}")
        check_output_folder(out.parent)
    if plot is not None:
        from foretune.cli.rank_plot import check_plot_path

        check_plot_path(plot)


def _runs_reaching(source: Path, columns: CurveColumns, at: float) -> list[Curve]:
    """The runs in `source` with a finite value at fraction <= at; an error when there are none."""
    from foretune.predictors._base import observed

    curves = columns.read(source)
    seen = [c for c in curves if len(observed(c, at)[1])]
    if not seen:
        first = min((float(c.fractions[0]) for c in curves if len(c.fractions)), default=float("nan"))
        raise ForetuneError(
            f"no run in {source} has a (finite) value at fraction <= {at} (the earliest point is at "
            f"{first:.3g}); pass a larger --at or curves with earlier points"
        )
    missing = [c for c in curves if not len(observed(c, at)[1])]
    _note(len(missing), f"have no value at fraction <= {at} and are left out", missing)
    return seen


def _complete(curve: Curve) -> bool:
    """Whether the run reached fraction 1 with a finite value: only then is its final known."""
    return bool(len(curve.values)) and curve.fractions[-1] >= 1.0 - 1e-6 and math.isfinite(curve.values[-1])


def _finished_runs(fit: Path, columns: CurveColumns) -> list[Curve]:
    """The runs of `fit` a predictor may learn from: those that finished (a value at fraction 1; a pruned or
    running run's last value is not its final; a note names the others). An error when there are none."""
    runs = columns.read(fit)
    unfinished = [c for c in runs if not _complete(c)]
    _note(
        len(unfinished), f"of {fit} do not reach fraction 1 with a value (not finished); left out of --fit", unfinished
    )
    kept = [c for c in runs if _complete(c)]
    if not kept:
        raise ForetuneError(
            f"--fit {fit}: none of its {len(runs)} runs is finished (a value at fraction 1); pass the finished "
            "runs' complete curves, or leave out --fit"
        )
    return kept


def _also_finished(runs: list[Curve], finished: list[Curve], at: float) -> set:
    """Trial ids of `runs` that are runs of `finished` too: the same id with the same points up to `at`."""
    early = {c.trial: c.upto(at) for c in runs}
    return {c.trial for c in finished if c.trial in early and _same_points(c.upto(at), early[c.trial])}


def _note(count: int, what: str, runs: list[Curve]) -> None:
    if count:
        shown = ", ".join(str(c.trial) for c in runs[:10]) + (" ..." if count > 10 else "")
        err_console.print(f"note: {count} run(s) {what}: {shown}", highlight=False, soft_wrap=True)


def _same_points(a: Curve, b: Curve) -> bool:
    import numpy as np

    return a.fractions.shape == b.fractions.shape and bool(
        np.allclose(a.fractions, b.fractions) and np.allclose(a.values, b.values, equal_nan=True)
    )


def _shared_params(runs: list[Curve], finished: list[Curve]) -> tuple[list[Curve], list[Curve]]:
    """Both tables keeping only the hyperparameter columns guessed in each (a column constant per trial): a
    metric still flat over the ranked runs' first points (an exact match of 0 at 20%) is not a setting."""
    from dataclasses import replace

    keep = set.intersection(*({*c.params} for c in [*runs, *finished]))
    return tuple(
        [replace(c, params={k: v for k, v in c.params.items() if k in keep}) for c in t] for t in (runs, finished)
    )


def rank_cmd(
    curves: CurvesArg,
    at: AtOpt = 0.2,
    mode: ModeOpt = "max",
    predictor: Annotated[str, typer.Option("--predictor", help="auto | snapshot | curve | learned.")] = "auto",
    top: Annotated[int, typer.Option("--top", min=1, help="How many of the best runs to print.")] = 5,
    out: Annotated[Path | None, typer.Option("--out", help="Write every run's row to this CSV.")] = None,
    fit: FitOpt = None,
    trial_col: TrialColOpt = "trial",
    value_col: ValueColOpt = "value",
    fraction_col: FractionColOpt = "fraction",
    step_col: StepColOpt = None,
    total_col: TotalColOpt = None,
    param: ParamOpt = None,
    no_params: NoParamsOpt = False,
    extra_col: ExtraOpt = None,
    bounds: BoundsOpt = None,
    plot: PlotOpt = None,
) -> None:
    """Predict each run's final value from its curve up to --at, and rank the runs.

    Predicted finals and intervals stay within the metric's range (--bounds): by default [0, 1] with --mode max
    and every value (of these runs and --fit's) in [0, 1], an accuracy; [0, 100] for a share in percent; 0 and up
    for a loss; [0, 1] with --mode min for a bare name (value) with every value in [0, 1], read as an error rate.
    """
    from rich.table import Table

    from foretune.predictors import get_predictor
    from foretune.predictors.calibration import clip_to_bounds
    from foretune.predictors.evaluation import ranking_table

    _check_rank_args(at, mode, [predictor])
    _check_outputs(out, plot)
    metric_range = parse_bounds(bounds)
    columns = CurveColumns(trial_col, value_col, fraction_col, step_col, total_col, param, no_params, extra_col)
    runs = _runs_reaching(curves, columns, at)
    finished = _finished_runs(fit, columns) if fit is not None else []
    known = _also_finished(runs, finished, at)  # one table given as both: rank the runs still running
    if known:
        same = [c for c in runs if c.trial in known]
        _note(len(same), f"are finished runs of {fit}: learned from, not ranked (their finals are known)", same)
        runs = [c for c in runs if c.trial not in known]
        if not runs:
            raise ForetuneError(
                f"every run of {curves} is a finished run of --fit {fit}: nothing left to predict; "
                "`foretune rank-eval` scores predictions on finished runs"
            )
    if columns.params is None and finished:  # guessed per table: a hyperparameter must be one in both
        runs, finished = _shared_params(runs, finished)
    given_range = metric_range if isinstance(metric_range, tuple) else None
    model = get_predictor(predictor, mode=mode, metric=value_col, metric_range=given_range).fit(finished)
    early = [c.upto(at) for c in runs]
    given = metric_range != "auto"
    every = [*runs, *finished]
    metric_range = read_bounds(
        bounds, metric_range, seen=every, every=every, mode=mode, value_col=value_col, tables=(curves, fit)
    )
    what = f"predicting {len(early)} runs' finals with {predictor} from {len(finished)} finished runs"
    with working(what) if finished else nullcontext():  # with no finished run there is nothing to fit
        unclipped = model.predict(early, at=at)
    prediction = clip_to_bounds(unclipped, metric_range)
    table = ranking_table(early, prediction, at=at, mode=mode, order=unclipped.mean)
    if not prediction.predicted:
        err_console.print(
            f"note: {prediction.basis} (give more finished runs with --fit)", highlight=False, soft_wrap=True
        )

    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out, index=False)
    if plot is not None:
        from foretune.cli.rank_plot import ranking_figure, write_figure

        ranked_by = None if prediction.predicted else prediction.follows
        how = {"at": at, "metric": value_col, "top": top, "basis": prediction.basis, "ranked_by": ranked_by}
        write_figure(plot, ranking_figure(table, early, finished, **how))
    which = f"the best {top} of {len(runs)} runs" if len(runs) > top else f"{len(runs)} runs"
    shown = Table(title=f"{predictor} ranking at {at:g} of the budget ({mode}), {which}")
    for column in ("rank", "trial", "predicted_final", "lower", "upper", "early_value"):
        shown.add_column(column, justify="right")
    for row in table.head(top).itertuples(index=False):
        numbers = (row.predicted_final, row.lower, row.upper, row.early_value)
        shown.add_row(str(row.rank), str(row.trial), *("-" if v != v else f"{v:.4g}" for v in numbers))
    console.print(shown)
    console.print(prediction.basis, highlight=False, soft_wrap=True)
    if note := read_as_loss_note(mode, value_col, given_range, [*finished, *early]):
        console.print(note, highlight=False, soft_wrap=True)
    if prediction.predicted:
        console.print(range_line(metric_range, given), highlight=False, soft_wrap=True)
    if predictor in ("auto", "learned"):  # the predictors that read more than the curve
        console.print(inputs_line(runs, finished, columns, at), highlight=False, soft_wrap=True)
    if out is not None:
        console.print(f"wrote {len(table)} rows to {out}", highlight=False, soft_wrap=True)
    if plot is not None:
        console.print(f"drew the ranking to {plot}", highlight=False, soft_wrap=True)
    if out is None and len(runs) > top:
        console.print(f"(--top N shows more; --out FILE.csv writes all {len(runs)})", highlight=False)


def rank_eval_cmd(
    curves: CurvesArg,
    at: AtOpt = 0.2,
    mode: ModeOpt = "max",
    predictor: Annotated[
        list[str] | None, typer.Option("--predictor", help="Predictor to compare (repeatable; default: all).")
    ] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="k of the top-k overlap.")] = 5,
    keep: Annotated[float, typer.Option("--keep", help="Share q kept by pruning, for best-survives.")] = 0.2,
    folds: Annotated[int, typer.Option("--folds", min=2, help="Cross-fitting folds when no --fit is given.")] = 5,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the fold split.")] = 0,
    fit: FitOpt = None,
    trial_col: TrialColOpt = "trial",
    value_col: ValueColOpt = "value",
    fraction_col: FractionColOpt = "fraction",
    step_col: StepColOpt = None,
    total_col: TotalColOpt = None,
    param: ParamOpt = None,
    no_params: NoParamsOpt = False,
    extra_col: ExtraOpt = None,
    bounds: BoundsOpt = None,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Draw each predictor's predicted vs final to this .png/.svg/.pdf."),
    ] = None,
) -> None:
    """On complete curves: rank from the points up to --at and score each predictor against the finals.

    Learning predictors are fit on --fit, or else by cross-fitting: each fold of the runs is
    predicted by a model fit on the other folds, so no run is predicted by a model that saw its end.
    Predicted finals and intervals are scored as `foretune rank` shows them: within the metric's range (--bounds),
    the runs ranked by the predictions before clipping.
    """
    from rich.table import Table

    from foretune.predictors._base import final_value
    from foretune.predictors.evaluation import score_predictors, scores_table

    names = list(predictor or PREDICTOR_NAMES)
    _check_rank_args(at, mode, names)
    _check_outputs(None, plot)
    metric_range = parse_bounds(bounds)
    if not 0.0 < keep <= 1.0:
        raise ForetuneError(f"--keep {keep} must be a share in (0, 1], e.g. --keep 0.2")
    columns = CurveColumns(trial_col, value_col, fraction_col, step_col, total_col, param, no_params, extra_col)
    runs = _runs_reaching(curves, columns, at)
    complete = [c for c in runs if _complete(c)]
    if len(complete) < len(runs):
        err_console.print(
            f"note: {len(runs) - len(complete)} run(s) do not reach fraction 1 with a value and are left out",
            highlight=False,
            soft_wrap=True,
        )
    needed = max(3, folds if fit is None else 3)
    if len(complete) < needed:
        raise ForetuneError(
            f"{curves}: rank-eval needs complete curves (a value at fraction 1) for at least "
            f"{needed} runs, found {len(complete)}; use `foretune rank` for partial curves"
        )
    finished = _finished_runs(fit, columns) if fit is not None else None
    if finished is not None and columns.params is None:  # guessed per table: a hyperparameter must be one in both
        complete, finished = _shared_params(complete, finished)
    if finished is not None and (known := _also_finished(complete, finished, at)):
        same = [c for c in finished if c.trial in known]
        _note(
            len(same),
            f"of {fit} are among the runs scored (they would have seen their finals); left out of --fit",
            same,
        )
        finished = [c for c in finished if c.trial not in known]
        if not finished:
            raise ForetuneError(
                f"--fit {fit}: every run is among the runs scored; give other finished runs, or no --fit"
            )
    given = metric_range != "auto"
    seen = [*(c.upto(at) for c in complete), *(finished or [])]  # as `rank` would see them: never the finals
    every = [*complete, *(finished or [])]
    metric_range = read_bounds(
        bounds, metric_range, seen=seen, every=every, mode=mode, value_col=value_col, tables=(curves, fit)
    )
    fits = f"fit on {len(finished)} finished runs" if finished is not None else f"cross-fitted in {folds} folds"
    with working(f"scoring {', '.join(names)} on {len(complete)} complete runs ({fits})"):
        scored = score_predictors(
            {name: name for name in names},
            complete,
            at=at,
            mode=mode,
            k=top,
            q=keep,
            folds=folds,
            seed=seed,
            finished=finished,
            bounds=metric_range,
            metric=value_col,
        )
    shown = Table(title=f"predicting the final at {at:g} of the budget ({mode}), {len(complete)} complete runs")
    shown.add_column("metric")
    for name in names:
        shown.add_column(name, justify="right")
    labels = {
        "top_k": f"top-{top} overlap",
        "best_survives": f"best in top {keep:.0%}",
        "coverage": "80% interval coverage",
    }
    for metric, row in scores_table(scored).iterrows():
        shown.add_row(labels.get(metric, metric), *("n/a" if v != v else f"{v:.3f}" for v in row))
    console.print(shown)
    for name, result in scored.items():
        if not result.shown.predicted:  # its MAE and coverage would be the early score's, no prediction's
            console.print(f"{name}: {result.shown.basis}; no MAE or coverage", highlight=False, soft_wrap=True)
    console.print(range_line(metric_range, given), highlight=False, soft_wrap=True)
    if note := read_as_loss_note(mode, value_col, metric_range, seen):
        console.print(note, highlight=False, soft_wrap=True)
    if {"auto", "learned"} & set(names):  # the predictors that read more than the curve
        learned_from = complete if finished is None else finished  # cross-fitted on the complete runs' folds
        console.print(inputs_line(complete, learned_from, columns, at), highlight=False, soft_wrap=True)
    if plot is not None:
        import numpy as np

        from foretune.cli.rank_plot import evaluation_figure, write_figure

        finals = np.array([final_value(c) for c in complete])
        write_figure(plot, evaluation_figure(scored, finals, at=at, metric=value_col))
        console.print(f"drew each predictor's predicted vs final to {plot}", highlight=False, soft_wrap=True)
