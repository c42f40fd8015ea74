"""What `foretune sweep` and `foretune saturation` print and write: the console table, the markdown table, the plot."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:
    from foretune.search.sweep import SweepResult


def print_saturation(result, console: Console, n=None, values=None) -> None:
    """The fit's table and answers. `n`, `values`: every point given (default: the fitted ones), so that
    the table also shows the zero-shot score at n = 0 and the sizes set aside, each marked."""
    import numpy as np
    from rich.table import Table

    summary = result.to_dict()
    table = Table(title=f"score vs n (mode={result.mode}, epsilon={result.epsilon:g})")
    if n is None:
        n, values = np.repeat(result.n, result.count), np.repeat(result.mean, result.count)
    n, values = np.asarray(n, dtype=float), np.asarray(values, dtype=float)
    set_aside = {float(v) for v in result.set_aside}
    noted = bool(set_aside) or bool((n == 0).any())
    for column in ("n", "mean", "runs", "fitted", "gain / doubling", *([""] if noted else [])):
        table.add_column(column, justify="right")
    means = []  # of the sizes n > 0, for the direction check below
    for size in np.unique(n):
        measured = values[n == size]
        means += [measured.mean()] if size > 0 else []
        fitted, gain, note = "-", "-", ""
        if size == 0:
            note = "zero-shot: not fitted (the curve needs n > 0)"
        else:
            fitted = f"{float(result.predict([size])[0]):.4f}"
            gain = f"{float(result.gain_per_doubling([size])[0]):+.4f}"
            note = (
                "set aside: a dip or spike far off the fitted curve, left out of the fit" if size in set_aside else ""
            )
        row = (f"{size:.0f}", f"{measured.mean():.4f}", str(len(measured)), fitted, gain)
        table.add_row(*row, *([note] if noted else []))
    console.print(table)
    worse = np.diff(means) * (1 if result.mode == "max" else -1) < 0
    if len(worse) >= 2 and worse.all():
        other = "min" if result.mode == "max" else "max"
        console.print(
            f"note: the score gets worse at every larger n measured; if {'lower' if other == 'min' else 'higher'} "
            f"is better, pass --mode {other}",
            highlight=False,
        )

    band = _asymptote_band(result)
    console.print(f"asymptote            {summary['asymptote']:.4f}  {band}{_capped(result)}")
    useful = summary["min_useful_n"]
    note = " (extrapolated beyond the measured points)" if summary["extrapolated"] else ""
    console.print(f"minimum useful n     {_count(useful)}  {_interval(summary['min_useful_n_interval'])}{note}")
    if tiny := _epsilon_in_percent(result):
        console.print(f"note: {tiny}", highlight=False, soft_wrap=True)
    console.print(
        f"minimum sufficient n {_count(summary['min_sufficient_n'])}  {_interval(summary['min_sufficient_n_interval'])}"
        f"  (within {result.epsilon:g} of the score at max n = {summary['max_n']:,}: {summary['score_at_max_n']:.4f})"
    )
    console.print(f"regime               {summary['regime']}", highlight=False)


# --- foretune sweep: its table and plot ---------------------------------------------------------------


def _epsilon_in_percent(result) -> str:
    """A note where the scores are a share in percent (range [0, 100]) but epsilon reads as one of [0, 1]: the
    default 0.01 is then a hundredth of a point, and the minimum useful n runs off to where that little is left."""
    if result.bounds != (0.0, 100.0) or result.epsilon >= 0.1:
        return ""
    return (
        f"the scores are in percent (range [0, 100]) and epsilon {result.epsilon:g} is in the same units: "
        f"{result.epsilon:g} of a point; for one point give epsilon 1 (--epsilon 1, or sweep.epsilon: 1)"
    )


def _capped(result) -> str:
    """What a capped asymptote means, or where the bounds came from; '' without bounds."""
    if result.bounds is None:
        return ""
    from foretune.predictors.calibration import range_text

    if result.asymptote_capped:
        return (
            f" (capped at the metric's bound, range {range_text(result.bounds)}: a fit free of it levels off beyond; "
            "the points do not yet show where the curve levels off)"
        )
    return f" (the metric's range {range_text(result.bounds)} bounds it)"


def _count(value) -> str:
    """A sample count as text; None is beyond the horizon (not the word None)."""
    return "beyond horizon" if value is None else f"{value:,}"


def _asymptote_band(result) -> str:
    """The asymptote's bootstrap interval; with no replicate (--bootstrap 0) there is none to show."""
    if not result.n_bootstrap:
        return "(no interval: no bootstrap replicate)"
    lo, hi = result.asymptote_interval
    return f"[{lo:.4f}, {hi:.4f}]"


