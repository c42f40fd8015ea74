"""The markdown of `benchmarks/estimate.py`: the jobs' table and notes, and the one-trial section.

Only formatting: every figure comes from the rows `benchmarks/estimate.py` measured (or kept in its run folder).
"""

from __future__ import annotations

import platform
from pathlib import Path

ONE_TRIAL = "## One full trial against its estimate, phase by phase"  # the heading `write_one_trial` replaces under


def one_trial_section(row: dict) -> list[str]:
    """The markdown of `one_trial`'s row: estimated vs measured, phase by phase."""
    est, trial = row["estimate"], row["trial"]
    model, timing = next(iter(est["pilot"]["models"].items()))
    shape = est["search"]["full_trial"]
    steps, reports = trial["steps"], trial["reports"]
    last = reports[-1]
    between = sum(at - steps[step - 1] for _, step, at, _ in reports[:-1])  # evaluations before the last step
    measured = {
        "import (a fresh process)": trial["imported"] - trial["started"],
        f"start-up and {len(steps)} steps": steps[-1] - trial["imported"] - between,
        f"{len(reports) - 1} evaluation{'' if len(reports) == 2 else 's'} before the last step": between,
        "final evaluation": last[2] - steps[-1],
        "test evaluation": trial["ended"] - last[2],
        "whole trial": trial["ended"] - trial["started"],
    }
    estimated = dict(
        zip(
            measured,
            [
                est["pilot"]["import_seconds"],
                timing["start_seconds"] + shape["steps"] * timing["step_seconds"],
                shape["early_evaluations"] * timing["eval_seconds"]
                + shape["late_evaluations"] * timing["trained_eval_seconds"],
                timing["final_eval_seconds"],
                timing["test_eval_seconds"],
                est["search"]["full_trial_seconds"][model],
            ],
            strict=True,
        )
    )
    sets = "".join(f" --set {k}={v}" for k, v in row["overrides"].items())
    lines = [
        f"{ONE_TRIAL} ({row.get('measured', 'time not recorded')})",
        "",
        f"Reproduce: `.venv/bin/python benchmarks/estimate.py --one-trial{sets}` (`foretune estimate "
        f"{row['config']} --json`, then one full trial of it in a fresh process with the trial's threads and Ray's "
        "worker niceness, each phase on its own clock; a search's scheduling is not part of it). No outer `nice`: "
        "the pilot and the trial renice themselves by 15, as Ray's workers do (under `nice -n 10` they would run at 19).",
        "",
        f"- Machine: 2-core AMD EPYC VM, 24 GiB, no GPU; load average {row['pilot_load']:.1f} during the pilot "
        f"({row['pilot_wall']:.0f} s), {row['trial_load']:.1f} during the trial (2.0 = both cores busy: other jobs "
        "beside this one above that).",
        f"- The trial's evaluations: {', '.join(f'{f:.0%} on {n or 0:.0f} products' for f, _, _, n in reports)}; the pilot "
        f"timed {timing['eval_products']} products ({timing['trained_eval_seconds']:.1f} s with answers capped) and "
        f"scales the final to {timing['final_eval_products']} per product" + _loss_apart(timing) + ".",
        "",
        "| phase | estimated | measured | error |",
        "|---|---|---|---|",
    ]
    for phase, value in measured.items():
        lines.append(f"| {phase} | {estimated[phase]:.1f} s | {value:.1f} s | {_pct(estimated[phase], value)} |")
    return lines


def _load(value: float) -> str:
    return "not recorded" if value != value else f"{value:.1f}"  # NaN: a pilot kept from an earlier attempt


def _pct(estimated: float, actual: float) -> str:
    return f"{(estimated - actual) / actual:+.0%}"


