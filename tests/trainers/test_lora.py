"""A real LoRA fine-tune of the real default model (SmolLM2-135M), a few steps on tiny data; `foretune train` in a
fresh process on the tiny test model."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from foretune.config import load_config
from foretune.errors import ForetuneError
from foretune.trainers.lora import LoraTrainer
from foretune.trainers.reporters import Decision, MemoryReporter

pytestmark = pytest.mark.slow

TINY = {
    "data.synthetic_size": 80,
    "data.max_eval_samples": 4,
    "data.max_final_eval_samples": 6,  # the final is scored on more products than the evaluations before it
    "data.max_test_samples": 2,  # the test evaluation generates up to 40 tokens per item
    "task.max_new_tokens": 40,
    "task.eval_method": "teacher_forced",  # the fast path here; the test evaluation generates
    "train.max_steps": 4,
    "train.batch_size": 2,
    "train.learning_rate": 2e-3,
    "train.eval_fractions": [0.25, 0.5, 1.0],
    "early_stage.fraction": 0.25,  # one of eval_fractions (the config adds it otherwise)
}


def tiny_config(**extra):
    return load_config(None, {**TINY, **extra})


class StopAt:
    """A reporter that keeps the curve and says stop once `fraction` is reached."""

    def __init__(self, fraction: float) -> None:
        self.fraction = fraction
        self.memory = MemoryReporter()

    def report(self, fraction, step, metrics):
        self.memory.report(fraction, step, metrics)
        return Decision.STOP if fraction >= self.fraction else Decision.CONTINUE


@pytest.fixture(scope="module")
def full_run():
    reporter = MemoryReporter()
    trainer = LoraTrainer(tiny_config())
    result = trainer.fit(reporter, evaluate_test=True)
    return trainer, result, reporter.frame()


def test_reports_at_each_budget_fraction(full_run):
    _, result, curve = full_run
    assert curve["fraction"].tolist() == [0.25, 0.5, 1.0]
    assert curve["step"].tolist() == [1, 2, 4]
    assert curve["n_products"].tolist() == [4, 4, 6]
    for metric in ("accuracy", "exact_match", "null_fp_rate", "f1", "eval_loss", "train_loss"):
        assert metric in curve
    assert curve["eval_loss"].map(math.isfinite).all()
    assert result.steps == result.total_steps == 4 and not result.stopped_early
    assert result.test_metrics is not None and 0.0 <= result.test_metrics["accuracy"] <= 1.0


def test_training_lowers_the_eval_loss(full_run):
    _, _, curve = full_run
    assert curve["eval_loss"].iloc[-1] < curve["eval_loss"].iloc[0]


def test_only_lora_weights_train(full_run):
    trainer, _, _ = full_run
    trainable = [n for n, p in trainer.peft_model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert any("q_proj" in n for n in trainable) and any("v_proj" in n for n in trainable)


def test_stop_is_clean_and_the_run_is_reproducible(full_run):
    _, _, full_curve = full_run
    reporter = StopAt(0.5)
    result = LoraTrainer(tiny_config()).fit(reporter)
    assert result.stopped_early and result.steps == 2
    stopped_curve = reporter.memory.frame()
    assert stopped_curve["fraction"].tolist() == [0.25, 0.5]
    # Same seed, same data, same steps: the same numbers as the full run up to the stop.
    assert stopped_curve["eval_loss"].tolist() == pytest.approx(full_curve["eval_loss"].iloc[:2].tolist(), rel=1e-4)


def test_wrapping_the_model_in_lora_warns_the_user_of_nothing():
    """peft reads a deprecated transformers alias on every wrap: that FutureWarning is not the user's to act on."""
    import warnings

    trainer = LoraTrainer(tiny_config())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer._load()
        trainer._wrap_lora()
    assert not [w for w in caught if "is_gradient_checkpointing" in str(w.message)]


def test_unknown_target_module_is_a_clear_error():
    trainer = LoraTrainer(tiny_config(**{"train.lora.target_modules": ["nope_proj"]}))
    with pytest.raises(ForetuneError, match="nope_proj"):
        trainer.fit()


