"""Record real LoRA fine-tuning curves of the built-in model, for the predictor benchmarks.

Each configuration is one `LoraTrainer` run of SmolLM2-135M-Instruct (the built-in model) on the
built-in synthetic products, with the default job's data and task settings (pinned below, copied from
configs/default.yaml), evaluated at every 10% of its budget. The configurations come from a seeded,
scrambled Sobol design over the default job's search space (learning rate, LoRA rank, alpha, warm-up),
fixed by `--seed` before any result exists: its first N points do not depend on N, so `--configs` can
grow later and the trials already recorded stay the same configurations.

Output: one long table in the format `foretune rank` reads, one row per evaluation:
``trial, fraction, step, <metrics: accuracy, f1, ..., eval_loss, train_loss>, learning_rate, lora.r,
lora.alpha, warmup_ratio``. Each finished configuration is appended at once (the file is rewritten
atomically), so a killed run loses only the configuration in progress, and a rerun skips the trials
already in the file. The settings are written beside it (`<out>.settings.json`); a rerun with other
settings is refused. Which trials are for design and which are only reported on: benchmarks/data/README.md.

    .venv/bin/python benchmarks/record_lora_curves.py --configs 1 --max-steps 4 --eval-fractions 0.5 1.0 --out /tmp/try.csv
    nice -n 15 setsid nohup .venv/bin/python benchmarks/record_lora_curves.py --configs 40 \\
        > /tmp/lora_curves.log 2>&1 &

Other products, evaluation points and final size make another set (`--source` for real products, `--data-seed`,
`--eval-fractions`, `--final-eval-products`; `--space job` the default job's space since round 6, over its 15 steps;
the other sets' commands are in benchmarks/data/README.md);
`--shard K/N` records every N-th trial, so N processes side by side (one core each) share one recording.
"""

from __future__ import annotations

import argparse
import copy
import fcntl
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from rich.console import Console
from scipy.stats import qmc

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from foretune.config import ExperimentConfig, ParamSpec, validate_config  # noqa: E402
from foretune.errors import ForetuneError  # noqa: E402
from foretune.keys import FRACTION_KEY, STEP_KEY  # noqa: E402
from foretune.trainers.data import load_splits  # noqa: E402
from foretune.trainers.reporters import Decision, MemoryReporter  # noqa: E402

OUT = REPO / "benchmarks" / "data" / "lora_curves.csv"
TRIAL = "trial"
# Left out: counts of the validation set (the same at every evaluation) and per-attribute scores (some
# attributes have one validation label, so their score can stay constant for a whole run). A column
# constant within every trial would be read as a hyperparameter by `foretune rank` and the replay bank.
LEFT_OUT_COLUMNS = ("n_products", "n_values")
LEFT_OUT_PREFIXES = ("labels/", "acc/")
# The default job's model, data and task settings (configs/default.yaml, 2026-12-01), pinned here so a
# recording resumed across sessions keeps its settings while the default job is redesigned.
BASE = {
    "name": "lora-curves",
    "model": {"name": "smollm2-135m", "max_length": 128},
    "data": {
        "source": "synthetic",
        "synthetic_size": 600,
        "seed": 0,
        "test_fraction": 0.2,
        "validation_fraction": 0.1,
        "max_eval_samples": 12,
    },
    "task": {"prompt_style": "plain", "eval_method": "generate", "max_new_tokens": 48, "test_on_completion": False},
    "train": {
        "batch_size": 4,
        "lr_scheduler": "linear",
        "lora": {"dropout": 0.05, "target_modules": ["q_proj", "v_proj"]},
        "eval_fractions": [round(0.1 * k, 1) for k in range(1, 11)],
        "seed": 0,
        "device": "cpu",
    },
}
# The default job's search space (configs/default.yaml, 2026-12-01); keys are dotted `train` fields.
SPACE = {
    "learning_rate": ParamSpec(type="log_float", low=1e-4, high=5e-3),
    "lora.r": ParamSpec(type="categorical", choices=[4, 8, 16]),
    "lora.alpha": ParamSpec(type="categorical", choices=[8, 16, 32]),
    "warmup_ratio": ParamSpec(type="float", low=0.0, high=0.3),
}
# `--space job`: the default job's space since round 6 (configs/default.yaml, 2026-12-05: learning rate 1e-3 to
# 6e-3, no warm-up), pinned for the same reason; a recording in it runs the job's budget (`--max-steps 15`).
JOB_SPACE = {
    "learning_rate": ParamSpec(type="log_float", low=1e-3, high=6e-3),
    "lora.r": ParamSpec(type="categorical", choices=[4, 8, 16]),
    "lora.alpha": ParamSpec(type="categorical", choices=[8, 16, 32]),
}
SPACES = {"paper": SPACE, "job": JOB_SPACE}


