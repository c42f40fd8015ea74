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
if not console.is_terminal:  # logs and pipes: do not squeeze tables into 80 columns
    console = Console(width=140)
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

PREDICTOR_NAMES = ("auto", "snapshot", "curve", "learned")
CurvesArg = Annotated[Path, typer.Argument(help="Long table (CSV or parquet): trial, fraction, value [+ hyperparameters].")]
AtOpt = Annotated[float, typer.Option("--at", help="Budget fraction to predict from: only points at <= this are used.")]
ModeOpt = Annotated[str, typer.Option("--mode", help="'max' if larger values are better (accuracy), 'min' for a loss.")]
FitOpt = Annotated[Optional[Path], typer.Option("--fit", help="Finished runs (same columns) to learn from.")]
TrialColOpt = Annotated[str, typer.Option("--trial-col", help="Column with the trial id.")]
ValueColOpt = Annotated[str, typer.Option("--value-col", help="Column with the metric.")]
FractionColOpt = Annotated[str, typer.Option("--fraction-col", help="Column with the budget fraction in [0, 1].")]
StepColOpt = Annotated[Optional[str], typer.Option("--step-col", help="Column with the step (use with --total-col).")]
TotalColOpt = Annotated[Optional[str], typer.Option("--total-col", help="Column with the trial's total steps.")]
ParamOpt = Annotated[
    Optional[list[str]],
    typer.Option("--param", help="Hyperparameter column (repeatable; default: every column constant per trial)."),
]
NoParamsOpt = Annotated[bool, typer.Option("--no-params", help="Use no hyperparameter columns.")]


def _read_curves_arg(path: Path, trial_col, value_col, fraction_col, step_col, total_col, params, no_params):
    from foretune.predictors.io import read_curves

    return read_curves(
        path,
        trial_col=trial_col,
        value_col=value_col,
        fraction_col=fraction_col,
        step_col=step_col,
        total_col=total_col,
        param_cols=[] if no_params else params,
    )


def _check_rank_args(at: float, mode: str, names: list[str]) -> None:
    if not 0.0 < at <= 1.0:
        raise ForetuneError(f"--at {at} is not a budget fraction; give one in (0, 1], e.g. --at 0.2")
    if mode not in ("min", "max"):
        raise ForetuneError(f"--mode {mode!r} is unknown; use --mode max (accuracy) or --mode min (loss)")
    for name in names:
        if name not in PREDICTOR_NAMES:
            raise ForetuneError(f"--predictor {name!r} is unknown; choose one of {', '.join(PREDICTOR_NAMES)}")


def _reaching(curves, at: float, source: Path):
    """The runs with a finite value at fraction <= at; an error when there are none."""
    from foretune.predictors._base import observed

    seen = [c for c in curves if len(observed(c, at)[1])]
    if not seen:
        first = min((float(c.fractions[0]) for c in curves if len(c.fractions)), default=float("nan"))
        raise ForetuneError(
            f"no run in {source} has a (finite) value at fraction <= {at} (the earliest point is at "
            f"{first:.3g}); pass a larger --at or curves with earlier points"
        )
    if len(seen) < len(curves):
        missing = [str(c.trial) for c in curves if not len(observed(c, at)[1])]
        err_console.print(
            f"note: {len(missing)} run(s) have no value at fraction <= {at} and are left out: "
            f"{', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}",
            highlight=False,
        )
    return seen