def test_train_size_larger_than_the_data_is_a_clear_error():
    with pytest.raises(ForetuneError, match="5000"):
        LoraTrainer(tiny_config(**{"data.train_size": 5000}))


def test_bf16_auto_computes_in_bf16_where_the_cpu_has_it_and_trains_as_float32_does(full_run):
    """`train.bf16: auto` on a CPU with AVX-512 BF16 or AMX (this project's machines): layers compute in bf16 under
    the trainer's autocast, and the fine-tune's eval losses stay within 3% of a float32 run's (`bf16: off`; Adam's
    first steps follow the gradients' signs, which bf16 moves where they are near 0)."""
    import torch

    from foretune.trainers.devices import cpu_computes_bf16

    auto_trainer, _, auto_curve = full_run
    off = LoraTrainer(tiny_config(**{"train.bf16": "off"}))
    assert auto_trainer.bf16 is cpu_computes_bf16() and off.bf16 is False
    layer, x = torch.nn.Linear(4, 3), torch.ones(2, 4)
    with auto_trainer._autocast():
        assert layer(x).dtype == (torch.bfloat16 if auto_trainer.bf16 else torch.float32)
    with off._autocast():
        assert layer(x).dtype == torch.float32
    if not cpu_computes_bf16():
        with pytest.raises(ForetuneError, match="no native bf16"):
            LoraTrainer(tiny_config(**{"train.bf16": "on"}))
    off_curve = MemoryReporter()
    off.fit(off_curve, evaluate_test=False)
    assert auto_curve["eval_loss"].tolist() == pytest.approx(off_curve.frame()["eval_loss"].tolist(), rel=0.03)
    assert auto_curve["eval_loss"].tolist() != off_curve.frame()["eval_loss"].tolist() or not auto_trainer.bf16


def test_cli_train_writes_curve_plot_metrics_and_intervals(tiny_train_settings, tmp_path):
    """`foretune train` as a user runs it (a fresh process), on the tiny test model: the curve, its plot, the
    adapter, and the test scores with 95% bootstrap intervals over 2 disjoint test folds (data.test_folds)."""
    out = tmp_path / "run"
    settings = {**tiny_train_settings, "data.max_test_samples": 5, "data.test_folds": 2}
    args = [sys.executable, "-m", "foretune.cli", "train", "configs/default.yaml", "--out", str(out)]
    for key, value in settings.items():
        args += ["--set", f"{key}={json.dumps(value)}"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (out / "curve.png").stat().st_size > 1000
    curve = (out / "curve.csv").read_text().splitlines()
    assert curve[0].startswith("fraction,step") and len(curve) == 3
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) >= {"validation", "test", "zero_shot_test", "config"}
    assert (out / "adapter" / "adapter_config.json").is_file()
    assert "held-out test split" in done.stdout
    assert metrics["test_items"] == 5
    for which, scores in (("fine_tuned", metrics["test"]), ("zero_shot", metrics["zero_shot_test"])):
        interval = metrics["test_intervals"][which]["accuracy"]
        assert interval["confidence"] == 0.95
        assert interval["low"] <= scores["accuracy"] <= interval["high"]
    assert metrics["small_test_note"].startswith("The test split has only 5 items")
    assert "95% bootstrap intervals" in done.stdout
    folds = metrics["test_folds"]  # the config and zero-shot over 2 disjoint folds
    assert folds["k"] == 2 and len(folds["fine_tuned"]) == len(folds["zero_shot"]) == 2
    assert set(folds["summary"]["fine_tuned"]["accuracy"]) == {"mean", "stderr"}