def _from_unit(spec: ParamSpec, u: float) -> float | int:
    """The value of `spec` at quantile `u` in [0, 1) of its range (categorical: equal shares)."""
    if spec.type == "categorical":
        return spec.choices[min(int(u * len(spec.choices)), len(spec.choices) - 1)]
    if spec.type == "log_float":
        return float(math.exp(math.log(spec.low) + u * (math.log(spec.high) - math.log(spec.low))))
    return float(spec.low + u * (spec.high - spec.low))


def design(n: int, seed: int, space: Mapping[str, ParamSpec] = SPACE) -> list[dict[str, float | int]]:
    """The first `n` points of the seeded scrambled Sobol sequence over `space`, as hyperparameter settings."""
    points = qmc.Sobol(d=len(space), scramble=True, seed=seed).random_base2(max(0, math.ceil(math.log2(n))))
    return [
        {name: _from_unit(spec, u) for (name, spec), u in zip(space.items(), row, strict=True)} for row in points[:n]
    ]


def base_settings(args: argparse.Namespace) -> dict:
    """`BASE` with the data and evaluation options of this recording (the defaults give `BASE` itself, so
    the committed recording's settings file still matches)."""
    base = copy.deepcopy(BASE)
    if args.source is not None:  # a file of real products, read in place (never copied into the repo)
        base["data"]["source"] = str(args.source.resolve())
        del base["data"]["synthetic_size"]
    if args.data_seed is not None:
        base["data"]["seed"] = args.data_seed
    if args.eval_products is not None:
        base["data"]["max_eval_samples"] = args.eval_products
    if args.final_eval_products is not None:
        base["data"]["max_final_eval_samples"] = args.final_eval_products
    if args.validation_fraction is not None:  # the job holds 72 validation products since round 56 (0.12 of 600)
        base["data"]["validation_fraction"] = args.validation_fraction
    if args.bf16 is not None:  # pinned, so a recording resumed on a CPU without bf16 is refused, not mixed
        base["train"]["bf16"] = args.bf16
    if args.eval_fractions is not None:
        base["train"]["eval_fractions"] = args.eval_fractions
    if args.space == "job":
        # The job searches no warm-up, so it trains without one; it judges at 20%, and the config's default
        # judgement (10%) would add an evaluation the job does not make.
        base["train"]["warmup_ratio"] = 0.0
        base["early_stage"] = {"fraction": 0.2}
    return base


def settings(args: argparse.Namespace) -> dict:
    """Everything that makes two recordings comparable (written beside the CSV, checked on resume)."""
    base = base_settings(args)
    if args.source is not None:  # as seen from the repository, so a recording resumes in another checkout
        base["data"]["source"] = os.path.relpath(base["data"]["source"], REPO)
    return {
        "base": base,
        "space": {k: v.model_dump(exclude_none=True) for k, v in SPACES[args.space].items()},
        "max_steps": args.max_steps,
        "eval_method": args.eval_method,
        "design_seed": args.seed,
    }


