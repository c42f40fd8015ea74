"""How high can warm Spearman go? A ceiling per curve set, from the noise of the recorded finals (issue 10).

A recorded final is itself a measurement: a validation loss on a finite set, an accuracy on 12 products.
A predictor that knew each run's true final exactly would still rank the *recorded* finals at less than 1.
This script estimates that Spearman per set, on exactly the warm draws of `benchmarks/cold_warm.py` (same
seeds: each draw's study, the judged half), beside `auto`'s warm Spearman and the snapshot rule's on
the same draws. It is a benchmark figure, not product output. Estimates (each says its assumption):

- **replicate**: scan-bench records each checkpoint's loss on a second held-out set (`test_loss` beside
  `val_loss`). Raw: Spearman(test final, val final) on the judged runs, the rank agreement of two
  measurements of one model. Parametric: noise variance = var(val - test) / 2 over the pool (two
  independent same-size sets; a real difference between the sets counts as noise, so conservative).
- **late-curve noise**: the evaluations at fraction >= 0.5 (the last 5 at most) minus a quadratic in the
  fraction (a line with 3 points), pooled residual variance over the pool's runs. Assumes independent
  noise per evaluation around a smooth curve: curvature beyond a quadratic counts as noise (too high);
  evaluations on the *same* products share their draw of products, which it does not see (too low).
- **binomial** (accuracy): the final as k right of n, n = 12 (one draw per validation product: the most
  noise a mean over 12 products can have) and n = 46 (the recorded set's 46 non-null values, independent:
  the least). Evaluations on one fixed product set share their hard products, which only lowers the
  noise that matters for ranking, so n = 12 is a floor of the ceiling. The fresh LoRA set's finals score 48
  products (180 non-null values): n = 48 / 180; the AE-110K set's 48 real products (123 values): n = 48 / 123;
  the OA-Mine set's 48 (236 values): n = 48 / 236; the job72 set's 72 (the default job's since round 56, 282
  values): n = 72 / 282.
- **generator** (`tests/data/replay_curves.csv` only, made by `tests/data/make_replay_curves.py` with
  known noise): "measurement" adds the generator's 0.008 evaluation noise to the final; "Bayes at 0.2"
  is the posterior mean of the noise-free final given the run's hyperparameters and its two points at
  <= 0.2 under the generator's own model (importance sampling), i.e. the best any predictor can do there.

Parametric ceilings: true finals T = the recorded finals shrunk to the variance left after the noise
(pool-level), then the mean over `--boot` noise draws of Spearman(T, T + noise) on the judged runs.
Also shown (a reference, not a ceiling): Spearman(the run's last evaluation before the final, final).

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/warm_ceiling.py [--repeats 20] [--also learned] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.stats import rankdata  # noqa: E402

from foretune.predictors import Curve, metrics  # noqa: E402
from foretune.predictors._base import final_value  # noqa: E402
from foretune.predictors.io import read_curves  # noqa: E402
from foretune.search.report import markdown_table  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from cold_warm import complete_runs, score  # noqa: E402
from predictors import DATA, DESIGN_VLM_EPOCHS, load_groups  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
LORA = REPO / "benchmarks" / "data" / "lora_curves.csv"
REPLAY = REPO / "tests" / "data" / "replay_curves.csv"
LORA_PARAMS = ["learning_rate", "lora.r", "lora.alpha", "warmup_ratio"]
# Validation products scored at the final; non-null values among them (accuracy_micro's denominator).
BINOMIAL_N = (12, 46)
FRESH = REPO / "benchmarks" / "data" / "lora_curves_fresh.csv"
FRESH_BINOMIAL_N = (48, 180)  # its finals: 48 products (seed 1's first 48 validation products), 180 values
AE110K = REPO / "benchmarks" / "data" / "lora_curves_ae110k.csv"
AE110K_BINOMIAL_N = (48, 123)  # its finals: the first 48 validation products of split seed 2, 123 values
OAMINE = REPO / "benchmarks" / "data" / "lora_curves_oamine.csv"
OAMINE_BINOMIAL_N = (48, 236)  # its finals: the first 48 validation products of split seed 3, 236 values
JOB72 = REPO / "benchmarks" / "data" / "lora_curves_job72.csv"
JOB72_BINOMIAL_N = (72, 282)  # its finals: the job's 72 validation products (data seed 0, round 56), 282 values
REPLAY_EVAL_NOISE = 0.008  # tests/data/make_replay_curves.py: rng.normal(0, 0.008) on every evaluation


# -- noise estimates ---------------------------------------------------------------------------------


def late_noise_variance(curves: list[Curve]) -> float:
    """Pooled variance of the evaluations at fraction >= 0.5 (the last 5 at most) around a quadratic
    (a line with 3 points) in the fraction; runs with fewer than 3 such points are skipped."""
    rss = dof = 0.0
    for curve in curves:
        late = curve.fractions >= 0.5 - 1e-9
        x, y = curve.fractions[late][-5:], curve.values[late][-5:]
        if len(y) < 3 or not np.isfinite(y).all():
            continue
        degree = 2 if len(y) >= 4 else 1
        residual = y - np.polyval(np.polyfit(x, y, degree), x)
        rss += float(residual @ residual)
        dof += len(y) - degree - 1
    return rss / dof if dof else float("nan")


def true_finals(finals: np.ndarray, pool_finals: np.ndarray, variance: float) -> np.ndarray:
    """The finals shrunk toward the pool mean so that their spread is what is left after the noise."""
    mean, total = pool_finals.mean(), pool_finals.var(ddof=1)
    return mean + (finals - mean) * np.sqrt(max(0.0, 1.0 - variance / total))


def rank_agreement(truth: np.ndarray, noisy: np.ndarray) -> float:
    """Mean Spearman of `truth` with each row of `noisy` (average ranks for ties)."""
    a = rankdata(truth)
    b = rankdata(noisy, axis=1)
    a, b = a - a.mean(), b - b.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (b @ a) / np.sqrt((b**2).sum(axis=1) * (a @ a))
    return float(np.nanmean(rho))


def gaussian_ceiling(finals, pool_finals, variance, rng, boot) -> float:
    truth = true_finals(finals, pool_finals, variance)
    return rank_agreement(truth, truth + rng.normal(0.0, np.sqrt(variance), (boot, len(truth))))


def binomial_ceiling(finals, pool_finals, n, rng, boot) -> float:
    p = np.clip(pool_finals, 0.0, 1.0)
    variance = float(np.mean(p * (1 - p))) / n  # the pool's mean binomial variance
    truth = np.clip(true_finals(finals, pool_finals, variance), 0.0, 1.0)
    return rank_agreement(truth, rng.binomial(n, truth, (boot, len(truth))) / n)


def replay_posterior_finals(frame: pd.DataFrame, at: float, rng: np.random.Generator, samples: int) -> dict:
    """Per trial of the replay fixture: the posterior mean of its noise-free final given its
    hyperparameters and its val_loss points at <= `at`, under `make_replay_curves._trial`'s model."""
    out = {}
    for trial, rows in frame.groupby("trial"):
        first = rows.iloc[0]
        log_lr, log_wd = np.log10(first["learning_rate"]), np.log10(first["weight_decay"])
        base = 0.55 + 0.2 * (log_lr + 3.3) ** 2 + 0.02 * (log_wd + 2.0) ** 2 + 2.0 * (first["warmup_ratio"] - 0.08) ** 2
        final = base + rng.normal(0, 0.04, samples)
        excess = 0.3 + 0.25 * (-2 - log_lr) + np.abs(rng.normal(0, 0.2, samples))
        alpha = rng.uniform(0.6, 1.6, samples)
        seen = rows[rows.fraction <= at + 1e-9]
        loglik = np.zeros(samples)
        for fraction, value in zip(seen.fraction, seen.val_loss, strict=True):
            shape = (fraction**-alpha - 1) / (10**alpha - 1)
            loglik -= (value - final - excess * shape) ** 2 / (2 * REPLAY_EVAL_NOISE**2)
        weights = np.exp(loglik - loglik.max())
        out[int(trial)] = (float(weights @ final / weights.sum()), float(weights.sum() ** 2 / (weights @ weights)))
    return out


