"""`foretune sweep` and `foretune saturation`: data saturation (score vs training-set size).

The sweep itself is `foretune.search.sweep`; its tables and plot are in `sweep_outputs`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from foretune.cli.options import ConfigArg, SetOpt, _load, check_bounds_hold, console, parse_bounds
from foretune.cli.sweep_outputs import print_saturation, write_sweep_files
from foretune.cli.sweep_progress import SweepDisplay
from foretune.errors import Failed, ForetuneError, Interrupted
from foretune.folders import check_output_folder
from foretune.keys import JOURNAL_NAME
from foretune.search.sweep.study import SweepStudy

if TYPE_CHECKING:
    from foretune.config import ExperimentConfig
    from foretune.search.sweep import EarlyCut, SaturationSweep, SweepResult


def _check_flags(repeats: int | None, epsilon: float | None, early_tolerance: float | None) -> None:
    if repeats is not None and repeats < 1:
        raise ForetuneError(f"--repeats {repeats}: must be at least 1")
    if epsilon is not None and not (epsilon > 0):
        raise ForetuneError(f"--epsilon {epsilon:g}: must be a positive score difference, e.g. 0.01")
    if early_tolerance is not None and not (early_tolerance > 0):
        raise ForetuneError(f"--early-tolerance {early_tolerance:g}: must be a positive score difference, e.g. 0.005")


def _early_cut(cfg: ExperimentConfig) -> EarlyCut | None:
    """The sweep's early cut from the config (sweep.early_cut, sweep.early_tolerance, early_stage.*)."""
    from foretune.search.sweep import EarlyCut

    if not cfg.sweep.early_cut:
        return None
    tolerance = cfg.sweep.epsilon / 2 if cfg.sweep.early_tolerance is None else cfg.sweep.early_tolerance
    try:
        return EarlyCut(
            metric=cfg.search.metric,
            mode=cfg.search.mode,
            tolerance=tolerance,
            predictor=cfg.early_stage.predictor,
            min_fraction=cfg.early_stage.fraction,
        )
    except ValueError as error:
        raise ForetuneError(f"early_stage.predictor: {error}") from None


