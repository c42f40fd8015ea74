"""What any threshold on a ranking could reach: compute vs best sampled run kept, per curve set (design seeds).

For each curve set and seed, the default search (`foretune`) is replayed in process (`search_engines`) and its
trials are kept: the recorded run each replays, its start and end in time units, whether it ran to the end. Then,
for every trial and every judged fraction (10%, 20%, 30%, 50%), the predictor is fitted as the search fits it (the
runs finished by then in that search, refitted when `fits.refit_due` says, one fit for every prediction of one
judgement) and predicts the final of this trial and of every trial judged before it from their curves up to that
fraction. Rules are then applied offline on these predictions, with the search's trial sequence, timing and
finished runs held fixed (a cheaper rule finishes fewer runs and moves TPE: the frontier is the predictions'
frontier at the default search's operating point, not a search's):

- one cut at fraction f keeping the top share q of the trials judged so far (3 grace trials), ranked by the
  predicted final (`mean`), its optimistic end (`upper`), the score at f (`early`) or the recorded final
  (`oracle`, the ranking no predictor can beat);
- two rungs: a cut at 10% (share q1), then the top K at f2 among the trials that reached f2: by predicted final at
  both (`mean`), optimistic end then predicted final (`upper`), optimistic end at both (`upper_both`), or the same
  score at both (`early`, `oracle`).

Each rule's compute counts `stop_repeats` (a trial re-running a run an earlier trial ran to the end under that rule
stops at its first evaluation, from 20% on, after that end), as every round-8 candidate did; `new` is the compute among the other trials. Writes OUT.csv (one
row per family, setting and set: compute, new, kept over the seeds), OUT.png, and prints the markdown summary.

    OPENBLAS_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/search_frontier.py --seeds 0-9 \\
        --out benchmarks/results/search_frontier.csv
    .venv/bin/python benchmarks/search_frontier.py --from-cache --cache /tmp/frontier --out ...  # rules only, no refit
"""

from __future__ import annotations

import argparse
import itertools
import math
import pickle
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from search import STRATEGIES
from search_engines import search_inprocess
from search_sets import REPO, SCAN_BENCH, config_for, load_bank, parse_seeds

from foretune.predictors import plain_params
from foretune.predictors._base import Curve
from foretune.predictors.calibration import early_ranking
from foretune.search.fits import CachedFit
from foretune.search.rule import EarlyStageRule
from foretune.search.tuner import make_predictor_factory

LORA_PARAMS = ["learning_rate", "lora.r", "lora.alpha", "warmup_ratio"]
SETS = {  # as the `Reproduce` lines of search*.md run them
    "vlm": (SCAN_BENCH / "vlm.csv", "min", None, None, {}),
    "llm": (SCAN_BENCH / "llm.csv", "min", None, None, {}),
    "synthetic": (REPO / "tests" / "data" / "replay_curves.csv", "min", None, None, {}),
    "lora": (
        REPO / "benchmarks" / "data" / "lora_curves.csv",
        "max",
        "accuracy",
        LORA_PARAMS,
        {"learning_rate": "log", "warmup_ratio": "linear"},
    ),
}
FRACTIONS = (0.1, 0.2, 0.3, 0.5)
GRACE = 3
SHARES = tuple(round(q, 3) for q in np.arange(0.02, 1.001, 0.02))
FIRST_SHARES = (0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6)
TOPS = (1, 2, 3, 4, 5, 6, 8)