# -- the sets ----------------------------------------------------------------------------------------


def scan_sets(at: float) -> list[dict]:
    """scan-bench pools as `benchmarks/predictors.py` builds them, with each run's final test_loss."""
    groups = load_groups(at)
    vlm = pd.read_csv(DATA / "vlm.csv", usecols=["config_id", "training_progress", "test_loss"])
    llm = pd.read_csv(DATA / "llm.csv", usecols=["config_id", "step_fraction", "test_loss"])
    test = {
        **vlm.sort_values("training_progress").groupby("config_id").test_loss.last().to_dict(),
        **{("llm", k): v for k, v in llm.sort_values("step_fraction").groupby("config_id").test_loss.last().items()},
    }
    design = {f"vlm-{e}ep" for e in DESIGN_VLM_EPOCHS}

    def pools(keep):
        return {k: v for k, v in groups.items() if keep(k)}

    def replicate(pool, curve):
        return test[("llm", curve.trial)] if pool == "llm" else test[curve.trial]

    common = {"mode": "min", "replicate": replicate}
    return [
        {"set": "vlm 5-7 ep", "role": "design", "pools": pools(lambda k: k in design), **common},
        {
            "set": "vlm 8-10 ep",
            "role": "RO",
            "pools": pools(lambda k: k.startswith("vlm") and k not in design),
            **common,
        },
        {"set": "llm", "role": "design", "pools": pools(lambda k: k == "llm"), **common},
    ]