@app.command("rank")
def rank_cmd(
    curves: CurvesArg,
    at: AtOpt = 0.2,
    mode: ModeOpt = "max",
    predictor: Annotated[str, typer.Option("--predictor", help="auto | snapshot | curve | learned.")] = "auto",
    top: Annotated[int, typer.Option("--top", min=1, help="How many of the best runs to print.")] = 5,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write every run's row to this CSV.")] = None,
    fit: FitOpt = None,
    trial_col: TrialColOpt = "trial",
    value_col: ValueColOpt = "value",
    fraction_col: FractionColOpt = "fraction",
    step_col: StepColOpt = None,
    total_col: TotalColOpt = None,
    param: ParamOpt = None,
    no_params: NoParamsOpt = False,
) -> None:
    """Predict each run's final value from its curve up to --at, and rank the runs."""
    from rich.table import Table

    from foretune.predictors import get_predictor
    from foretune.predictors.evaluation import ranking_table

    _check_rank_args(at, mode, [predictor])
    columns = (trial_col, value_col, fraction_col, step_col, total_col, param, no_params)
    runs = _reaching(_read_curves_arg(curves, *columns), at, curves)
    finished = _read_curves_arg(fit, *columns) if fit is not None else []
    if predictor in ("learned", "auto") and not finished:
        err_console.print(
            f"note: no finished runs given (--fit FINISHED): {predictor} falls back to curve extrapolation",
            highlight=False,
        )
    model = get_predictor(predictor, mode=mode).fit(finished)
    table = ranking_table([c.upto(at) for c in runs], model.predict([c.upto(at) for c in runs], at=at), at=at, mode=mode)

    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out, index=False)
    shown = Table(title=f"{predictor} ranking at {at:g} of the budget ({mode}), {len(runs)} runs")
    for column in ("rank", "trial", "predicted_final", "lower", "upper", "early_value"):
        shown.add_column(column, justify="right")
    for row in table.head(top).itertuples(index=False):
        shown.add_row(
            str(row.rank), str(row.trial), *(f"{v:.4g}" for v in (row.predicted_final, row.lower, row.upper, row.early_value))
        )
    console.print(shown)
    if out is not None:
        console.print(f"wrote {len(table)} rows to {out}", highlight=False)