def record(name: str, seed: int, trials: int, tmp: Path) -> dict:
    """The default search of one seed and, per judged fraction and trial, the predictions of one fit."""
    curves_path, mode, metric, params, scales = SETS[name]
    bank, _ = load_bank(curves_path, tmp, scales)
    metric = metric or ("valid_loss" if "valid_loss" in bank.reported_metrics else "val_loss")
    params = params or list(bank.scales)
    default = next(s for s in STRATEGIES if s.name == "foretune")
    trace: list[dict] = []
    search_inprocess(bank, default, params=params, metric=metric, mode=mode, seed=seed, trials=trials, trace=trace)
    trace.sort(key=lambda t: t["number"])
    config = config_for(bank, params, metric=metric, mode=mode, seed=seed, trials=trials, early={})
    points = np.array([round(f, 9) for f in config.train.eval_fractions])
    curves = [
        Curve(
            points, np.array([t["run"].at(metric, f) for f in points]), params=plain_params(t["params"]), trial=str(n)
        )
        for n, t in enumerate(trace)
    ]
    index = {round(f, 9): k for k, f in enumerate(points)}
    events = [(t["end"], n, 0, None) for n, t in enumerate(trace) if t["complete"]]  # a finish, then judgements
    events += [(t["start"] + index[f], n, 1, f) for n, t in enumerate(trace) for f in FRACTIONS]
    fit = CachedFit(make_predictor_factory(config))
    finished: list[int] = []
    predictions = {}
    for _, n, kind, f in sorted(events, key=lambda e: e[:3]):
        if kind == 0:
            finished.append(n)
            if fit.fitted_on is not None:  # `EarlyStageEvaluator._warm`: refit when a run finishes, if due
                fit.predictor([curves[j] for j in sorted(finished, key=str)])
            continue
        ranked = [curves[j].upto(f) for j in range(n + 1)]
        ranked = ranked[-1:] + ranked[:-1]  # the judged trial first, as the evaluator asks
        try:
            p = fit.finals([curves[j] for j in sorted(finished, key=str)], ranked, f)
        except Exception:  # `_predict_ranked`: a failing predictor ranks by early scores
            p = early_ranking(ranked, f, mode=mode, finished=0)
        order = list(range(1, n + 1)) + [0]  # back to trial order
        predictions[(n, f)] = {
            "mean": np.asarray(p.mean, float)[order],
            "lower": np.asarray(p.lower, float)[order],
            "upper": np.asarray(p.upper, float)[order],
            "finished": len(finished),
        }
    return {
        "mode": mode,
        "runs": [t["run"].run_id for t in trace],
        "finals": np.array([t["final"] for t in trace]),
        "early": {f: np.array([c.upto(f).values[-1] for c in curves]) for f in FRACTIONS},
        "start": [t["start"] for t in trace],
        "decisions": [t["attrs"].get("early_decision") for t in trace],
        "predictions": predictions,
    }


def scores(rec: dict, n: int, f: float, family: str) -> tuple[float, list[float]]:
    """Trial n's score at f and those of trials 0..n-1, all as the family ranks them (one scale)."""
    if family == "oracle":
        values = rec["finals"][: n + 1]
    elif family == "early":
        values = rec["early"][f][: n + 1]
    else:
        p = rec["predictions"][(n, f)]
        values = p["mean"]
        if family == "upper":  # its optimistic end against the others' predicted finals (`use_upper_bound`)
            optimistic = p["upper"] if rec["mode"] == "max" else p["lower"]
            return float(optimistic[n]), [float(v) for v in values[:n]]
    return float(values[n]), [float(v) for v in values[:n]]


def apply(rec: dict, first: tuple[float, str, float], later: tuple[float, str, int] | None = None) -> dict:
    """One rule on one recorded search: first = (fraction, family, share), later = (fraction, family, top K)."""
    mode, runs, finals, start = rec["mode"], rec["runs"], rec["finals"], rec["start"]
    f1, fam1, q = first
    rule = EarlyStageRule(mode=mode, keep=q, use_upper_bound=False, grace_trials=GRACE)
    reached: list[float] = []
    done_at: dict[str, int] = {}  # run id -> the time unit at which a trial ran it to the end under this rule
    for n in range(len(runs)):
        score, others = scores(rec, n, f1, fam1)
        go = rule.decide(mean=score, lower=score, upper=score, others=others).keep
        reach = 1.0 if go else f1
        if go and later is not None and n >= GRACE:  # grace trials are never judged again
            f2, fam2, top = later
            score, everyone = scores(rec, n, f2, fam2)
            if rule.rank(score, [everyone[j] for j in range(n) if reached[j] >= f2 - 1e-9]) > top:
                reach = f2
        if runs[n] in done_at:  # `stop_repeats`: stopped at its first evaluation (from the 2nd) after that end
            k = max(1, done_at[runs[n]] - start[n] + 1)
            reach = min(reach, (k + 1) / 10) if k < 9 else reach
        reached.append(reach)
        if reach >= 1.0:
            done_at.setdefault(runs[n], start[n] + 9)
    reach_all = np.array(reached)
    best = finals.min() if mode == "min" else finals.max()
    new = [r for n, r in enumerate(reach_all) if not _is_repeat(rec, reach_all, n)]
    return {
        "compute": float(reach_all.mean()),
        "new": float(np.mean(new)) if new else math.nan,
        "kept": int(bool(np.any((np.abs(finals - best) <= 1e-12) & (reach_all >= 1.0)))),
    }