def write_results(rows: list[dict], path: Path) -> None:
    lines = [
        "# Pilot estimate vs the real search (`foretune estimate`)",
        "",
        "Reproduce: `nice -n 10 .venv/bin/python benchmarks/estimate.py` (each job: the pilot, then the search).",
        "",
        f"- Machine: 2-core AMD EPYC VM, 24 GiB RAM, no GPU, Python {platform.python_version()}. The load average, "
        "sampled every 5 s during the pilot and during the search, is in the table (2.0 = both cores busy; above it "
        "other jobs shared the machine); each job's own line below says how it was run.",
        "- Target: the estimated wall time of the search within +-30% of the measured one.",
        "",
        "| job | pilot wall | load (pilot / search) | estimated wall | measured wall | error | est. trials span "
        "| actual span | est. core-hours | actual core-hours | to the end est. / actual |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        est, act, search = row["estimate"], row["actual"], row["estimate"]["search"]
        if row["search_wall"] is None:  # still running: once past the estimate, the error can only grow
            elapsed = act["elapsed_seconds"]
            passed = elapsed > est["search_wall_seconds"]
            bound = f"below {_pct(est['search_wall_seconds'], elapsed)}" if passed else "not known yet"
            lines.append(
                f"| {row['name']} | {row['pilot_wall']:.0f} s | {_load(row['pilot_load'])} / {row['search_load']:.1f} "
                f"now | {est['search_wall_seconds']:.0f} s | still running: {act['finished']} of {search['trials']} "
                f"trials done {elapsed:.0f} s after the first started | {bound} | {search['trials_wall_seconds']:.0f} s | - "
                f"| {est['search_device_hours']:.3f} | - | {search['expected_complete']:.1f} / - |"
            )
            continue
        lines.append(
            f"| {row['name']} | {row['pilot_wall']:.0f} s | {_load(row['pilot_load'])} / {row['search_load']:.1f} "
            f"| {est['search_wall_seconds']:.0f} s | {row['search_wall']:.0f} s "
            f"| {_pct(est['search_wall_seconds'], row['search_wall'])} | {search['trials_wall_seconds']:.0f} s "
            f"| {act['trials_wall_seconds']:.0f} s | {est['search_device_hours']:.3f} | {act['device_hours']:.3f} "
            f"| {search['expected_complete']:.1f} / {act['complete']} |"
        )
    kept = without_one_trial_section(path.read_text() if path.is_file() else "")[1]
    lines += ["", *([kept.rstrip("\n"), ""] if kept else []), "## Jobs", ""]
    for row in rows:
        est, act = row["estimate"], row["actual"]
        timing = next(iter(est["pilot"]["models"].values()))
        search = est["search"]
        lines += [
            f"**{row['name']}**: {row['what']} (`{row['command']}`).",
            f"Pilot ({est['pilot']['steps']} steps, one evaluation of {timing['eval_products']} products): "
            f"{timing['step_seconds']:.2f} s per step (steps 2-{est['pilot']['steps']}; the first took "
            f"{timing['first_step_seconds']:.1f} s with its warm-up), evaluation {timing['eval_seconds']:.1f} s as "
            f"trained for {est['pilot']['steps']} steps and {timing['trained_eval_seconds']:.1f} s with answers capped "
            f"at {timing['answer_tokens']} tokens, start-up {timing['start_seconds']:.1f} s + "
            f"{est['pilot']['import_seconds']:.1f} s import.",
            f"Estimated: a full trial {next(iter(search['full_trial_seconds'].values())):.0f} s, a pruned one "
            f"{next(iter(search['pruned_trial_seconds'].values())):.0f} s, zero-shot baseline "
            f"{search['zero_shot_seconds']:.0f} s. Measured: full trials {act.get('full_trial_seconds', [])} s, "
            f"pruned {act.get('pruned_trial_seconds', [])} s.",
            "",
        ]
    lines += [
        "**Reading.** The same work took very different times as the machine's load moved: in one search, full "
        "trials of identical budget differed by several times (see the measured durations above). The pilot "
        "measures the machine as it is during the pilot, so its estimate is as good as the assumption that the "
        "load stays that way; where the load fell after the pilot the search ran faster than estimated, where it "
        "rose, slower. `foretune estimate` now also prints the share of CPU time the pilot's steps got (column "
        "CPU), which says when the estimate was taken on a busy machine (added after these runs).",
        "",
        "The measured wall time is the `foretune search` command from start to exit (Ray start-up, the trials, the "
        "zero-shot baseline, the report); the estimate leaves out Ray's own start-up and shutdown. Trial spans and "
        "core-hours come from the study (first trial start to last trial end; each trial's time x its cores).",
        "",
        "Run notes (2026-12-01): both jobs' first searches failed at Ray start-up (Ray waits 30 s for its raylet: "
        "'the current node timed out during startup') when the machine's load average reached 44. The small job "
        "was rerun from its pilot; the default job's search was rerun at 19:08 keeping its pilot of 18:52-19:00, "
        "whose load average the script did not record (`uptime` read 12.7 and 15.7 during it).",
    ]
    path.write_text("\n".join(lines) + "\n")


def _loss_apart(timing: dict) -> str:
    """Where the final's eval loss stays on the earlier evaluations' products: what the pilot timed for it."""
    if timing.get("final_loss_products", timing["final_eval_products"]) >= timing["final_eval_products"]:
        return ""
    return (
        f" (its generation only: its eval loss stays on the {timing['final_loss_products']} earlier products, "
        f"a pass the pilot timed alone at {timing['loss_eval_seconds']:.1f} s)"
    )


def without_one_trial_section(text: str) -> tuple[str, str]:
    """(the results file without its one-trial section, that section or ''): a rewrite keeps it."""
    start = text.find(ONE_TRIAL)
    if start < 0:
        return text, ""
    end = text.find("\n## ", start + 1) + 1 or len(text)
    return text[:start] + text[end:], text[start:end]


def write_one_trial(row: dict, path: Path) -> None:
    """Put the one-trial section into the results file, before the jobs' notes (replacing an earlier one)."""
    text = without_one_trial_section(path.read_text())[0]
    at = text.find("## Jobs")
    path.write_text(text[:at] + "\n".join(one_trial_section(row)) + "\n\n" + text[at:])