def test_cli_train_stopped_by_sigterm_says_what_it_kept(tiny_train_settings, tmp_path):
    """SIGTERM (a batch scheduler's stop) or Ctrl-C ended `foretune train` with no word (Python's default) and left
    the new run's curve beside an earlier run's metrics.json and adapter; now one line says what is kept."""
    import signal
    import time

    out = tmp_path / "run"
    (out / "adapter").mkdir(parents=True)
    (out / "adapter" / "adapter_config.json").write_text("{}")  # an earlier run's files in the same folder
    (out / "metrics.json").write_text("{}")
    long_run = {"train.max_steps": 4000, "train.eval_fractions": [0.0005, 1.0], "early_stage.fraction": 0.0005}
    args = [sys.executable, "-m", "foretune.cli", "train", "configs/default.yaml", "--out", str(out)]
    for key, value in {**tiny_train_settings, **long_run}.items():
        args += ["--set", f"{key}={json.dumps(value)}"]
    run = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 300
        while not (out / "curve.csv").is_file():  # the first evaluation, at step 2
            assert run.poll() is None and time.time() < deadline, run.stderr.read()
            time.sleep(0.1)
        run.send_signal(signal.SIGTERM)
        _, stderr = run.communicate(timeout=120)
    finally:
        run.kill()
    assert run.returncode == 143, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("terminated: the fine-tune stopped:") and "Traceback" not in stderr, stderr
    assert "curve.csv holds its evaluations up to 0% of the budget" in last
    assert sorted(p.name for p in out.iterdir()) == ["curve.csv"]  # the earlier run's files are gone too