def recorded_params(path: Path) -> list[str]:
    """The hyperparameters a recorded set searched, in the recorder's order: its settings file's space (the job's has
    no warm-up column)."""
    return list(json.loads(path.with_suffix(".settings.json").read_text())["space"])


def file_sets() -> list[dict]:
    """The replay fixture and the LoRA curves (even ids design, odd ids report-only; the fresh, AE-110K, OA-Mine and
    job72 sets, where recorded, report-only whole), read as verdict.md does."""
    replay = read_curves(REPLAY, value_col="val_loss", extra_cols=["train_loss"])
    sets = [{"set": "replay", "role": "RO", "pools": {"replay": replay}, "mode": "min", "generator": True}]
    for value, mode, extras in (("accuracy", "max", ["eval_loss", "train_loss"]), ("eval_loss", "min", ["train_loss"])):
        curves = read_curves(LORA, value_col=value, extra_cols=extras, param_cols=LORA_PARAMS)
        for parity, role in ((0, "design"), (1, "RO")):
            pool = [c for c in curves if int(c.trial) % 2 == parity]
            label = f"LoRA {value.replace('_', ' ')} {'even' if parity == 0 else 'odd'}"
            sets.append(
                {
                    "set": label,
                    "role": role,
                    "pools": {label: pool},
                    "mode": mode,
                    "binomial": BINOMIAL_N if value == "accuracy" else (),
                }
            )
        recorded = (
            ("fresh", FRESH, FRESH_BINOMIAL_N),
            ("AE-110K", AE110K, AE110K_BINOMIAL_N),
            ("OA-Mine", OAMINE, OAMINE_BINOMIAL_N),
            ("job72", JOB72, JOB72_BINOMIAL_N),
        )
        for name, path, n in recorded:
            if path.exists():  # report-only whole (benchmarks/data/README.md)
                params = recorded_params(path)
                curves = read_curves(path, value_col=value, extra_cols=extras, param_cols=params)
                label = f"LoRA {name} {value.replace('_', ' ')}"
                binomial = n if value == "accuracy" else ()
                sets.append({"set": label, "role": "RO", "pools": {label: curves}, "mode": mode, "binomial": binomial})
    return sets


# -- the warm draws ----------------------------------------------------------------------------------


