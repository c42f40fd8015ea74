"""`foretune sweep` and `foretune saturation`: data saturation (score vs training-set size).

The sweep itself is `foretune.search.sweep`; here are its command, its markdown table and its plot.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from foretune.cli.options import ConfigArg, SetOpt, _load, console
from foretune.errors import ForetuneError

if TYPE_CHECKING:
    from foretune.config import ExperimentConfig
    from foretune.search.sweep import EarlyCut, SaturationSweep, SweepResult


def _print_saturation(result, console: Console) -> None:
    from rich.table import Table

    summary = result.to_dict()
    table = Table(title=f"score vs n (mode={result.mode}, epsilon={result.epsilon:g})")
    for column in ("n", "mean", "runs", "fitted", "gain / doubling"):
        table.add_column(column, justify="right")
    for point in summary["points"]:
        table.add_row(
            str(point["n"]),
            f"{point['mean']:.4f}",
            str(point["count"]),
            f"{point['fitted']:.4f}",
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
    console.print(f"regime               {summary['regime']}", highlight=False)


# --- foretune sweep: its table and plot ---------------------------------------------------------------


def _number(value: float, spec: str = ".4f") -> str:
    return "-" if not math.isfinite(value) else format(value, spec)


def sweep_markdown(result: SweepResult) -> str:
    """table.md: score per size with the fitted curve, the fit's answers, and per-attribute curves."""
    import pandas as pd

    from foretune.search.report import markdown_table
    from foretune.search.sweep.outputs import attributes_frame, sizes_frame

    sizes = sizes_frame(result)
    lines = [
        markdown_table(
            pd.DataFrame(
                {
                    "n": sizes["n"].map(str),
                    "mean score": sizes["mean"].map(_number),
                    "std": sizes["std"].map(_number),
                    "runs": sizes["runs"].map(str),
                    "fitted": sizes["fitted"].map(_number),
                    "gain per doubling": sizes["gain_per_doubling"].map(lambda v: _number(v, "+.4f")),
                }
            )
        )
    ]
    if result.saturation is not None:
        s = result.saturation.to_dict()
        lo, hi = s["asymptote_interval"]
        lines += [
            "",
            f"- asymptote: {s['asymptote']:.4f} (interval [{lo:.4f}, {hi:.4f}])",
            f"- minimum useful n: {s['min_useful_n']} (interval {s['min_useful_n_interval']})"
            + (" — extrapolated beyond the measured sizes" if s["extrapolated"] else ""),
            f"- minimum sufficient n (of max n = {s['max_n']}): {s['min_sufficient_n']} "
            f"(interval {s['min_sufficient_n_interval']})",
            f"- regime: {s['regime']}",
            f"- compute: {result.cost_spent:g} of the full grid's {result.cost_full_grid:g} "
            f"({result.compute_fraction:.0%}); stopped: {result.stopped_because}",
            f"- runs cut short by the early-stage predictor: {result.cut_short} of {len(result.points)}",
        ]
    attributes = attributes_frame(result)
    if len(attributes):
        lines += [
            "",
            markdown_table(
                pd.DataFrame(
                    {
                        "attribute": attributes["attribute"],
                        "min useful n": attributes["min_useful_n"].map(
                            lambda v: "beyond horizon" if v is None else str(v)
                        ),
                        "interval": attributes["interval"].map(str),
                        "gain per doubling at the largest n": attributes["gain_per_doubling"].map(
                            lambda v: f"{v:+.4f}"
                        ),
                    }
                )
            ),
        ]
        late = result.late_attributes()
        lines += ["", f"Late-saturating attributes: {', '.join(late) if late else 'none'}"]
    if result.rare_attributes:
        lines += ["", f"Too few test labels for a curve of their own: {', '.join(result.rare_attributes)}"]
    return "\n".join(lines) + "\n"