def test_cli_bad_input_in_a_fresh_process_is_one_line_and_exit_2(tmp_path):
    out = tmp_path / "out"
    args = [sys.executable, "-m", "foretune.cli", "train", "missing.yaml", "--out", str(out)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "config file not found" in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()  # nothing half-written


@pytest.mark.parametrize(
    "setting, message",
    [
        ("data.source=/nonexistent/data.jsonl", "/nonexistent/data.jsonl"),
        ("model.name=/nonexistent/model", "model.name"),
        ("data.train_size=100000", "100000"),
        ("train.lora.rank=4", "rank"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, cli, setting, message):
    """In this process, as the console script runs (the fresh process is the test above): cheaper per case."""
    out = tmp_path / "out"
    code, _, stderr = cli("train", "configs/default.yaml", "--set", setting, "--out", str(out))
    assert code == 2, stderr[-2000:]
    assert message in stderr
    assert "Traceback" not in stderr
    assert not out.exists()  # nothing half-written


def test_the_last_step_reports_the_whole_budget_when_evaluations_share_steps():
    # 4 steps, 10 evaluation points: several fractions round to one step; the last must still say 1.0.
    trainer = LoraTrainer(tiny_config(**{"train.eval_fractions": [0.1 * i for i in range(1, 11)]}))
    steps = trainer.eval_steps()
    assert steps[4] == 1.0
    assert sorted(steps) == [1, 2, 3, 4]
    assert steps[1] == 0.1  # earlier steps keep the first fraction that reaches them


def test_generated_finals_keep_the_eval_loss_on_the_early_products(full_run):
    """With generated answers the final scores more products (6) than the evaluations before it (4), but its eval
    loss (a teacher-forced pass of its own) stays on the first 4: like with like along the curve, at no extra cost."""
    trainer, _, _ = full_run
    early, final = trainer.validation_products(), trainer.validation_products(final=True)
    assert len(early) == 4 and len(final) == 6
    on_early = trainer.evaluate(early, method="teacher_forced")["eval_loss"]
    on_final = trainer.evaluate(final, method="teacher_forced")["eval_loss"]
    assert on_early != pytest.approx(on_final)  # the two choices differ here: the check below can tell them apart
    generated = trainer.evaluate(final, method="generate", loss_products=early)
    assert generated["n_products"] == 6 and generated["eval_loss"] == pytest.approx(on_early, rel=1e-5)


def test_generated_answers_do_not_depend_on_how_many_rows_one_call_decodes(full_run, monkeypatch):
    """Left-padded prompts decode alike in one generate() call or in several (`GENERATE_ROWS`: fewer, fuller calls
    are faster): padding, attention mask and positions leave each row's answer its own."""
    from foretune.trainers import evaluation

    trainer, _, _ = full_run
    products = trainer.validation_products()  # 4, of different prompt lengths
    assert len({len(trainer.encoder.prompt_ids(p)) for p in products}) > 1
    scorer = evaluation.Scorer(
        trainer.peft_model,
        trainer.encoder,
        device=trainer.device,
        autocast=trainer._autocast,
        batch_size=8,
        max_new_tokens=16,  # enough to tell answers apart, at under half of TINY's 40
        stop=trainer._stop_criteria,
    )
    was_training = trainer.peft_model.training
    trainer.peft_model.eval()  # no LoRA dropout, as in evaluate()
    try:
        together = scorer.generate(products)
        monkeypatch.setattr(evaluation, "GENERATE_ROWS", 3)  # a call of 3 rows and one of 1, padded differently
        apart = scorer.generate(products)
    finally:
        trainer.peft_model.train(was_training)  # the module's other tests share this model
    assert apart == together


def test_the_final_is_re_scored_from_its_own_items(full_run):
    """What a search's paired draws resample (`final_resampling`): the task's metric from the final's items and
    predictions, the eval loss as the mean of its items' own losses; a metric nothing scores gives nothing."""
    trainer, _, curve = full_run
    final = curve.iloc[-1]
    score, items, predictions = trainer.final_resampling("accuracy")
    assert len(items) == 6 and score(items, predictions)["accuracy"] == pytest.approx(final["accuracy"])
    score, items, losses = trainer.final_resampling("eval_loss")
    assert len(losses) == 6 and len(set(losses)) > 1
    assert score(items, losses)["eval_loss"] == pytest.approx(final["eval_loss"], rel=1e-6)
    assert score(items[:3], losses[:3])["eval_loss"] != pytest.approx(final["eval_loss"])
    assert trainer.final_resampling("no_such_metric") is None


@pytest.mark.parametrize(
    ("extra", "early_only"),
    [
        ({"task.eval_method": "generate"}, True),
        ({"task.eval_method": "teacher_forced"}, False),  # its answers come from the same pass as the loss
        ({"task.eval_method": "generate", "search.metric": "eval_loss", "search.mode": "min"}, False),  # an objective
        ({"task.eval_method": "generate", "data.max_final_eval_samples": 4}, False),  # nothing to save
    ],
)
def test_which_finals_keep_the_eval_loss_on_the_early_products(extra, early_only):
    assert LoraTrainer(tiny_config(**extra)).final_loss_on_early_products() is early_only


def test_the_loss_needs_logits_only_at_answer_positions(full_run):
    """Training and teacher-forced scoring run the LM head only where an answer token is predicted: the loss and its
    gradients are transformers' own (every position's logits) to float precision, also for a model whose forward
    has no `logits_to_keep` (its full logits are indexed instead)."""
    import torch

    from foretune.trainers.encoding import collate
    from foretune.trainers.evaluation import answer_logits

    trainer, _, _ = full_run
    model = trainer.peft_model
    examples = [trainer.encoder.encode(p) for p in trainer.validation_products(final=True)]
    batch = collate(examples, trainer.encoder.tokenizer.pad_token_id, trainer.device)
    answer_positions = int((batch["labels"][:, 1:] != -100).sum())
    assert 0 < answer_positions < batch["labels"][:, 1:].numel() / 2  # most positions are prompt or padding

    class EveryPosition(torch.nn.Module):  # a causal LM without logits_to_keep
        def __init__(self, lm):
            super().__init__()
            self.lm = lm

        def forward(self, input_ids, attention_mask):
            return self.lm(input_ids=input_ids, attention_mask=attention_mask)

    def loss_and_grads(lm=None):
        model.zero_grad()
        if lm is None:
            loss = model(**batch).loss
        else:
            logits, tokens = answer_logits(lm, batch)
            assert logits.shape == (answer_positions, model.config.vocab_size) and tokens.shape == (answer_positions,)
            loss = torch.nn.functional.cross_entropy(logits.float(), tokens)
        loss.backward()
        return float(loss), [p.grad.clone() for p in model.parameters() if p.requires_grad]

    model.eval()  # no LoRA dropout: the passes below must see the same weights
    reference, reference_grads = loss_and_grads()
    for lm in (model, EveryPosition(model)):
        loss, grads = loss_and_grads(lm)
        # Float precision, by norm: on a GPU the GEMMs of answer rows and of all rows reduce in other orders.
        assert loss == pytest.approx(reference, rel=1e-5)
        assert all(float((g - r).norm()) <= 1e-4 * float(r.norm()) for g, r in zip(grads, reference_grads, strict=True))
    model.zero_grad(set_to_none=True)
    model.train()
