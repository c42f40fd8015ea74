"""The search benchmark's report (`benchmarks/search.py`): mean ± standard error over seeds, regret paired per
seed against no pruning and against ASHA, written as a markdown table (`OUT.md`; `OUT.csv` holds the rows)."""

from __future__ import annotations

import os
import platform
import sys

import numpy as np
import pandas as pd
from search_sets import CONCURRENT

from foretune.config import EarlyStageConfig

DEFAULT = EarlyStageConfig()  # the rule `foretune search` uses when the config says nothing


def _se(values: pd.Series) -> float:
    return float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")


def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean ± standard error over seeds; regret paired per seed against no pruning and against ASHA."""
    base = frame[frame["strategy"] == "no_pruning"].set_index("seed")["regret"]
    asha = frame[frame["strategy"] == "asha"].set_index("seed")["regret"]
    out = []
    for name, group in frame.groupby("strategy", sort=False):
        g = group.set_index("seed")
        diff = g["regret"] - base.reindex(g.index)
        vs_asha = g["regret"] - asha.reindex(g.index)
        judged = g["judgements"].sum()
        out.append(
            {
                "strategy": name,
                "compute": g["compute"].mean(),
                "compute_se": _se(g["compute"]),
                "regret": g["regret"].mean(),
                "regret_se": _se(g["regret"]),
                "diff": diff.mean(),
                "diff_se": _se(diff),
                "worse": int((diff > 1e-12).sum()),
                "better": int((diff < -1e-12).sum()),
                "asha": vs_asha.mean(),
                "asha_se": _se(vs_asha),
                "kept": g["best_kept"].mean(),
                "pruned": g["pruned"].mean(),
                "repeat": g["repeat_compute"].mean(),
                "new": g["new_compute"].mean() if "new_compute" in g else float("nan"),
                "ms": 1000 * g["judge_s"].sum() / judged if judged else float("nan"),
                "p95_ms": 1000 * g["judge_p95_s"].mean() if judged else float("nan"),
                "seconds": g["seconds"].mean(),
            }  # fmt: skip
        )
    return pd.DataFrame(out)


def table_lines(summary: pd.DataFrame) -> list[str]:
    lines = [
        "| strategy | compute | regret | − no pruning (paired) | seeds worse / better | − ASHA (paired) "
        "| best sampled run kept | pruned / search | compute on repeats | compute on new runs | ms / judgement (mean, p95) "
        "| s / search |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in summary.itertuples():
        ms = "" if np.isnan(r.ms) else f"{r.ms:.1f}, {r.p95_ms:.0f}"
        lines.append(
            f"| {r.strategy} | {r.compute:.0%} ± {r.compute_se:.0%} | {r.regret:.4f} ± {r.regret_se:.4f} | "
            f"{r.diff:+.4f} ± {np.nan_to_num(r.diff_se):.4f} | {r.worse} / {r.better} | "
            f"{r.asha:+.4f} ± {np.nan_to_num(r.asha_se):.4f} | {r.kept:.0%} | {r.pruned:.1f} | {r.repeat:.0%} | {r.new:.0%} | {ms} | {r.seconds:.1f} |"
        )
    return lines


def legend(strategies) -> list[str]:
    """One line per foretune strategy: the `early_stage` settings it changes from the default."""
    lines = []
    for s in strategies:
        if s.kind == "foretune":
            settings = ", ".join(f"{k}={v}" for k, v in s.early.items()) or "the default settings"
            lines.append(f"- `{s.name}`: {settings}" + (f", shape={s.shape}" if s.shape else ""))
    return lines


def audit_lines(frame: pd.DataFrame) -> list[str]:
    """Per strategy with `audit_every`: audited trials, their finals inside the 80% interval, searches where an
    audited trial beat every trial the verdict kept."""
    if "audited" not in frame or not frame["audited"].fillna(0).any():
        return []
    lines = ["", "Audited trials (`early_stage.audit_every`; over all seeds):", ""]
    for name, g in frame[frame["audited"].fillna(0) > 0].groupby("strategy", sort=False):
        inside, checked = int(g["audited_inside"].sum()), int(g["audited_checked"].sum())
        lines.append(
            f"- `{name}`: {int(g['audited'].sum())} audited trials ({g['audited'].mean():.1f} a search), "
            f"{inside} of {checked} audited finals inside their 80% interval ({inside / max(checked, 1):.0%}); "
            f"an audited trial beat every kept trial in {int(g['audit_beat'].sum())} of {len(g)} searches"
        )
    return lines


def write(frame: pd.DataFrame, args, described: str, metric: str, params, oracle: float, seeds, strategies) -> None:
    summary = summarize(frame)
    direction = "lower" if args.mode == "min" else "higher"
    engine = "in-process loop (Optuna's pruners as baselines)" if args.engine == "inprocess" else "Ray Tune stack"
    rule = f"`{DEFAULT.rule}`, predictor {DEFAULT.predictor}, grace {DEFAULT.grace_trials}, " + (
        f"k={DEFAULT.k}, min_probability={DEFAULT.min_probability}, judged from {DEFAULT.stop_from:.0%}"
        if DEFAULT.rule == "probability"
        else f"keep={DEFAULT.keep} judged at {DEFAULT.fraction:.0%}"
        + "".join(f", then keep={r.keep:g} at {r.fraction:.0%}" for r in DEFAULT.rungs)
    )
    rule += "".join(f", {name}" for name in ("conformal", "spare_rising") if getattr(DEFAULT, name))
    lines = [
        f"# Search benchmark: {args.curves.name}",
        "",
        f"Replay of {described}; objective `{metric}` ({direction} is better; best recorded final {oracle:.4f}). "
        f"Space: {', '.join(params)} over the recorded ranges; a sampled config replays the nearest recorded run. "
        f"Seeded multivariate TPE with constant liar (5 start-up trials), {args.trials} trials per search, "
        f"{CONCURRENT} at a time, seeds {seeds[0]}-{seeds[-1]} ({len(seeds)}); engine: {engine}; evaluations every "
        f"10% of the budget. `foretune` = the default rule of `foretune search`: {rule}.",
        "",
        "Cells: mean ± standard error over seeds; regret in the metric's units (>= 0); paired columns: per seed, "
        "this strategy's regret minus that of no pruning / ASHA on the same seed. Compute on repeats: budget spent "
        "replaying a run an earlier trial of the search had run to the end (share of all the budget); compute on new "
        "runs: compute among the other trials only (share of running those to the end).",
        "",
        *table_lines(summary),
        "",
        "foretune's strategies (`early_stage` settings changed from the default):",
        "",
        *legend(strategies),
        *audit_lines(frame),
        "",
        f"Machine: 2-core AMD EPYC VM, 24 GiB RAM, no GPU ({platform.python_implementation()} "
        f"{platform.python_version()}); 15-minute load average when the table was written {os.getloadavg()[2]:.1f} "
        "(above 2, other work shared the 2 cores): seconds are indicative.",
        "",
        f"Reproduce: `nice -n 10 .venv/bin/python benchmarks/search.py {' '.join(sys.argv[1:])}` (one row per "
        "strategy and seed in the `.csv` beside this file).",
    ]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(table_lines(summary)))
    print(f"wrote {args.out}")