def plot_sweep(result: SweepResult, path: Path, *, metric: str) -> None:
    """saturation.png: the runs (cut ones hollow), the fitted curve with its interval, and its answers."""
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from foretune.search.sweep.outputs import points_frame

    frame = points_frame(result.points)
    positive = frame[frame["n"] > 0]
    whole, cut = positive[~positive["predicted"]], positive[positive["predicted"]]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.scatter(whole["n"], whole["value"], s=18, color="black", zorder=3, label="runs")
    if len(cut):
        ax.scatter(
            cut["n"],
            cut["value"],
            s=22,
            facecolors="none",
            edgecolors="black",
            zorder=3,
            label="runs cut early (predicted final)",
        )
    sat = result.saturation
    if sat is not None:
        grid = np.geomspace(max(sat.n[0] / 2, 1), max(sat.max_n, sat.n[-1]) * 2, 200)
        lo, hi = sat.predict_interval(grid)
        ax.fill_between(grid, lo, hi, alpha=0.25, label=f"{sat.interval:.0%} interval")
        ax.plot(grid, sat.predict(grid), label="fitted curve")
        ax.axhline(sat.asymptote, ls=":", color="gray", label="asymptote")
        if sat.min_useful_n is not None and sat.min_useful_n < grid[-1]:
            ax.axvline(sat.min_useful_n, ls="--", color="tab:red", label=f"min useful n ~ {sat.min_useful_n:,.0f}")
        ax.axvline(
            sat.min_sufficient_n, ls="--", color="tab:green", label=f"min sufficient n ~ {sat.min_sufficient_n:,.0f}"
        )
        if sat.baseline is not None:
            ax.axhline(sat.baseline, ls="-.", color="tab:orange", label="n = 0 (zero-shot)")
    ax.set_xscale("log")
    ax.set_xlabel("training samples n (log scale)")
    ax.set_ylabel(metric)
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_sweep_files(result: SweepResult, out: Path, *, metric: str, study_name: str, mode: str) -> dict[str, Path]:
    """points.csv, table.md, saturation.png, summary.json and the study journal in `out`."""
    from foretune.search.sweep import write_outputs

    data = write_outputs(result, out, study_name=study_name, mode=mode)
    paths = {
        "points": data["points"],
        "table": out / "table.md",
        "plot": out / "saturation.png",
        "summary": data["summary"],
        "study": data["study"],
    }
    paths["table"].write_text(sweep_markdown(result))
    plot_sweep(result, paths["plot"], metric=metric)
    return paths


# --- foretune sweep ----------------------------------------------------------------------------------


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
    out: Annotated[Path | None, typer.Option("--out", help="Output folder (default runs/sweep-<name>).")] = None,
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
) -> None:
    """Train on nested subsets of growing size n; fit score vs n; report the minimum useful n.

    Every option but --out has a key in the config's sweep: section; an option given wins.
    """
    from foretune.search.sweep import check_sizes, geometric_sizes, lora_train_and_score, parse_sizes
    from foretune.search.sweep.budget import check_budget, describe_budget

    _check_flags(repeats, epsilon, early_tolerance)
    cfg = _load(config, set_)
    flags = {
        "repeats": repeats,
        "epsilon": epsilon,
        "adaptive": adaptive,
        "bootstrap": bootstrap,
        "early_cut": early_cut,
        "early_tolerance": early_tolerance,
    }
    given = {f"sweep.{key}": value for key, value in flags.items() if value is not None}
    if given:
        cfg = cfg.with_overrides(given, where="(command-line options)")
    settings = cfg.sweep
    cut = _early_cut(cfg)
    train_and_score, cost, available = lora_train_and_score(cfg)
    if sizes:
        grid = parse_sizes(sizes, available=available)
    else:
        grid = check_sizes(settings.sizes, available=available) if settings.sizes else geometric_sizes(available)
    check_budget(cfg, grid)
    sweep = _build_sweep(cfg, train_and_score, cost, grid, available, cut)  # bad settings fail before Ray starts
    started = _start_ray(cfg, address)
    try:
        how = "adaptive" if cfg.sweep.adaptive else "full grid"
        console.print(
            f"sweep over sizes {', '.join(map(str, grid))} ({how}, {cfg.sweep.repeats} seed(s) each, "
            f"up to {sweep.runner.slots} run(s) side by side on Ray)"
        )
        console.print(describe_budget(cfg, grid), highlight=False)
        result = sweep.run()
    finally:
        if started:
            import ray

            ray.shutdown()
    folder = out or Path("runs") / f"sweep-{cfg.name}"
    paths = write_sweep_files(
        result, folder, metric=cfg.search.metric, study_name=f"sweep-{cfg.name}", mode=cfg.search.mode
    )
    console.print(paths["table"].read_text(), markup=False, highlight=False)
    console.print(f"wrote {', '.join(str(p) for p in paths.values())}")


def _start_ray(cfg: ExperimentConfig, address: str | None) -> bool:
    """Start local Ray or join `address` (returns whether this call started it); the resources must exist."""
    from foretune.search.driver import check_resources, start_ray
    from foretune.trainers.models import ensure_model

    ensure_model(cfg.model)  # convert/cache the model once, before runs race for it
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
    from foretune.search.sweep import SaturationSweep
    from foretune.search.sweep.ray_runs import RayRunner
    from foretune.trainers.tasks import metric_bounds

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
        on_point=lambda p: console.print(
            f"n={p.n:>6} seed={p.seed}  {cfg.search.metric}={p.score:.4f}  ({p.seconds:.0f}s)"
            + (f"  cut at {p.fraction:.0%} of the budget, final predicted" if p.predicted else "")
        ),
        early_cut=cut,
        bounds=metric_bounds(cfg.search.metric),
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
            "--bounds", help=("The metric's range LOW,HIGH, e.g. 0,1 for an accuracy: the asymptote stays within it.")
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
        model = SaturationModel(mode=mode, epsilon=epsilon, n_bootstrap=bootstrap, bounds=metric_range)
        result = model.fit(n, values, max_n=max_n).result
    except ForetuneError as error:
        raise ForetuneError(f"{points}: {error}") from None
    if json_:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        _print_saturation(result, console)
