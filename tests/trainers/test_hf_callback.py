"""`ReporterCallback` on a real transformers `Trainer` (a tiny random Llama): it reports at budget fractions, stops
when told, and, searched with `foretune search --trainable`, a trial the scheduler stops is recorded PRUNED."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from foretune.trainers.hf_callback import ReporterCallback, evaluation_steps, run_metrics
from foretune.trainers.reporters import MemoryReporter
from tests.trainers.test_lora import StopAt

REPO = Path(__file__).resolve().parents[2]
COLORS = ("red", "blue", "green", "black")


def item_losses(prediction) -> list[float]:
    """Each evaluation sentence's own loss (the mean over its tokens), from the Trainer's logits."""
    import torch

    logits = torch.as_tensor(prediction.predictions)[:, :-1].float()
    labels = torch.as_tensor(prediction.label_ids)[:, 1:].long()
    per_token = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels, reduction="none")  # -100: 0
    counted = labels != -100
    return ((per_token * counted).sum(1) / counted.sum(1)).tolist()


def make_trainer(
    model_dir: str, reporter, *, learning_rate: float, max_steps: int, fractions, items: bool = False, **extra_args
):
    """A plain causal-LM `Trainer` on 32 short sentences, evaluated on 8 more; `items`: scored by each sentence's
    own loss too (`eval_item_loss`, the callback's `item_metric`); `extra_args`: more TrainingArguments."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, DataCollatorForLanguageModeling, Trainer
    from transformers import TrainingArguments as Args

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    texts = [f"item {i} is {COLORS[i % len(COLORS)]}" for i in range(40)]
    data = Dataset.from_dict({"text": texts}).map(lambda b: tokenizer(b["text"]), batched=True, remove_columns="text")
    args = Args(
        output_dir=tempfile.mkdtemp(prefix="hf-callback-"),
        max_steps=max_steps,
        per_device_train_batch_size=4,
        learning_rate=learning_rate,
        eval_strategy="no",  # the callback asks for the evaluations at its fractions
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
        **extra_args,
    )
    callback = ReporterCallback(reporter, fractions=fractions)
    return Trainer(
        model=AutoModelForCausalLM.from_pretrained(model_dir),
        args=args,
        train_dataset=data.select(range(32)),
        eval_dataset=data.select(range(32, 40)),
        data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False),
        compute_metrics=callback.item_metric("item_loss", item_losses) if items else None,
        callbacks=[callback],
    )


def train_tiny(params, reporter):
    """The trial of the CLI test below (`--trainable tests.trainers.test_hf_callback:train_tiny`)."""
    lr = params["learning_rate"]
    make_trainer(params["model"], reporter, learning_rate=lr, max_steps=10, fractions=(0.2, 1.0), items=True).train()


def test_evaluation_steps_never_report_below_the_fraction():
    assert evaluation_steps((0.25, 0.5, 1.0), 8) == {2, 4, 8}
    assert evaluation_steps((0.2,), 7) == {2, 7}  # 1/7 < 0.2: the first step at or past 20% is 2
    assert evaluation_steps((0.01, 0.1), 5) == {1, 5}
    metrics = {"eval_loss": 2.0, "eval_runtime": 0.1, "eval_samples_per_second": 80.0, "epoch": 0.5, "eval_ok": True}
    assert run_metrics(metrics, [{"loss": 3.0}, {"eval_loss": 2.0}]) == {"eval_loss": 2.0, "train_loss": 3.0}


def test_callback_stops_a_real_trainer_at_the_fraction_it_is_told(tiny_model_dir):
    told = StopAt(0.5)
    trainer = make_trainer(tiny_model_dir, told, learning_rate=5e-3, max_steps=8, fractions=(0.25, 0.5, 1.0))
    trainer.train()
    curve = told.memory.frame()
    assert curve["fraction"].tolist() == [0.25, 0.5] and curve["step"].tolist() == [2, 4]
    assert trainer.state.global_step == 4  # stopped cleanly at half of its 8 steps
    (callback,) = [c for c in trainer.callback_handler.callbacks if isinstance(c, ReporterCallback)]
    assert callback.stopped_at == 0.5
    assert curve["eval_loss"].iloc[-1] < curve["eval_loss"].iloc[0] < 11.0  # it trained: log(49152) = 10.8

    untold = MemoryReporter()  # a reporter that never says stop gets the whole budget, fraction 1.0 last
    make_trainer(tiny_model_dir, untold, learning_rate=5e-3, max_steps=8, fractions=(0.25, 0.5, 1.0)).train()
    assert untold.frame()["step"].tolist() == [2, 4, 8]


