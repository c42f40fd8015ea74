"""`foretune estimate`: run a short pilot and print what the search and the sweep of a config will cost."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from foretune.cli.options import ConfigArg, SetOpt, _load, console


def estimate_cmd(
    config: ConfigArg,
    set_: SetOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the estimate as one JSON object.")] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Save estimate.json in this run folder: `foretune report` then shows estimate vs actual."
        ),
    ] = None,
    price: Annotated[
        float | None,
        typer.Option(
            "--price",
            help="Dollars per device-hour (GPU-hour, or core-hour on CPU); default cost.price_per_device_hour.",
        ),
    ] = None,
    trials: Annotated[
        int | None, typer.Option("--trials", help="Trials of the search (default search.trials).")
    ] = None,
    steps: Annotated[
        int | None,
        typer.Option("--steps", help="Optimizer steps of the pilot per model (default 5; the first is warm-up)."),
    ] = None,
) -> None:
    """Time a few steps and one evaluation of each model; project the search's and the sweep's wall time,
    device-hours and dollars."""
    from foretune.cli.stop_signals import sigterm_as_ctrl_c
    from foretune.errors import Interrupted
    from foretune.search.estimate import estimate, write_estimate

    cfg = _load(config, set_)
    if out is not None:
        from foretune.folders import check_output_folder

        check_output_folder(out)
    with sigterm_as_ctrl_c() as sigterm, _pilot_progress(quiet=json_out) as on_event:
        try:
            result = estimate(cfg, steps=steps, price=price, trials=trials, on_event=on_event)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: one line, not a silent exit
            stopped = Interrupted.by(sigterm.is_set())
            raise stopped("the estimate stopped before its pilot finished; nothing was written") from None
    if out is not None:
        result["saved_to"] = str(write_estimate(result, out))
    if json_out:
        print(json.dumps(result, indent=2))
        return
    print_estimate(result)


class _pilot_progress:
    """On a terminal a spinner with the pilot's last event; in a log one timestamped line per event."""

    def __init__(self, *, quiet: bool) -> None:
        self.quiet = quiet
        self.status = None

    def __enter__(self):
        from foretune.cli.options import err_console

        if self.quiet:  # --json: stdout carries only the object; the events go to stderr
            return lambda message: err_console.print(f"{time.strftime('%H:%M:%S')} pilot {message}", highlight=False)
        if console.is_terminal:
            self.status = console.status("pilot: starting")
            self.status.__enter__()
            return lambda message: self.status.update(f"pilot: {message}")
        return lambda message: console.print(f"{time.strftime('%H:%M:%S')} pilot {message}", highlight=False)

    def __exit__(self, *exc) -> None:
        if self.status is not None:
            self.status.__exit__(*exc)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _usd(value: float | None) -> str:
    if value is None:
        return "-"
    return f"${value:,.2f}" if value >= 1 else f"${value:.4f}"


