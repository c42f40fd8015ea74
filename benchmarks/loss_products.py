"""Does the eval loss at 20% rank the default job's finals better on more validation products?

The job scores 12 validation products at 20% (generated answers, and the eval loss of their teacher-forced pass)
and 48 at its end. On seeds whose finals lie close together the eval loss at 20% ranks them poorly
(benchmarks/results/default_job.md, round 47): is the loss on 12 products the noise, or the finals? `record`
re-runs the job set's configurations (`benchmarks/data/lora_curves_job.csv`: `record_lora_curves.py --space job
--seed 6`, the same settings) and, at each evaluation before the last, also computes the eval loss on the first
48 validation products (the final's) and on all of them (`eval_loss_48`, `eval_loss_all`, with the seconds each
teacher-forced pass took). Training is untouched: the finals equal the job set's, which `analyse` checks.
`analyse` compares the three losses at 20% as rankings of the finals (Spearman, every id, the design and the
report-only halves, 8-run subsets of the 16 best runs: finals close together) and replays the job's twin on each
(`default_job_replay.random_twins`, the loss at 20% swapped in as `eval_loss`).

    for k in 0 1; do .venv/bin/python benchmarks/loss_products.py record --shard $k/2 \\
        --out benchmarks/data/lora_curves_job_loss_products.csv > /tmp/loss_products_$k.log 2>&1 & done
    .venv/bin/python benchmarks/loss_products.py analyse benchmarks/data/lora_curves_job_loss_products.csv
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import default_job_replay  # noqa: E402
import record_lora_curves  # noqa: E402

from foretune.predictors.metrics import spearman  # noqa: E402
from foretune.search.report_table import markdown_table  # noqa: E402

JOB_SET = HERE / "data" / "lora_curves_job.csv"
LOSSES = ("eval_loss", "eval_loss_48", "eval_loss_all")  # 12 products (the job's), the final's 48, every one
RECORD_ARGS = ["--space", "job", "--seed", "6", "--configs", "40", "--eval-products", "12"]
RECORD_ARGS += ["--final-eval-products", "48", "--eval-fractions", "0.2", "1.0"]


def record(argv: list[str]) -> int:
    """`record_lora_curves.py` with the job set's arguments, adding the losses on more products before the end."""
    from foretune.trainers.lora import LoraTrainer

    evaluate = LoraTrainer.evaluate

    def with_more_products(self, products, *, method, loss_products=None):
        scores = evaluate(self, products, method=method, loss_products=loss_products)
        final = self.validation_products(final=True)
        if len(products) < len(final):  # an evaluation before the last
            for name, more in (("48", final), ("all", self.splits.validation)):
                started = time.perf_counter()
                scores[f"eval_loss_{name}"] = evaluate(self, more, method="teacher_forced")["eval_loss"]
                scores[f"seconds_loss_{name}"] = time.perf_counter() - started
        return scores

    LoraTrainer.evaluate = with_more_products
    return record_lora_curves.main([*RECORD_ARGS, *argv])


def analyse(path: Path, *, replays: int = 300) -> None:
    table = pd.read_csv(path)
    early = table[table.fraction.round(3) == 0.2].set_index("trial")
    finals = table[table.fraction == 1.0].set_index("trial").accuracy
    job = pd.read_csv(JOB_SET)
    job_finals = job[job.fraction == 1.0].set_index("trial").accuracy.loc[finals.index]
    print(f"{len(finals)} runs; finals equal to the job set's: {bool(np.allclose(finals, job_finals))}")
    for name in ("48", "all"):
        print(f"seconds of the loss pass on {name} products: median {early[f'seconds_loss_{name}'].median():.1f}")
    best = finals.sort_values().index[-16:]
    rng = np.random.default_rng(0)
    subsets = [rng.choice(best, 8, replace=False) for _ in range(2000)]
    rows = []
    for loss in LOSSES:
        x = -early[loss]  # a lower loss, a better final: positive when it ranks them right
        close = np.array([spearman(x[ids], finals[ids]) for ids in subsets])
        rows.append(
            {
                "loss at 20%": loss,
                "every id": spearman(x, finals),
                "even ids (design)": spearman(x[x.index % 2 == 0], finals[finals.index % 2 == 0]),
                "odd ids (report-only)": spearman(x[x.index % 2 == 1], finals[finals.index % 2 == 1]),
                "16 best": spearman(x[best], finals[best]),
                "8 of 16 best: mean": float(np.mean(close)),
                "8 of 16 best: >= 0.8": float(np.mean(close >= 0.8 - 1e-9)),
            }
        )
    print(markdown_table(pd.DataFrame(rows).round(3)))
    with tempfile.TemporaryDirectory() as folder:
        for loss in LOSSES:
            swapped = Path(folder) / f"{loss}.csv"
            table.assign(eval_loss=table[loss].fillna(table.eval_loss)).to_csv(swapped, index=False)
            for ids in ("even", "odd"):
                print(f"\n### twin replayed with {loss} at 20% as the eval loss, {ids} ids")
                curves = default_job_replay.design_curves(swapped, 0.0, ids=ids)
                default_job_replay.random_twins(curves, replays, 0, f"{path.name}, {ids} ids")


def main() -> int:
    command, *rest = sys.argv[1:] or ["--help"]
    if command == "record":
        return record(rest)
    if command == "analyse" and len(rest) == 1:
        analyse(Path(rest[0]))
        return 0
    print(__doc__)
    return 0 if command in ("--help", "-h") else 2


if __name__ == "__main__":
    sys.exit(main())