@app.command("rank-eval")
def rank_eval_cmd(
    curves: CurvesArg,
    at: AtOpt = 0.2,
    mode: ModeOpt = "max",
    predictor: Annotated[
        Optional[list[str]], typer.Option("--predictor", help="Predictor to compare (repeatable; default: all).")
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
) -> None:
    """On complete curves: rank from the points up to --at and score each predictor against the finals.

    Learning predictors are fit on --fit, or else by cross-fitting: each fold of the runs is
    predicted by a model fit on the other folds, so no run is predicted by a model that saw its end.
    """
    from rich.table import Table

    from foretune.predictors.evaluation import evaluate_predictors

    names = list(predictor or PREDICTOR_NAMES)
    _check_rank_args(at, mode, names)
    if not 0.0 < keep <= 1.0:
        raise ForetuneError(f"--keep {keep} must be a share in (0, 1], e.g. --keep 0.2")
    columns = (trial_col, value_col, fraction_col, step_col, total_col, param, no_params)
    runs = _reaching(_read_curves_arg(curves, *columns), at, curves)
    complete = [c for c in runs if c.fractions[-1] >= 1.0 - 1e-6 and abs(c.values[-1]) < float("inf")]
    if len(complete) < len(runs):
        err_console.print(
            f"note: {len(runs) - len(complete)} run(s) do not reach fraction 1 with a value and are left out",
            highlight=False,
        )
    if len(complete) < max(3, folds if fit is None else 3):
        raise ForetuneError(
            f"{curves}: rank-eval needs complete curves (a value at fraction 1) for at least "
            f"{max(3, folds)} runs, found {len(complete)}; use `foretune rank` for partial curves"
        )
    finished = _read_curves_arg(fit, *columns) if fit is not None else None
    scores = evaluate_predictors(
        dict(zip(names, names)), complete, at=at, mode=mode, k=top, q=keep, folds=folds, seed=seed, finished=finished
    )
    shown = Table(title=f"predicting the final at {at:g} of the budget ({mode}), {len(complete)} complete runs")
    shown.add_column("metric")
    for name in names:
        shown.add_column(name, justify="right")
    labels = {"top_k": f"top-{top} overlap", "best_survives": f"best in top {keep:.0%}", "coverage": "80% interval coverage"}
    for metric, row in scores.iterrows():
        shown.add_row(labels.get(metric, metric), *(f"{v:.3f}" for v in row))
    console.print(shown)


# --- search: search, report, dashboard (foretune.search) -------------------------------------------

RunDirOpt = Annotated[Optional[Path], typer.Option("--out", help="Run folder (default runs/search-<name>).")]
StorageOpt = Annotated[
    Optional[str],
    typer.Option("--storage", help="Optuna storage: RDB URL (sqlite:///f.db, postgresql://...) or journal file."),
]
StudyOpt = Annotated[Optional[str], typer.Option("--study", help="Study name (default: the config's name).")]


def _replay_factory(path: Path, cfg):
    from foretune.trainers.replay import REPORTED_METRICS, ReplayBank

    try:
        bank = ReplayBank.from_scan_bench(path)
    except (OSError, ValueError, KeyError) as error:
        raise ForetuneError(f"--replay {path}: cannot read recorded curves ({error}); give scan-bench's vlm.csv") from None
    if not set(cfg.search.space) & set(bank.scales):
        raise ForetuneError(
            f"--replay: search.space has none of the replayed hyperparameters ({', '.join(bank.scales)})"
        )
    if cfg.search.metric not in REPORTED_METRICS:
        raise ForetuneError(f"--replay: set search.metric to one of {', '.join(REPORTED_METRICS)} (and search.mode=min)")
    return bank.trainer_factory()


@app.command("search")
def search_cmd(
    config: ConfigArg,
    set_: SetOpt = None,
    out: RunDirOpt = None,
    trials: Annotated[Optional[int], typer.Option("--trials", help="Total trials (finished ones count).")] = None,
    storage: StorageOpt = None,
    study: StudyOpt = None,
    address: Annotated[
        Optional[str], typer.Option("--address", help="Ray cluster to join (default: RAY_ADDRESS, else local Ray).")
    ] = None,
    replay: Annotated[
        Optional[Path], typer.Option("--replay", help="Serve recorded curves (scan-bench vlm.csv) instead of training.")
    ] = None,
) -> None:
    """Bayesian search over the config's space on Ray Tune; trials judged at the early fraction are pruned."""
    from foretune.search.driver import run_search
    from foretune.search.report import print_report
    from foretune.search.storage import redact

    cfg = _load(config, set_)
    factory = _replay_factory(replay, cfg) if replay is not None else None
    outcome = run_search(
        cfg, out=out, trials=trials, storage=storage, study_name=study, address=address, trainer_factory=factory, console=console
    )
    if outcome.requeued:
        console.print(f"resumed: {outcome.requeued} interrupted trial(s) were run again")
    print_report(outcome.report, console)
    where = str(outcome.run_dir) if storage is None and cfg.storage is None else f"--storage '{redact(outcome.storage)}'"
    console.print(f"study '{outcome.study_name}': {outcome.total} trials. Dashboard: foretune dashboard {where}", highlight=False)


@app.command("report")
def report_cmd(
    target: Annotated[
        Optional[Path], typer.Argument(help="Run folder (or its study.journal); with --storage, where to write.")
    ] = None,
    storage: StorageOpt = None,
    study: StudyOpt = None,
) -> None:
    """Rank a study's trials (early vs final), write CSV, markdown, plots and best.yaml."""
    from foretune.search.report import build_report, load_study_for_report, print_report

    loaded, folder = load_study_for_report(target, storage=storage, study_name=study)
    print_report(build_report(loaded, folder), console)


@app.command("dashboard")
def dashboard_cmd(
    run_dir: Annotated[Optional[Path], typer.Argument(help="Run folder of a search.")] = None,
    storage: StorageOpt = None,
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1.")] = 8080,
    host: Annotated[str, typer.Option("--host", help="Interface to serve on (keep 127.0.0.1 unless you know).")] = "127.0.0.1",
) -> None:
    """Serve optuna-dashboard for a run's study (learning curves, history, importance)."""
    from foretune.search.dashboard import serve

    serve(run_dir, storage=storage, host=host, port=port, console=console)


# --- data saturation: sweep, saturation ------------------------------------------------------------


def _print_saturation(result, console: Console) -> None:
    from rich.table import Table

    summary = result.to_dict()
    table = Table(title=f"score vs n (mode={result.mode}, epsilon={result.epsilon:g})")
    for column in ("n", "mean", "runs", "fitted", "gain / doubling"):
        table.add_column(column, justify="right")
    for point in summary["points"]:
        table.add_row(
            str(point["n"]), f"{point['mean']:.4f}", str(point["count"]), f"{point['fitted']:.4f}",
            f"{point['gain_per_doubling']:+.4f}",
        )
    console.print(table)

    def interval(pair):
        return "[" + ", ".join("beyond horizon" if v is None else f"{v:,}" for v in pair) + "]"

    lo, hi = summary["asymptote_interval"]
    console.print(f"asymptote            {summary['asymptote']:.4f}  [{lo:.4f}, {hi:.4f}]")
    useful = summary["min_useful_n"]
    note = " (extrapolated beyond the measured points)" if summary["extrapolated"] else ""
    console.print(
        f"minimum useful n     {'beyond horizon' if useful is None else f'{useful:,}'}  "
        f"{interval(summary['min_useful_n_interval'])}{note}"
    )
    console.print(
        f"minimum sufficient n {summary['min_sufficient_n']:,}  {interval(summary['min_sufficient_n_interval'])}"
        f"  (within {result.epsilon:g} of the score at max n = {summary['max_n']:,}: {summary['score_at_max_n']:.4f})"
    )


@app.command("sweep")
def sweep_cmd(
    config: ConfigArg,
    sizes: Annotated[Optional[str], typer.Option("--sizes", help="Comma-separated sizes, e.g. 0,50,100,200 (default: 0 and a doubling grid up to all training data).")] = None,
    repeats: Annotated[int, typer.Option("--repeats", help="Seeds per size.")] = 1,
    epsilon: Annotated[float, typer.Option("--epsilon", help="How close to the plateau is close enough (score units).")] = 0.01,
    out: Annotated[Optional[Path], typer.Option("--out", help="Output folder (default runs/sweep-<name>).")] = None,
    set_: SetOpt = None,
    adaptive: Annotated[bool, typer.Option("--adaptive/--grid", help="Choose sizes adaptively, or run the whole grid.")] = True,
    bootstrap: Annotated[int, typer.Option("--bootstrap", help="Bootstrap replicates for the intervals.")] = 100,
    early_cut: Annotated[bool, typer.Option("--early-cut/--no-early-cut", help="Stop a run once the early-stage predictor (early_stage.predictor, fitted on the sweep's finished runs) knows its final score within --early-tolerance.")] = True,
    early_tolerance: Annotated[Optional[float], typer.Option("--early-tolerance", help="Largest distance from the predicted final to either end of its 80% interval for a cut (default: epsilon / 2).")] = None,
) -> None:
    """Train on nested subsets of growing size n; fit score vs n; report the minimum useful n."""
    from foretune.search.early_cut import EarlyCut
    from foretune.search.sweep import SaturationSweep, geometric_sizes, lora_train_and_score, markdown_table, parse_sizes, write_outputs
    from foretune.trainers.tasks import metric_bounds

    if repeats < 1:
        raise ForetuneError(f"--repeats {repeats}: must be at least 1")
    if not (epsilon > 0):
        raise ForetuneError(f"--epsilon {epsilon:g}: must be a positive score difference, e.g. 0.01")
    tolerance = epsilon / 2 if early_tolerance is None else early_tolerance
    if not (tolerance > 0):
        raise ForetuneError(f"--early-tolerance {tolerance:g}: must be a positive score difference, e.g. 0.005")
    cfg = _load(config, set_)
    cut = None
    if early_cut:
        try:
            cut = EarlyCut(metric=cfg.search.metric, mode=cfg.search.mode, tolerance=tolerance,
                           predictor=cfg.early_stage.predictor, min_fraction=cfg.early_stage.fraction)
        except ValueError as error:
            raise ForetuneError(f"early_stage.predictor: {error}") from None
    train_and_score, cost, available = lora_train_and_score(cfg)
    grid = parse_sizes(sizes, available=available) if sizes else geometric_sizes(available)
    sweep = SaturationSweep(
        train_and_score, sizes=grid, repeats=repeats, metric=cfg.search.metric, mode=cfg.search.mode,
        epsilon=epsilon, adaptive=adaptive, max_n=available, cost=cost, n_bootstrap=bootstrap, seed=cfg.train.seed,
        on_point=lambda p: console.print(
            f"n={p.n:>6} seed={p.seed}  {cfg.search.metric}={p.score:.4f}  ({p.seconds:.0f}s)"
            + (f"  cut at {p.fraction:.0%} of the budget, final predicted" if p.predicted else "")
        ),
        early_cut=cut, bounds=metric_bounds(cfg.search.metric),
    )
    console.print(f"sweep over sizes {', '.join(map(str, grid))} ({'adaptive' if adaptive else 'full grid'}, {repeats} seed(s) each)")
    result = sweep.run()
    folder = out or Path("runs") / f"sweep-{cfg.name}"
    paths = write_outputs(result, folder, metric=cfg.search.metric, study_name=f"sweep-{cfg.name}", mode=cfg.search.mode)
    console.print(markdown_table(result), markup=False, highlight=False)
    console.print(f"wrote {', '.join(str(p) for p in paths.values())}")


@app.command("saturation")
def saturation_cmd(
    points: Annotated[Path, typer.Argument(help="CSV of measured points, columns n,value[,seed].")],
    epsilon: Annotated[float, typer.Option("--epsilon", help="How close to the plateau is close enough (score units).")] = 0.01,
    mode: Annotated[str, typer.Option("--mode", help="max (accuracy) or min (loss).")] = "max",
    max_n: Annotated[Optional[int], typer.Option("--max-n", help="Training data you have (default: the largest n given).")] = None,
    bootstrap: Annotated[int, typer.Option("--bootstrap", help="Bootstrap replicates for the intervals.")] = 200,
    json_: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    bounds: Annotated[Optional[str], typer.Option("--bounds", help="The metric's range LOW,HIGH, e.g. 0,1 for an accuracy: the asymptote stays within it.")] = None,
) -> None:
    """Fit a saturating learning curve to points measured elsewhere: asymptote, minimum useful / sufficient n."""
    import json

    from foretune.predictors.saturation import SaturationModel, read_points

    if mode not in ("max", "min"):
        raise ForetuneError(f"--mode {mode!r}: use 'max' (higher is better) or 'min' (lower is better)")
    if not (epsilon > 0):
        raise ForetuneError(f"--epsilon {epsilon:g}: must be a positive score difference, e.g. 0.01")
    if max_n is not None and max_n <= 0:
        raise ForetuneError(f"--max-n {max_n}: must be a positive number of samples")
    if bootstrap < 0:
        raise ForetuneError(f"--bootstrap {bootstrap}: must be >= 0")
    metric_range = None
    if bounds is not None:
        try:
            low, high = (float(part) for part in bounds.split(","))
        except ValueError:
            raise ForetuneError(f"--bounds {bounds!r}: give LOW,HIGH, e.g. --bounds 0,1") from None
        if not low < high:
            raise ForetuneError(f"--bounds {bounds!r}: LOW must be below HIGH, e.g. --bounds 0,1")
        metric_range = (low, high)
    n, values = read_points(points)
    try:
        result = SaturationModel(mode=mode, epsilon=epsilon, n_bootstrap=bootstrap, bounds=metric_range).fit(
            n, values, max_n=max_n
        )
    except ForetuneError as error:
        raise ForetuneError(f"{points}: {error}") from None
    if json_:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        _print_saturation(result, console)


def main() -> None:
    try:
        app()
    except ForetuneError as error:
        err_console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        sys.exit(error.exit_code)


if __name__ == "__main__":
    main()