def _is_repeat(rec: dict, reached: np.ndarray, n: int) -> bool:
    return any(rec["runs"][j] == rec["runs"][n] and reached[j] >= 1.0 for j in range(n))


def rules() -> list[tuple[str, str, tuple, tuple | None]]:
    """(family, name, first, later) of every rule of the frontier."""
    out = []
    for f, family, q in itertools.product(FRACTIONS[:3], ("mean", "upper", "early", "oracle"), SHARES):
        out.append((f"one cut at {f:.0%}, {family}", f"q{q:g}", (f, family, q), None))
    # `upper`: the optimistic end at 10%, the predicted final later (round 8's `ub1_r3`); `upper_both` at both (round 7)
    families = {"mean": "mean", "upper": "mean", "upper_both": "upper", "early": "early", "oracle": "oracle"}
    for family, q1, f2, top in itertools.product(families, FIRST_SHARES, FRACTIONS[1:], TOPS):
        first = (0.1, family.removesuffix("_both"), q1)
        out.append((f"two rungs, {family}", f"q{q1:g}_{f2:g}_top{top}", first, (f2, families[family], top)))
    return out


def frontier(rows: pd.DataFrame) -> pd.DataFrame:
    """Per set and family, the cheapest rule at each share of searches that kept the best run."""
    rows = rows.sort_values(["set", "family", "kept", "compute"])
    return rows.groupby(["set", "family", "kept"], sort=False).head(1)


def needed(rec: dict, f: float, family: str) -> float | None:
    """The smallest share a one-cut rule at f must keep so that the best sampled run goes on (None: grace)."""
    best = rec["finals"].min() if rec["mode"] == "min" else rec["finals"].max()
    shares = []
    for n in np.flatnonzero(np.abs(rec["finals"] - best) <= 1e-12):
        if n < GRACE:
            return None
        score, others = scores(rec, int(n), f, family)
        rank = EarlyStageRule(mode=rec["mode"]).rank(score, others)
        shares.append((rank - 1) / (len(others) + 1))
    return min(shares)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="*", default=list(SETS), choices=list(SETS))
    parser.add_argument("--seeds", default="0-9")
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/frontier"), help="recorded searches (pickles)")
    parser.add_argument("--from-cache", action="store_true", help="only apply the rules to the cached searches")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "search_frontier.csv")
    args = parser.parse_args()
    import tempfile

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    args.cache.mkdir(parents=True, exist_ok=True)
    seeds = parse_seeds(args.seeds)
    recs: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, seed in itertools.product(args.sets, seeds):
            path = args.cache / f"{name}_{seed}.pkl"
            if not path.exists():
                if args.from_cache:
                    print(f"error: {path} is missing; run without --from-cache first", file=sys.stderr)
                    sys.exit(2)
                path.write_bytes(pickle.dumps(record(name, seed, args.trials, Path(tmp))))
                print(f"recorded {name} seed {seed}", flush=True)
            recs.setdefault(name, []).append(pickle.loads(path.read_bytes()))
    rows = []
    for name, family, setting, first, later in ((n, *r) for n in recs for r in rules()):
        outcomes = pd.DataFrame([apply(rec, first, later) for rec in recs[name]])
        rows.append({"set": name, "family": family, "rule": setting} | outcomes.mean().to_dict())
    table = pd.DataFrame(rows)
    table.to_csv(args.out, index=False)
    summary(recs, table, args.out.with_suffix(".png"))