def check_settings(out: Path, wanted: dict) -> None:
    """Write the settings file for a new recording; refuse to extend one made with other settings."""
    path = out.with_suffix(".settings.json")
    if out.exists() and path.exists():
        recorded = json.loads(path.read_text())
        if recorded != json.loads(json.dumps(wanted)):
            differ = sorted(k for k in wanted if recorded.get(k) != json.loads(json.dumps(wanted[k])))
            raise ForetuneError(
                f"{out} was recorded with other settings ({', '.join(differ)} differ, see {path}); "
                "rerun with the recorded --max-steps / --seed / --eval-method, or give a new --out"
            )
        return
    if out.exists():
        raise ForetuneError(f"{out} exists without {path.name}; give a new --out or remove the old file")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(wanted, indent=2) + "\n")


def recorded_trials(out: Path) -> set[int]:
    if not out.exists():
        return set()
    return set(pd.read_csv(out, usecols=[TRIAL])[TRIAL].astype(int))


def append_atomically(out: Path, rows: pd.DataFrame) -> None:
    """Add one configuration's rows: the file is replaced whole, so it never holds half a configuration;
    under a lock, so that shards of one recording (`--shard`) running side by side never lose each other's."""
    with open(out.with_suffix(".settings.json")) as lock:  # written before any trial runs
        fcntl.flock(lock, fcntl.LOCK_EX)
        _append(out, rows)


def _append(out: Path, rows: pd.DataFrame) -> None:
    table = pd.concat([pd.read_csv(out), rows], ignore_index=True) if out.exists() else rows
    handle, staging = tempfile.mkstemp(prefix=f".{out.name}-", dir=out.parent)
    try:
        with os.fdopen(handle, "w") as f:
            table.to_csv(f, index=False, float_format="%.6g")
        os.chmod(staging, 0o644)  # mkstemp makes it private; the data file is for everyone
        os.replace(staging, out)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise


class PrintingReporter(MemoryReporter):
    """Keeps every evaluation (as MemoryReporter) and prints one line per evaluation."""

    def __init__(self, console: Console, trial: int) -> None:
        super().__init__()
        self.console, self.trial = console, trial

    def report(self, fraction: float, step: int, metrics: Mapping[str, float]) -> Decision:
        shown = "  ".join(f"{k} {v:.4g}" for k, v in metrics.items() if k in ("accuracy", "eval_loss", "train_loss"))
        self.console.print(f"  trial {self.trial}  fraction {fraction:.1f}  step {step}  {shown}", highlight=False)
        return super().report(fraction, step, metrics)


