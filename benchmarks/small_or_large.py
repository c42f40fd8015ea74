"""Small or large model? Make the smaller model folder, run the two-objective search, keep its front.

    python benchmarks/small_or_large.py            # about 3 minutes on 2 CPU cores that compute bf16

The smaller model is SmolLM2-135M cut to its first 8 of 30 layers (its embeddings, final norm and
tokenizer kept): a stand-in for "a smaller model of the same family" on a machine without hub access.
Writes runs/small-or-large/ (the report), and copies its pareto.png and front to benchmarks/results/.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from estimate import LoadSampler  # beside this script

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "small-or-large.yaml"
SMALL = REPO / "runs" / "models" / "smollm2-135m-8layers"
RUN = REPO / "runs" / "small-or-large"
RESULTS = REPO / "benchmarks" / "results"


def make_small_model(folder: Path, layers: int = 8) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from foretune.config import ModelConfig
    from foretune.trainers.models import ensure_model

    builtin = ensure_model(ModelConfig())
    small = AutoModelForCausalLM.from_pretrained(builtin, num_hidden_layers=layers)  # later layers' weights unused
    small.save_pretrained(folder)
    AutoTokenizer.from_pretrained(builtin).save_pretrained(folder)


COSTS = ["cost.train_seconds", "cost.device_hours", "cost.tokens", "cost.peak_memory_mb", "cost.params_total"]
COSTS += ["cost.params_trainable", "cost.latency_ms", "cost.usd", "final"]


def per_model_table(trials: pd.DataFrame) -> str:
    """Per model, the min-max of each cost the trials recorded (markdown)."""
    models = trials["param.model.name"].str.rsplit("/", n=1).str[-1]
    header = "| model | trials | " + " | ".join(c.removeprefix("cost.") + " (min-max)" for c in COSTS) + " |"
    lines = [header, "|---" * (len(COSTS) + 2) + "|"]
    for model, group in trials.groupby(models):
        cells = [f"{group[c].min():.4g}-{group[c].max():.4g}" for c in COSTS]
        lines.append(f"| {model} | {len(group)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def publish(minutes: float, load: float) -> str:
    """benchmarks/results/small_or_large.md and its picture, from the run's report files."""
    shutil.copy(RUN / "pareto.png", RESULTS / "small_or_large_pareto.png")
    front = (RUN / "pareto.csv").read_text().replace(str(REPO) + "/", "")
    trials = pd.read_csv(RUN / "trials.csv")
    big = trials[trials["param.model.name"] == "smollm2-135m"]["cost.device_hours"]
    text = f"""# Small or large model? (`python benchmarks/small_or_large.py`)

`foretune search configs/small-or-large.yaml` ({len(trials)} trials, 2 at a time, 16 optimizer steps of batch 4
each): {minutes:.1f} min wall on a 2-core AMD EPYC VM (24 GiB, no GPU), {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())},
1-minute load average {load:.1f} over the run (2.0: both cores busy), {_precision()}. Objectives:
validation accuracy (teacher-forced, 16 products) up, device-hours (core-hours on CPU: one torch thread
per trial) down. The smaller model is SmolLM2-135M cut to its first 8 of 30 layers, not distilled.

The front (`pareto.csv`; `knee` marks the configuration in `best.yaml`):

```
{front}```

![front](small_or_large_pareto.png)

Per model, what the trials recorded (`trials.csv`; `final` = validation accuracy at the full budget):

{per_model_table(trials)}

Time-based costs (seconds, device-hours, dollars, latency) are wall-clock measurements: the large model's
trials took {big.min():.3g} to {big.max():.3g} core-hours here (a pruned trial stops early, and the same work
takes longer on a loaded machine), so they rank models only coarsely; tokens, parameters and peak memory do
not depend on the load. Dollars use the config's illustrative `cost.price_per_device_hour: 0.05`.
"""
    (RESULTS / "small_or_large.md").write_text(text)
    return text


def _precision() -> str:
    """What the config's trials compute in, by the trainer's own rule (`train.device`, `train.bf16`)."""
    from foretune.config import load_config
    from foretune.trainers.devices import pick_device, use_bf16

    train = load_config(CONFIG).train
    device = pick_device(train.device)
    precision = "bf16" if use_bf16(train.bf16, device) else "float32"
    return f"computed in {precision} on the {device} (`train.bf16: {train.bf16}`)"


def main() -> None:
    if not (SMALL / "config.json").is_file():
        make_small_model(SMALL)
    shutil.rmtree(RUN, ignore_errors=True)
    started = time.perf_counter()
    command = ["foretune", "search", str(CONFIG.relative_to(REPO)), "--out", str(RUN.relative_to(REPO)), "--quiet"]
    with LoadSampler(every=10) as load:  # the machine's load while it runs: time-based costs move with it
        subprocess.run([str(Path(sys.executable).parent / command[0]), *command[1:]], cwd=REPO, check=True)
    print(publish((time.perf_counter() - started) / 60, load.mean))


if __name__ == "__main__":
    main()
