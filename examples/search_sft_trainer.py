"""Search a TRL `SFTTrainer` LoRA fine-tune with foretune: your own training code, foretune's early verdict.

    python examples/search_sft_trainer.py                         # 6 trials of 30 steps on the built-in model
    python examples/search_sft_trainer.py --trials 2 --max-steps 10 --examples 48   # a quick look
    foretune dashboard runs/sft-example                           # the learning curves, in optuna-dashboard

Each trial is an ordinary `SFTTrainer` run (prompt/completion rows: a product title in, its attributes as
JSON out; the loss is on the completion only) with one extra line: `callbacks=[ReporterCallback(reporter)]`,
which evaluates at every 10% of the budget and hands the metrics to foretune. The search metric is
`eval_row_loss`, each held-out row's completion loss averaged over the rows (`callback.item_metric` as the
Trainer's `compute_metrics`): the final's rows then go to foretune too, and the report says how far their luck
decides the finals' order (its validation-noise lines; the Trainer's `eval_loss` averages tokens, not rows).
foretune's early-stage evaluator judges each trial at 20% of its steps and stops those that will not end near
the best; the study is an Optuna journal in `--out`, and running the same command again resumes it.
Needs `pip install 'foretune[trl]'` (TRL); the built-in model is SmolLM2-135M-Instruct (`--model` takes a
local model folder instead).
"""

from __future__ import annotations

import argparse
import json
import tempfile

from foretune.trainers.data import generate_products

SPACE = {
    "learning_rate": {"type": "log_float", "low": 1e-4, "high": 3e-3},
    "lora_r": {"type": "categorical", "choices": [4, 8, 16]},
    "warmup": {"type": "float", "low": 0.0, "high": 0.2},
}


def product_rows(n: int, *, seed: int) -> list[dict[str, str]]:
    """Prompt/completion rows (TRL's convention) from foretune's synthetic product titles."""
    return [
        {"prompt": f"Product: {p.text}\nAttributes as JSON:", "completion": " " + json.dumps(p.attributes)}
        for p in generate_products(n, seed=seed)
    ]


def next_token_losses(logits, labels):
    """`preprocess_logits_for_metrics`: each position's loss on the next label token (0 where that is -100), so the
    Trainer keeps rows x length numbers, not rows x length x vocabulary logits."""
    import torch

    targets = labels[:, 1:]
    losses = torch.nn.functional.cross_entropy(
        logits[:, :-1].float().transpose(1, 2), targets.clamp(min=0), reduction="none"
    )
    return losses.masked_fill(targets == -100, 0.0)


def row_losses(prediction) -> list[float]:
    """Each held-out row's completion loss, the mean over its completion tokens: the items of `eval_row_loss`."""
    import numpy as np

    losses, counted = np.asarray(prediction.predictions), np.asarray(prediction.label_ids)[:, 1:] != -100
    return ((np.where(counted, losses, 0.0)).sum(axis=1) / counted.sum(axis=1)).tolist()


def make_train_fn(model: str, *, max_steps: int, examples: int):
    """The trial: one SFTTrainer LoRA run with the searched parameters, reporting through the callback."""

    def train(params: dict, reporter) -> None:
        from datasets import Dataset
        from peft import LoraConfig
        from trl import SFTConfig, SFTTrainer

        from foretune.trainers.devices import pick_device, use_bf16
        from foretune.trainers.hf_callback import ReporterCallback

        rows = product_rows(examples + 16, seed=0)
        device = pick_device("auto")
        with tempfile.TemporaryDirectory(prefix="sft-trial-") as output_dir:
            args = SFTConfig(
                output_dir=output_dir,
                max_steps=max_steps,
                learning_rate=params["learning_rate"],
                warmup_steps=params["warmup"],  # a float below 1 is a share of the steps
                per_device_train_batch_size=4,
                per_device_eval_batch_size=8,
                max_length=128,
                use_cpu=device == "cpu",
                bf16=use_bf16("auto", device),  # where it is native: a GPU that has it, a CPU with AVX-512 BF16 or AMX
                eval_strategy="no",  # the callback evaluates at every 10% of max_steps
                save_strategy="no",
                report_to=[],
                disable_tqdm=True,
                seed=0,
            )
            lora = LoraConfig(r=params["lora_r"], lora_alpha=2 * params["lora_r"], target_modules=["q_proj", "v_proj"])
            callback = ReporterCallback(reporter)
            trainer = SFTTrainer(
                model=model,
                args=args,
                train_dataset=Dataset.from_list(rows[:examples]),
                eval_dataset=Dataset.from_list(rows[examples:]),
                peft_config=lora,
                compute_metrics=callback.item_metric("row_loss", row_losses),
                preprocess_logits_for_metrics=next_token_losses,
                callbacks=[callback],
            )
            trainer.train()

    return train


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=6, help="trials in the study (finished ones count)")
    parser.add_argument("--max-steps", type=int, default=30, help="optimizer steps of each trial (its budget)")
    parser.add_argument("--examples", type=int, default=160, help="training rows (16 more are held out)")
    parser.add_argument("--model", default=None, help="local model folder (default: the built-in SmolLM2-135M)")
    parser.add_argument("--out", default="runs/sft-example", help="run folder: the study journal and the report")
    parser.add_argument("--max-concurrent", type=int, default=1, help="trials running at once")
    args = parser.parse_args(argv)

    import foretune
    from foretune.config import ModelConfig
    from foretune.trainers.models import ensure_model

    model = args.model or str(ensure_model(ModelConfig()))  # the built-in GGUF, converted once and cached
    outcome = foretune.optimize(
        make_train_fn(model, max_steps=args.max_steps, examples=args.examples),
        space=SPACE,
        metric="eval_row_loss",
        mode="min",
        trials=args.trials,
        out=args.out,
        study="sft-example",
        overrides={"search.max_concurrent_trials": args.max_concurrent, "search.n_startup_trials": 3},
    )
    best = outcome.report.best
    print(f"{outcome.total} trials in {outcome.run_dir}; report: {outcome.run_dir / 'report.md'}")
    if best:
        print(f"best: trial {best['number']}, eval_row_loss {best['value']:.4f}, params {best['params']}")
    print(f"dashboard: foretune dashboard {outcome.run_dir}")


if __name__ == "__main__":
    main()