def print_estimate(result: dict[str, Any]) -> None:
    """The pilot's measurements and the two projections, as rich tables and a few sentences."""
    pilot, search, sweep = result["pilot"], result["search"], result["sweep"]
    timings = Table(
        title=f"pilot: {pilot['steps']} steps and an evaluation (as is, then answers capped) per model, "
        f"{pilot['wall_seconds']:.0f} s"
    )
    labels = (
        "model",
        "device",
        "start-up",
        "per step",
        "evaluation: early / trained",
        "final eval",
        "test eval",
        "zero-shot",
        "CPU",
    )
    for label in labels:
        timings.add_column(label, justify="right")
    for model, t in pilot["models"].items():
        timings.add_row(
            model,
            f"{t['device']} x{t['threads']} thr" if t["device"] == "cpu" else t["device"],
            f"{t['start_seconds'] + pilot['import_seconds']:.1f} s",
            f"{t['step_seconds']:.2f} s",
            f"{t['eval_seconds']:.1f} / {t['trained_eval_seconds']:.1f} s ({t['eval_products']} items)",
            f"{t['final_eval_seconds']:.1f} s ({t['final_eval_products']} items)" if "final_eval_seconds" in t else "-",
            f"{t['test_eval_seconds']:.1f} s" if t["test_eval_seconds"] else "-",
            f"{t['zero_shot_seconds']:.1f} s",
            f"{t['cpu_share']:.0%}" if t["device"] == "cpu" else "-",
        )
    console.print(timings)
    console.print(
        f"per step: mean of steps 2-{pilot['steps']} (the first step's warm-up is counted once per run as "
        f"start-up, which includes {pilot['import_seconds']:.1f} s importing the trainer in a fresh process). "
        "Evaluations up to the early fraction are timed as the pilot's (a barely trained model writes long "
        "answers), later ones and test evaluations with answers capped at the reference answers' length "
        "(a trained model stops there); the final evaluation (at the last step, data.max_final_eval_samples), test "
        "and zero-shot times are scaled per item (the final's eval-loss pass not, where it stays on the earlier "
        "evaluations' items).",
        highlight=False,
    )
    busy = [m for m, t in pilot["models"].items() if t["device"] == "cpu" and t["cpu_share"] < 0.8]
    if busy:
        console.print(
            "the machine was busy: the pilot's steps got less CPU time than their threads could use (column CPU); "
            "the estimate holds while the machine stays as busy, and is pessimistic for an idle one",
            highlight=False,
        )
    projected = Table(title=f"estimate ({search['device']}-hours; {search['slots']} run(s) side by side)")
    for label in ("job", "wall time", f"{search['device']}-hours", "dollars"):
        projected.add_column(label, justify="right")
    projected.add_row(
        f"search: {_counted(search['trials'], 'trial')}, ~{search['expected_complete']:.1f} to the end",
        _duration(search["wall_seconds"]),
        f"{search['device_hours']:.3g}",
        _usd(search["usd"]),
    )
    projected.add_row(
        f"sweep: sizes {','.join(map(str, sweep['sizes']))} x {sweep['repeats']} seed(s)",
        _duration(sweep["wall_seconds"]),
        f"{sweep['device_hours']:.3g}",
        _usd(sweep["usd"]),
    )
    console.print(projected)
    if "without_pruning" in search:  # use_upper_bound keeps an unknown share: the cost's upper end
        every = search["without_pruning"]
        console.print(
            f"with early_stage.use_upper_bound the search costs between the row above and the search without pruning: "
            f"{_duration(every['wall_seconds'])}, {every['device_hours']:.3g} {search['device']}-hours, "
            f"{_usd(every['usd'])}",
            highlight=False,
        )
    for note in result.get("not_modelled", []):
        console.print(f"not modelled: {note}", highlight=False)
    full, pruned = search["full_trial"], search["pruned_trial"]
    finals = ", ".join(
        sorted({str(t["final_eval_products"]) for t in pilot["models"].values() if "final_eval_products" in t})
    )
    evaluations = full["early_evaluations"] + full["late_evaluations"] + int(full.get("final", False))
    console.print(
        f"a full trial: {_counted(full['steps'], 'step')} + {_counted(evaluations, 'evaluation')}"
        + (f" (the last, the final, on {finals} products)" if full.get("final") and finals else "")
        + (
            f" + a test evaluation when it leads the finals so far ({search['expected_test_evaluations']:.1f} expected)"
            if full["test"]
            else ""
        )
        + f"; a pruned trial: {_counted(pruned['steps'], 'step')}"
        + f" + {_counted(pruned['early_evaluations'], 'evaluation')}"
        + "".join(
            f"; ~{r['expected_stopped']:.1f} stopped at {r['fraction']:.0%} ({r['trial']['steps']} steps)"
            for r in search.get("rungs", [])[1:]  # the later rungs (early_stage.rungs)
        )
        + ". The sweep is "
        "the whole grid at whole budgets (the adaptive choice and the early cut run less). Not counted: "
        + result["not_counted"]
        + ".",
        highlight=False,
    )
    if result["price_per_device_hour"] is None:
        console.print("dollars: give --price or set cost.price_per_device_hour", highlight=False)
    if result.get("saved_to"):
        console.print(f"saved {result['saved_to']}: `foretune report` on that run folder compares it with the search")


def _counted(count: int, noun: str) -> str:
    """'1 trial', '2 trials'."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