def summary(recs: dict[str, list[dict]], table: pd.DataFrame, png: Path) -> None:
    """The markdown of search.md's frontier section (printed) and the plot."""
    for name, rec in recs.items():
        same = [(a == "pruned") == (not apply_one(r, n)) for r in rec for n, a in enumerate(r["decisions"])]
        print(
            f"{name}: the default rule re-applied offline agrees with the search's verdict on {sum(same)} of {len(same)} trials"
        )
    print("\n| set | family | cheapest at >= 90% kept | cheapest at >= 80% | compute on new runs there |")
    print("|---|---|---|---|---|")
    for (name, family), group in table.groupby(["set", "family"], sort=False):
        at90, at80 = group[group.kept >= 0.9 - 1e-9], group[group.kept >= 0.8 - 1e-9]
        best90 = at90.loc[at90.compute.idxmin()] if len(at90) else None
        best80 = at80.loc[at80.compute.idxmin()] if len(at80) else None
        cell = lambda r: "none" if r is None else f"{r.compute:.0%} ({r.rule}, kept {r.kept:.0%})"  # noqa: E731
        print(
            f"| {name} | {family} | {cell(best90)} | {cell(best80)} | {'' if best90 is None else f'{best90.new:.0%}'} |"
        )
    print("\nShare the 10% cut must keep for the best sampled run to go on, per seed (grace: a grace trial):\n")
    for name, rec in recs.items():
        for family in ("mean", "upper", "early", "oracle"):
            shares = [needed(r, 0.1, family) for r in rec]
            text = ", ".join("grace" if s is None else f"{s:.2f}" for s in shares)
            print(f"- {name}, {family}: {text}")
    plot(table, png)


def apply_one(rec: dict, n: int) -> bool:
    """Whether the default rule (one cut at 10%, top fifth by predicted final) keeps trial n offline."""
    score, others = scores(rec, n, 0.1, "mean")
    return (
        EarlyStageRule(mode=rec["mode"], keep=0.2, use_upper_bound=False, grace_trials=GRACE)
        .decide(mean=score, lower=score, upper=score, others=others)
        .keep
    )


def plot(table: pd.DataFrame, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = list(dict.fromkeys(table.set))
    fig, axes = plt.subplots(1, len(sets), figsize=(4.2 * len(sets), 4.2), sharey=True)
    styles = {"mean": "-", "upper": "--", "early": ":", "oracle": "-."}
    shown = [f"one cut at 10%, {k}" for k in styles] + [f"two rungs, {k}" for k in ("mean", "upper", "oracle")]
    for ax, name in zip(np.atleast_1d(axes), sets, strict=True):
        for family, group in frontier(table[table.set == name]).groupby("family", sort=False):
            if family not in shown:
                continue
            envelope = group.sort_values("compute")  # the cheapest rule at each level; a level above it at less cost
            envelope = envelope[envelope.kept > envelope.kept.shift(1, fill_value=-1).cummax()]
            x, y = [*envelope.compute, 1.0], [*envelope.kept, envelope.kept.iloc[-1]]
            kind = family.rsplit(", ", 1)[1]
            color = "0.3" if kind == "oracle" else "C0" if family.startswith("one") else "C3"
            ax.step(x, y, where="post", ls=styles[kind], color=color, marker="o", markevery=list(range(len(x) - 1)),
                    markersize=3, label=family)  # fmt: skip
        ax.add_patch(plt.Rectangle((0, 0.9), 0.35, 0.1, color="green", alpha=0.15, label="target: <= 35%, >= 90%"))
        ax.set(title=name, xlabel="compute (share of no pruning)", xlim=(0, 1), ylim=(0.3, 1.02))
    np.atleast_1d(axes)[0].set_ylabel("best sampled run kept (share of seeds 0-9)")
    np.atleast_1d(axes)[-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(png, dpi=110)


if __name__ == "__main__":
    main()