def run_config(trial: int, params: dict, args: argparse.Namespace, splits, console: Console) -> pd.DataFrame:
    """One LoRA run of `params`: its curve with the trial id and hyperparameters on every row."""
    from foretune.trainers.lora import LoraTrainer  # torch: imported only when something is recorded

    overrides = {f"train.{name}": value for name, value in params.items()}
    overrides |= {"train.max_steps": args.max_steps, "train.num_threads": args.threads}
    overrides["task.eval_method"] = args.eval_method
    config: ExperimentConfig = validate_config(base_settings(args), "record_lora_curves.BASE").with_overrides(overrides)
    reporter = PrintingReporter(console, trial)
    LoraTrainer(config, splits=splits).fit(reporter, evaluate_test=False)
    curve = reporter.frame()
    left_out = [c for c in curve.columns if c in LEFT_OUT_COLUMNS or c.startswith(LEFT_OUT_PREFIXES)]
    curve = curve.drop(columns=left_out)
    metrics = [c for c in curve.columns if c not in (FRACTION_KEY, STEP_KEY)]
    curve.insert(0, TRIAL, trial)
    return curve[[TRIAL, FRACTION_KEY, STEP_KEY, *metrics]].assign(**params)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", type=int, default=40, help="configurations of the design to record (>= 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the Sobol design")
    parser.add_argument(
        "--max-steps", type=int, help="budget of each run in optimizer steps (default: 20; with --space job, 15)"
    )
    parser.add_argument(
        "--space",
        choices=sorted(SPACES),
        default="paper",
        help="the searched space: 'paper' (learning rate 1e-4 to 5e-3, rank, alpha, warm-up 0-0.3: the committed "
        "sets) or 'job' (the default job's: learning rate 1e-3 to 6e-3, rank, alpha, no warm-up)",
    )
    parser.add_argument(
        "--eval-method",
        choices=["generate", "teacher_forced"],
        default="generate",
        help="how evaluations score answers: 'generate' as the default job (most of a run's time on a CPU), "
        "'teacher_forced' (one forward pass: faster, but a different metric early on)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument(
        "--source", type=Path, help="products from this file or folder (any `data.source` format; default: synthetic)"
    )
    parser.add_argument("--data-seed", type=int, help="seed of the products and splits (default: BASE's, 0)")
    parser.add_argument("--eval-products", type=int, help="validation products scored at each evaluation (BASE: 12)")
    parser.add_argument("--final-eval-products", type=int, help="... and at the last one (default: the same)")
    parser.add_argument(
        "--eval-fractions", type=float, nargs="+", help="fractions of the budget evaluated (BASE: every 0.1)"
    )
    parser.add_argument(
        "--validation-fraction", type=float, help="share of the products held out for validation (BASE: 0.1)"
    )
    parser.add_argument(
        "--bf16",
        choices=["auto", "on", "off"],
        help="train.bf16 pinned in the settings (BASE: unset, the config's 'auto': bf16 where the CPU has it)",
    )
    parser.add_argument(
        "--shard",
        default="0/1",
        help="K/N: record only the trials whose id is K modulo N (run N shards side by side, one per core)",
    )
    parser.add_argument("--out", type=Path, default=OUT, help="the long-format CSV to append to")
    args = parser.parse_args(argv)
    if args.max_steps is None:
        args.max_steps = 15 if args.space == "job" else 20
    for name in ("configs", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")  # exits 2
    try:
        args.shard_index, args.shard_count = (int(part) for part in args.shard.split("/"))
    except ValueError:
        parser.error(f"--shard must be K/N with integers, got {args.shard!r}")
    if not 0 <= args.shard_index < args.shard_count:
        parser.error(f"--shard K/N needs 0 <= K < N, got {args.shard}")
    if args.source is not None and not args.source.exists():
        parser.error(
            f"--source {args.source} does not exist (a products file or folder, e.g. one under ../shared/data)"
        )
    for name in ("eval_products", "final_eval_products"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.validation_fraction is not None and not 0 < args.validation_fraction < 1:
        parser.error(f"--validation-fraction must lie between 0 and 1, got {args.validation_fraction}")
    fractions = args.eval_fractions or BASE["train"]["eval_fractions"]
    if sorted(fractions) != fractions or fractions[-1] != 1.0 or fractions[0] <= 0:
        parser.error(f"--eval-fractions must rise from above 0 to 1.0, got {fractions}")
    evaluations = len(fractions)
    if args.max_steps < evaluations:
        # Fewer steps than evaluation points would merge points and never report fraction 1.0.
        parser.error(f"--max-steps must be >= {evaluations} (one step per evaluation), got {args.max_steps}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(soft_wrap=True)  # whole lines in a log file too
    try:
        check_settings(args.out, settings(args))
        done = recorded_trials(args.out)
        todo = [
            (t, p)
            for t, p in enumerate(design(args.configs, args.seed, SPACES[args.space]))
            if t not in done and t % args.shard_count == args.shard_index
        ]
        console.print(f"{len(done)} configuration(s) in {args.out}; {len(todo)} to record", highlight=False)
        splits = load_splits(validate_config(base_settings(args)).data, offline=True) if todo else None
        for k, (trial, params) in enumerate(todo, 1):
            started = time.perf_counter()
            shown = ", ".join(f"{n}={v:.3g}" if isinstance(v, float) else f"{n}={v}" for n, v in params.items())
            console.print(f"[{k}/{len(todo)}] trial {trial}: {shown}", highlight=False)
            append_atomically(args.out, run_config(trial, params, args, splits, console))
            console.print(f"[{k}/{len(todo)}] trial {trial} recorded in {time.perf_counter() - started:.0f} s")
    except ForetuneError as error:
        console.print(f"error: {error}", highlight=False)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