def _interval(pair) -> str:
    return "[" + ", ".join(_count(v) for v in pair) + "]"


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
        band = _asymptote_band(result.saturation)
        lines += [
            "",
            f"- asymptote: {s['asymptote']:.4f} (interval {band}){_capped(result.saturation)}",
            f"- minimum useful n: {_count(s['min_useful_n'])} (interval {_interval(s['min_useful_n_interval'])})"
            + (" — extrapolated beyond the measured sizes" if s["extrapolated"] else ""),
            f"- minimum sufficient n (of max n = {s['max_n']:,}): {_count(s['min_sufficient_n'])} "
            f"(interval {_interval(s['min_sufficient_n_interval'])})",
            f"- regime: {s['regime']}",
            *([f"- note: {tiny}"] if (tiny := _epsilon_in_percent(result.saturation)) else []),
            *(
                [f"- set aside (a dip or spike far off the fitted curve, left out of the fit): n = {s['set_aside_n']}"]
                if s["set_aside_n"]
                else []
            ),
            f"- compute: {result.cost_spent:g} of the full grid's {result.cost_full_grid:g} "
            f"({result.compute_fraction:.0%}); stopped: {result.stopped_because}",
            f"- runs cut short by the early-stage predictor: {result.cut_short} of {len(result.points)}",
        ]
    else:  # a sweep stopped before it had the sizes a curve needs (Ctrl-C)
        sizes = len({p.n for p in result.points if p.n > 0})
        lines += ["", f"- no curve fitted ({sizes} size(s) above 0 measured); stopped: {result.stopped_because}"]
    attributes = attributes_frame(result)
    if len(attributes):
        lines += [
            "",
            markdown_table(
                pd.DataFrame(
                    {
                        "attribute": attributes["attribute"],
                        "min useful n": attributes["min_useful_n"].map(_count),
                        "interval": attributes["interval"].map(_interval),
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
        ax.axhline(
            sat.asymptote,
            ls=":",
            color="gray",
            label="asymptote" + (" (capped at the bound)" if sat.asymptote_capped else ""),
        )
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


# --- foretune sweep --models: one fit per model --------------------------------------------------------


def models_markdown(results: dict[str, SweepResult], *, mode: str) -> str:
    """models.md: each model's asymptote and minimum useful n with their intervals, and the catch-up answer."""
    import pandas as pd

    from foretune.search.report import markdown_table
    from foretune.search.sweep.models import catch_up_answer, common_n, models_frame, with_band

    frame = models_frame(results)
    level = next((r.saturation.interval for r in results.values() if r.saturation is not None), None)
    shown = f"{level:.0%} interval" if level is not None else "interval"

    def useful(row) -> str:
        if not isinstance(row["regime"], str) or math.isnan(row["asymptote"]):
            return "-"

        def size(v) -> str:  # None (NaN in the frame): beyond the horizon
            return "beyond horizon" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:,.0f}"

        return f"{size(row['min_useful_n'])} [{size(row['min_useful_n_low'])}, {size(row['min_useful_n_high'])}]"

    at = common_n(results)
    table = pd.DataFrame(
        {
            "model": frame["model"],
            f"asymptote ({shown})": [
                with_band(a, lo, hi, digits=4)
                for a, lo, hi in zip(frame["asymptote"], frame["asymptote_low"], frame["asymptote_high"], strict=True)
            ],
            f"min useful n ({shown})": [useful(row) for _, row in frame.iterrows()],
            f"fitted score at n = {at:,.0f}" if at is not None else "fitted score": frame["score_now"].map(_number),
            "regime": frame["regime"],
        }
    )
    return markdown_table(table) + "\n\n" + catch_up_answer(results, mode) + "\n"


def plot_models(results: dict[str, SweepResult], path: Path, *, metric: str) -> None:
    """models.png: each model's runs and fitted curve in its own colour, its asymptote dotted."""
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from foretune.search.sweep.outputs import points_frame

    fig, ax = plt.subplots(figsize=(7, 4.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    top = max((max(r.sizes) for r in results.values()), default=1)
    for i, (model, result) in enumerate(results.items()):
        color = colors[i % len(colors)]
        frame = points_frame(result.points)
        positive = frame[frame["n"] > 0]
        ax.scatter(positive["n"], positive["value"], s=16, color=color, zorder=3)
        sat = result.saturation
        if sat is None:
            ax.plot([], [], color=color, label=f"{model} (no fit)")
            continue
        grid = np.geomspace(max(sat.n[0] / 2, 1), max(sat.max_n, top) * 2, 200)
        ax.plot(grid, sat.predict(grid), color=color, label=f"{model}: asymptote {sat.asymptote:.3f}")
        ax.axhline(sat.asymptote, ls=":", color=color)
    ax.set_xscale("log")
    ax.set_xlabel("training samples n (log scale)")
    ax.set_ylabel(metric)
    ax.set_title("one saturation curve per model (dotted: asymptotes)")
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_models_files(
    results: dict[str, SweepResult], out: Path, *, metric: str, mode: str, folders: dict[str, str]
) -> dict[str, Path]:
    """models.md, models.png and models.json in `out` (each model's own files are in out/<folder>/)."""
    import json

    from foretune.search.sweep.models import models_summary

    out.mkdir(parents=True, exist_ok=True)
    paths = {"table": out / "models.md", "plot": out / "models.png", "summary": out / "models.json"}
    paths["table"].write_text(models_markdown(results, mode=mode))
    plot_models(results, paths["plot"], metric=metric)
    paths["summary"].write_text(json.dumps(models_summary(results, mode, folders), indent=2))
    return paths