def sweep_cmd(
    config: ConfigArg,
    sizes: Annotated[
        str | None,
        typer.Option(
            "--sizes",
            help=(
                "Comma-separated sizes, e.g. 0,50,100,200 "
                "(default: sweep.sizes; unset: 0 and a doubling grid up to all training data)."
            ),
        ),
    ] = None,
    repeats: Annotated[
        int | None, typer.Option("--repeats", help=("Seeds per size (default: sweep.repeats, 1)."))
    ] = None,
    epsilon: Annotated[
        float | None,
        typer.Option(
            "--epsilon", help=("How close to the plateau is close enough (score units; default: sweep.epsilon, 0.01).")
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Output folder (default runs/sweep-<name>); one holding a stopped sweep resumes it."
        ),
    ] = None,
    set_: SetOpt = None,
    adaptive: Annotated[
        bool | None,
        typer.Option(
            "--adaptive/--grid",
            help=("Choose sizes adaptively, or run the whole grid (default: sweep.adaptive, adaptive)."),
        ),
    ] = None,
    bootstrap: Annotated[
        int | None,
        typer.Option("--bootstrap", help=("Bootstrap replicates for the intervals (default: sweep.bootstrap, 100).")),
    ] = None,
    early_cut: Annotated[
        bool | None,
        typer.Option(
            "--early-cut/--no-early-cut",
            help=(
                "Stop a run once the early-stage predictor (early_stage.predictor, fitted on the sweep's finished "
                "runs) knows its final score within --early-tolerance (default: sweep.early_cut, on)."
            ),
        ),
    ] = None,
    early_tolerance: Annotated[
        float | None,
        typer.Option(
            "--early-tolerance",
            help=(
                "Largest distance from the predicted final to either end of its 80% interval for a cut "
                "(default: sweep.early_tolerance; unset: epsilon / 2)."
            ),
        ),
    ] = None,
    address: Annotated[
        str | None,
        typer.Option(
            "--address",
            help=(
                "Ray cluster to run the sweep's runs on (default: RAY_ADDRESS, else local Ray); up to "
                "search.max_concurrent_trials runs side by side, each with the config's resources."
            ),
        ),
    ] = None,
    models: Annotated[
        str | None,
        typer.Option(
            "--models",
            help=(
                "Comma-separated models to sweep on the same data, e.g. smollm2-135m,/models/small: one saturation "
                "fit per model and whether the one behind catches up (default: sweep.models, else model.name)."
            ),
        ),
    ] = None,
) -> None:
    """Train on nested subsets of growing size n; fit score vs n; report the minimum useful n.

    Every option but --out has a key in the config's sweep: section; an option given wins. Each run is recorded in
    OUT/study.journal as it ends: the same command resumes a stopped sweep without training those runs again.
    """
    from foretune.cli.stop_signals import sigterm_as_ctrl_c
    from foretune.search.sweep.budget import describe_budget

    _check_flags(repeats, epsilon, early_tolerance)
    cfg = _load(config, set_)
    flags = {
        "repeats": repeats,
        "epsilon": epsilon,
        "adaptive": adaptive,
        "bootstrap": bootstrap,
        "early_cut": early_cut,
        "early_tolerance": early_tolerance,
        "models": models,
    }
    given = {f"sweep.{key}": value for key, value in flags.items() if value is not None}
    if given:
        cfg = cfg.with_overrides(given, where="(command-line options)")
    folder = out or Path("runs") / f"sweep-{cfg.name}"
    check_output_folder(folder)  # not after hours of training
    names = cfg.sweep.models or [cfg.model.name]
    configs = {name: cfg.with_overrides({"model.name": name}, where="--models") for name in names}
    # Bad settings (sizes, budget, models, a resume's changed config) fail before Ray starts.
    sweeps = {name: _prepare_sweep(model_cfg, sizes) for name, model_cfg in configs.items()}
    places = _study_places(cfg.name, names, folder)
    displays = {}
    for name, (sweep, grid) in sweeps.items():
        study_folder, study_name = places[name]
        study = SweepStudy(
            study_folder / JOURNAL_NAME,
            study_name=study_name,
            mode=cfg.search.mode,
            max_n=max(grid),
            config=configs[name],
        )
        sweep.recorded = study.recorded()
        displays[name] = display = SweepDisplay(console, metric=cfg.search.metric, record=study.record)
        sweep.on_round, sweep.on_run, sweep.on_point = display.on_round, display.on_run, display.on_point
    started = _start_ray(cfg, address, models=[c.model for c in configs.values()])
    results = {}
    try:
        for name, (sweep, grid) in sweeps.items():
            how = "adaptive" if cfg.sweep.adaptive else "full grid"
            console.print(
                (f"[bold]{name}[/]: " if len(sweeps) > 1 else "")
                + f"sweep over sizes {', '.join(map(str, grid))} ({how}, {cfg.sweep.repeats} seed(s) each, "
                f"up to {sweep.runner.slots} run(s) side by side on Ray)"
            )
            console.print(describe_budget(configs[name], grid), highlight=False)
            if sweep.recorded:
                console.print(
                    f"resuming: {len(sweep.recorded)} run(s) recorded in {places[name][0] / JOURNAL_NAME} by an "
                    "earlier session are taken as they are, not trained again",
                    highlight=False,
                )
            # A batch scheduler's stop (SIGTERM) keeps the finished runs, as Ctrl-C does.
            with sigterm_as_ctrl_c() as sigterm, displays[name]:
                results[name] = sweep.run()
            if sigterm.is_set() and results[name].interrupted:
                results[name] = results[name].stopped_by("SIGTERM")
            if results[name].interrupted or results[name].failure:  # the other models' sweeps do not start
                break
    finally:
        if started:
            import ray

            ray.shutdown()
    stopped = stopped_error(results, folder)
    results = {name: result for name, result in results.items() if result.points}
    if results:
        _write_results(cfg, results, folder, places)
    if stopped is not None:
        raise stopped


def stopped_error(results: dict[str, SweepResult], folder: Path) -> ForetuneError | None:
    """The one line a sweep stopped early ends with (Ctrl-C, SIGTERM, a failed run): what is kept, how to go on."""
    failure = next((r.failure for r in results.values() if r.failure), None)
    if failure is None and not any(r.interrupted for r in results.values()):
        return None
    runs = sum(len(r.points) for r in results.values())
    kept = f"its {runs} finished run(s) are written to {folder}" if runs else "no run had finished; nothing written"
    resume = "the same command resumes it, without training those runs again"
    if failure is not None:
        said = failure.rstrip(".")  # Ray's messages end with one
        return Failed(f"the sweep stopped: {said}. {kept[0].upper()}{kept[1:]}; fix the cause, and {resume}")
    stopped = Interrupted.by(any(r.stop_signal == "SIGTERM" for r in results.values()))
    return stopped(f"the sweep stopped: {kept}. {resume[0].upper()}{resume[1:]}")


def _study_places(name: str, models: list[str], folder: Path) -> dict[str, tuple[Path, str]]:
    """Each model's output folder and study name: one model's are `folder` itself, several models' their own."""
    from foretune.search.sweep.models import model_folder_name

    if len(models) == 1:
        return {models[0]: (folder, f"sweep-{name}")}
    taken: set[str] = set()
    places = {}
    for model in models:
        sub = model_folder_name(model, taken)
        places[model] = (folder / sub, f"sweep-{name}-{sub}")
    return places


