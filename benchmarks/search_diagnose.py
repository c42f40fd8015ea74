"""Where a cheap rule loses the best sampled run: one line per lost search (design seeds by default).

For each search where no trial replaying the best sampled run ran to the end, it prints, for the first trial that
replayed that run: the fraction at which it was cut, how many runs had finished then, its prediction and interval
(or probability) at the cut against its true final, and what it was compared with (the rank rule's kept boundary:
the `allowed`-th best of the other trials' predicted finals; the probability rule's k-th best final so far).

    nice -n 10 .venv/bin/python benchmarks/search_diagnose.py --curves tests/data/replay_curves.csv --mode min \\
        --only foretune_rungs3_rep foretune_k3_rep --seeds 0-9
"""

from __future__ import annotations

import argparse
from pathlib import Path

from search import STRATEGIES
from search_engines import search_inprocess
from search_sets import add_curve_set_arguments, load_set, parse_seeds

from foretune.search.rule import EarlyStageRule


def lost_lines(trace: list[dict], mode: str) -> list[str]:
    """The cut of the first trial that replayed the best sampled run, when no trial replaying it finished."""
    pick = min if mode == "min" else max
    best = pick(t["final"] for t in trace)
    replays = [t for t in trace if t["final"] == best]
    if any(t["complete"] for t in replays):
        return []
    t = min(replays, key=lambda t: t["number"])
    cut = t["decisions"][-1] if t["decisions"] else {}
    attrs = t["attrs"]
    what = (
        f"repeat of {attrs['repeat_of']}"
        if "repeat_of" in attrs
        else (
            f"P(beat)={attrs['beat_probability']:.2f} vs k-th best final {attrs['beat_target']:.4f}, "
            f"predicted {attrs.get('judged_prediction', float('nan')):.4f}"
            if "beat_probability" in attrs and attrs.get("early_decision") == "pruned" and not cut.get("pruned")
            else f"predicted {cut.get('mean', float('nan')):.4f} [{cut.get('lower', float('nan')):.4f}, "
            f"{cut.get('upper', float('nan')):.4f}] rung {cut.get('rung', 0) + 1}"
            + (" ranked by its optimistic end" if cut.get("optimistic") else "")
            + f" rank {cut.get('rank')}/{cut.get('n')} (kept {cut.get('allowed')}), "
            f"boundary {cut.get('boundary', float('nan')):.4f}, best other predicted {cut.get('best_other', float('nan')):.4f}"
        )
    )
    return [
        f"trial {t['number']} (of {len(trace)}; {len(replays)} replays) cut at {t['reached']:.0%} with "
        f"{t['finished_then']} runs finished: final {best:.4f}; {what}; basis: {attrs.get('early_basis', '')[:60]}"
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_curve_set_arguments(parser, seeds="0-9")
    parser.add_argument("--only", nargs="+", required=True)
    args = parser.parse_args()
    import tempfile

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        bank, _, metric, params = load_set(args, Path(tmp))
        for strategy in [s for s in STRATEGIES if s.name in args.only]:
            lost = 0
            for seed in parse_seeds(args.seeds):
                trace: list[dict] = []
                decisions: dict[str, list[dict]] = {}

                def note(key: str, decisions=decisions) -> None:
                    EarlyStageRule.current = decisions.setdefault(key, [])

                search_inprocess(
                    bank, strategy, params=params, metric=metric, mode=args.mode, seed=seed, trials=args.trials,
                    trace=trace, before_judge=note,
                )  # fmt: skip
                for t in trace:
                    t["decisions"] = decisions.get(str(t["number"]), [])
                for line in lost_lines(trace, args.mode):
                    lost += 1
                    print(f"{args.curves.name} {strategy.name} seed {seed}: {line}", flush=True)
            print(f"{args.curves.name} {strategy.name}: lost {lost} of {len(parse_seeds(args.seeds))}", flush=True)


_decide = EarlyStageRule.decide


def _logged_decide(self, *, mean, lower, upper, others, rung=0):
    """`EarlyStageRule.decide`, noting what the verdict compared (benchmark instrumentation only)."""
    verdict = _decide(self, mean=mean, lower=lower, upper=upper, others=others, rung=rung)
    ordered = sorted(others, reverse=self.mode == "max")
    boundary = ordered[verdict.allowed - 1] if len(ordered) >= verdict.allowed else float("nan")
    note = {"mean": mean, "lower": lower, "upper": upper, "rank": verdict.rank, "n": len(others) + 1}
    note |= {"allowed": verdict.allowed, "boundary": boundary, "pruned": not verdict.keep, "rung": rung}
    note["optimistic"] = self.optimistic(rung)  # per rung (`rungs[].use_upper_bound`)
    note["best_other"] = ordered[0] if ordered else float("nan")
    if EarlyStageRule.current is not None:
        EarlyStageRule.current.append(note)
    return verdict


EarlyStageRule.current = None
EarlyStageRule.decide = _logged_decide

if __name__ == "__main__":
    main()