def measure(spec: dict, *, at: float, repeats: int, size: int, seed: int, boot: int, also=()) -> dict:
    """Means over the warm draws of `cold_warm.run` (same seeds) of every figure for one set."""
    rng = np.random.default_rng(12345)
    posterior = replay_posterior_finals(pd.read_csv(REPLAY), at, rng, 400_000) if spec.get("generator") else {}
    figures: dict[str, list[float]] = {}
    variances: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        figures.setdefault(key, []).append(value)

    for p, (pool_name, curves) in enumerate(spec["pools"].items()):
        runs = complete_runs(curves, at)
        pool_finals = np.array([final_value(c) for c in runs])
        late = late_noise_variance(runs)
        variances.setdefault("late", []).append(late)
        if "replicate" in spec:
            diff = pool_finals - np.array([spec["replicate"](pool_name, c) for c in runs])
            replicate_var = float(np.var(diff, ddof=1) / 2)
            variances.setdefault("replicate", []).append(replicate_var)
        for r in range(repeats):
            draw = np.random.default_rng([seed, p, r])
            study = [runs[i] for i in draw.permutation(len(runs))[: min(size, len(runs))]]
            k = len(study) // 2
            finished, judged = study[:k], study[k:]
            if len(judged) < 3:
                continue
            finals = np.array([final_value(c) for c in judged])
            for name in ("snapshot", "auto", *also):
                add(
                    name, score(name, finished, judged, at=at, mode=spec["mode"], metric=spec.get("metric"))["spearman"]
                )
            before = np.array([c.values[c.fractions < 0.999][-1] for c in judged])
            add("late value", metrics.spearman(before, finals))
            if np.isfinite(late):  # the fresh LoRA set has one evaluation between 0.5 and its final
                add("late-noise ceiling", gaussian_ceiling(finals, pool_finals, late, rng, boot))
            if "replicate" in spec:
                other = np.array([spec["replicate"](pool_name, c) for c in judged])
                add("replicate raw", metrics.spearman(other, finals))
                add("replicate ceiling", gaussian_ceiling(finals, pool_finals, replicate_var, rng, boot))
            for n in spec.get("binomial", ()):
                add(f"binomial n={n}", binomial_ceiling(finals, pool_finals, n, rng, boot))
            if posterior:
                add("generator: measurement", gaussian_ceiling(finals, pool_finals, REPLAY_EVAL_NOISE**2, rng, boot))
                bayes = np.array([posterior[int(c.trial)][0] for c in judged])
                add("generator: Bayes at 0.2", metrics.spearman(bayes, finals))
    out = {key: float(np.mean(values)) for key, values in figures.items()}
    out["draws"] = len(figures["auto"])
    out["noise sd"] = {key: float(np.sqrt(np.mean(v))) for key, v in variances.items()}
    out["final sd"] = float(np.std([final_value(c) for pool in spec["pools"].values() for c in pool], ddof=1))
    if posterior:
        out["min ESS"] = min(ess for _, ess in posterior.values())
    return out


COLUMNS = (
    "snapshot",
    "auto",
    "late value",
    "replicate raw",
    "replicate ceiling",
    "late-noise ceiling",
    "binomial n=12",
    "binomial n=46",
    "binomial n=48",
    "binomial n=72",
    "binomial n=123",
    "binomial n=180",
    "binomial n=236",
    "binomial n=282",
    "generator: measurement",
    "generator: Bayes at 0.2",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--at", type=float, default=0.2)
    parser.add_argument("--repeats", type=int, default=20, help="warm draws per pool (as cold_warm)")
    parser.add_argument("--size", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--boot", type=int, default=400, help="noise draws per parametric ceiling")
    parser.add_argument("--only", action="append", help="run only the sets whose label starts with this")
    parser.add_argument("--also", action="append", default=[], help="another predictor to score (e.g. learned)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.repeats < 1 or args.boot < 1 or not 0 < args.at < 1:
        parser.error("--repeats and --boot must be >= 1 and --at in (0, 1)")
    rows, notes = [], []
    for spec in [*scan_sets(args.at), *file_sets()]:
        if args.only and not any(spec["set"].startswith(o) for o in args.only):
            continue
        start = time.perf_counter()
        result = measure(
            spec, at=args.at, repeats=args.repeats, size=args.size, seed=args.seed, boot=args.boot, also=args.also
        )
        row = {"set": f"{spec['set']} ({spec['role']})", "warm draws": result["draws"]}
        row.update({c: f"{result[c]:.3f}" if c in result else "" for c in (*COLUMNS[:2], *args.also, *COLUMNS[2:])})
        rows.append(row)
        sds = ", ".join(f"{k} {v:.4g}" for k, v in result["noise sd"].items())
        ess = f"; min importance ESS {result['min ESS']:.0f}" if "min ESS" in result else ""
        notes.append(f"- {row['set']}: sd of the finals {result['final sd']:.4g}; noise sd: {sds}{ess}")
        print(f"{spec['set']}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    text = markdown_table(pd.DataFrame(rows)) + "\n\n" + "\n".join(notes) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