def _prepare_sweep(cfg: ExperimentConfig, sizes: str | None) -> tuple[SaturationSweep, list[int]]:
    """The sweep of `cfg` (its model) and its grid of sizes, every setting checked."""
    from foretune.search.sweep import check_sizes, geometric_sizes, lora_train_and_score, parse_sizes
    from foretune.search.sweep.budget import check_budget

    settings = cfg.sweep
    train_and_score, cost, available = lora_train_and_score(cfg)
    if sizes:
        grid = parse_sizes(sizes, available=available)
    else:
        grid = check_sizes(settings.sizes, available=available) if settings.sizes else geometric_sizes(available)
    check_budget(cfg, grid)
    return _build_sweep(cfg, train_and_score, cost, grid, available, _early_cut(cfg)), grid


def _write_results(cfg: ExperimentConfig, results: dict, folder: Path, places: dict[str, tuple[Path, str]]) -> None:
    """One model: its files in `folder`. Several: each model's files in folder/<model>/, and the comparison."""
    from foretune.cli.sweep_outputs import write_models_files

    metric, mode = cfg.search.metric, cfg.search.mode
    written = {}
    for name, result in results.items():
        model_folder, study = places[name]
        written[name] = write_sweep_files(result, model_folder, metric=metric, study_name=study, mode=mode)
    if len(places) == 1:
        (paths,) = written.values()
        console.print(paths["table"].read_text(), markup=False, highlight=False)
        console.print(f"wrote {', '.join(str(p) for p in paths.values())}")
        return
    folders = {name: places[name][0].name for name in results}
    paths = write_models_files(results, folder, metric=metric, mode=mode, folders=folders)
    console.print(paths["table"].read_text(), markup=False, highlight=False)
    console.print(
        f"wrote {', '.join(str(p) for p in paths.values())}, and each model's sweep in "
        + ", ".join(str(places[name][0]) for name in results)
    )


def _start_ray(cfg: ExperimentConfig, address: str | None, *, models=()) -> bool:
    """Start local Ray or join `address` (returns whether this call started it); the resources must exist."""
    from foretune.search.driver import check_resources, start_ray
    from foretune.trainers.models import ensure_model

    for model in models or [cfg.model]:
        ensure_model(model)  # convert/cache each model once, before runs race for it
    started = start_ray(address)
    try:
        check_resources(cfg)
    except BaseException:
        if started:
            import ray

            ray.shutdown()
        raise
    return started


def _build_sweep(cfg: ExperimentConfig, train_and_score, cost, grid, available, cut) -> SaturationSweep:
    """The sweep of `cfg`, its runs as Ray tasks with the config's resources (up to search.max_concurrent_trials)."""
    from foretune.search.fits import search_range
    from foretune.search.sweep import SaturationSweep
    from foretune.search.sweep.ray_runs import RayRunner

    settings, resources = cfg.sweep, cfg.resources
    return SaturationSweep(
        train_and_score,
        sizes=grid,
        repeats=settings.repeats,
        metric=cfg.search.metric,
        mode=cfg.search.mode,
        epsilon=settings.epsilon,
        adaptive=settings.adaptive,
        target=settings.target,
        max_n=available,
        cost=cost,
        n_bootstrap=settings.bootstrap,
        seed=cfg.train.seed,
        early_cut=cut,
        # The range given in `search.metric_range`, else read from the scores as a search reads it: the task's range
        # of the metric's name while every score fits it (a metric_fn's accuracy in percent does not).
        bounds=search_range(cfg.search),
        runner=RayRunner(
            cpus=resources.cpus_per_trial, gpus=resources.gpus_per_trial, cap=cfg.search.max_concurrent_trials
        ),
    )


# --- foretune saturation -----------------------------------------------------------------------------


def saturation_cmd(
    points: Annotated[Path, typer.Argument(help="CSV of measured points, columns n,value[,seed].")],
    epsilon: Annotated[
        float, typer.Option("--epsilon", help=("How close to the plateau is close enough (score units)."))
    ] = 0.01,
    mode: Annotated[str, typer.Option("--mode", help="max (accuracy) or min (loss).")] = "max",
    max_n: Annotated[
        int | None, typer.Option("--max-n", help=("Training data you have (default: the largest n given)."))
    ] = None,
    bootstrap: Annotated[int, typer.Option("--bootstrap", help="Bootstrap replicates for the intervals.")] = 200,
    json_: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    bounds: Annotated[
        str | None,
        typer.Option(
            "--bounds",
            help=(
                "The metric's range LOW,HIGH, e.g. 0,1: the asymptote stays within it. Default: 0,1 when --mode is "
                "max and every value is in [0, 1] (an accuracy), else none; 'none' turns it off."
            ),
        ),
    ] = None,
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
    metric_range = parse_bounds(bounds)
    n, values = read_points(points)
    check_bounds_hold(bounds, metric_range, values, f"value in {points}")
    try:
        model = SaturationModel(mode=mode, epsilon=epsilon, n_bootstrap=bootstrap, bounds=metric_range)
        result = model.fit(n, values, max_n=max_n).result
    except ForetuneError as error:
        raise ForetuneError(f"{points}: {error}") from None
    if json_:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print_saturation(result, console, n, values)