def test_item_metric_reports_the_items_mean_and_gives_the_final_items(tiny_model_dir):
    """`callback.item_metric` as compute_metrics: `eval_item_loss` at every fraction is the mean of the 8 sentences'
    own losses, close to the Trainer's token-averaged `eval_loss`; the final's 8 values go to `final_items`."""
    reporter = MemoryReporter()
    trainer = make_trainer(tiny_model_dir, reporter, learning_rate=5e-3, max_steps=4, fractions=(0.5, 1.0), items=True)
    trainer.train()
    curve = reporter.frame()
    assert curve["step"].tolist() == [2, 4] and "eval_item_loss" in curve
    assert curve["eval_item_loss"].tolist() == pytest.approx(curve["eval_loss"].tolist(), rel=0.05)
    (values,) = reporter.final_values.values()
    assert list(reporter.final_values) == ["eval_item_loss"] and len(values) == 8 and len(set(values)) > 1
    assert sum(values) / 8 == pytest.approx(curve["eval_item_loss"].iloc[-1], rel=1e-9)
    assert values == pytest.approx(item_losses(trainer.predict(trainer.eval_dataset)), rel=1e-5)

    # batch_eval_metrics: compute_metrics sees 2 batches of 4; their values are gathered, the same 8 in order.
    batched = MemoryReporter()
    make_trainer(
        tiny_model_dir,
        batched,
        learning_rate=5e-3,
        max_steps=4,
        fractions=(0.5, 1.0),
        items=True,
        batch_eval_metrics=True,
        per_device_eval_batch_size=4,
    ).train()
    assert batched.final_values["eval_item_loss"] == pytest.approx(values, rel=1e-5)
    assert batched.frame()["eval_item_loss"].tolist() == pytest.approx(curve["eval_item_loss"].tolist(), rel=1e-5)


@pytest.mark.slow
def test_search_trainable_records_the_stopped_trainer_run_pruned_with_its_curve(tiny_model_dir, ray_cluster, tmp_path):
    """Two trials through Ray: the first (lr 5e-3, by the seed) runs to the end; the second (lr 1e-7) scores
    worse at 20% (the mean of its sentences' own losses) and the early-stage rule (top 1, one grace trial) stops it
    there."""
    import optuna
    from optuna.trial import TrialState

    from foretune.search.storage import open_storage

    config = tmp_path / "tiny.yaml"
    space = {
        "learning_rate": {"type": "categorical", "choices": [0.005, 1e-7]},
        "model": {"type": "categorical", "choices": [tiny_model_dir]},
    }
    search = {"metric": "eval_item_loss", "mode": "min", "trials": 2, "max_concurrent_trials": 1, "seed": 10}
    early = {"fraction": 0.2, "predictor": "snapshot", "rule": "top_k", "keep": 1, "grace_trials": 1}
    config.write_text(yaml.safe_dump({"name": "tiny", "search": {**search, "space": space}, "early_stage": early}))
    run_dir = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "foretune.cli", "search", str(config), "--out", str(run_dir), "--quiet"]
        + ["--trainable", "tests.trainers.test_hf_callback:train_tiny"],
        cwd=REPO,
        env=ray_cluster.joined_env(),  # joins the session's Ray cluster (RAY_ADDRESS)
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    study = optuna.load_study(study_name="tiny", storage=open_storage(str(run_dir / "study.journal")))
    first, second = study.trials
    assert first.params["learning_rate"] == 0.005 and second.params["learning_rate"] == 1e-7
    assert first.state == TrialState.COMPLETE, first.user_attrs.get("error")
    assert sorted(first.intermediate_values) == [20, 100] and first.value == first.intermediate_values[100]
    assert second.state == TrialState.PRUNED, second.user_attrs.get("error")
    assert list(second.intermediate_values) == [20] and second.user_attrs["fraction_reached"] == 0.2
    assert second.intermediate_values[20] > first.intermediate_values[20]
    assert second.user_attrs["early_decision"] == "pruned"
    # The final's items given through the callback's item_metric: 200 paired draws of their mean around the final.
    draws = first.user_attrs["final_draws"]
    assert len(draws) == 200 and min(draws) < first.value < max(draws) and "final_draws" not in second.user_attrs
    assert yaml.safe_load((run_dir / "best.yaml").read_text()) == {"learning_rate": 0.005, "model": tiny_model_dir}
    assert (run_dir / "report.md").is_file() and (run_dir / "curves.png").is_file()
