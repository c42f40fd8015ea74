"""Fixtures shared by every test folder."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence

import pytest

# `postgres_db`: a real PostgreSQL server; `ray_cluster`: a real two-node Ray cluster the tests' drivers join.
pytest_plugins = ("tests.postgres_server", "tests.ray_cluster")

_BLOCK = (
    "import sys\n"
    "class _Block:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] in {blocked!r}:\n"
    "            raise ImportError('blocked: ' + name)\n"
    "sys.meta_path.insert(0, _Block())\n"
)


@pytest.fixture
def run_without() -> Callable[..., subprocess.CompletedProcess]:
    """`run_without(code, blocked=("torch", "ray"))`: run `code` in a fresh interpreter where any
    import of the blocked packages (direct or through a dependency) raises ImportError."""

    def run(code: str, blocked: Sequence[str] = ("torch", "ray")) -> subprocess.CompletedProcess:
        script = _BLOCK.format(blocked=tuple(blocked)) + code
        return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)

    return run


@pytest.fixture
def cli(monkeypatch, capsys) -> Callable[..., tuple[int, str, str]]:
    """`cli(*args)`: `foretune ARGS` in this process, as the console script runs it: (exit code, stdout, stderr).
    Seconds cheaper than a fresh interpreter; each command keeps one test that runs it as a real process."""
    from foretune.cli.app import main

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["foretune", *args])
        with pytest.raises(SystemExit) as done:
            main()
        out, err = capsys.readouterr()
        return int(done.value.code or 0), out, err

    return run


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> str:
    """A randomly initialised 2-layer Llama (about 1.6M weights) with the built-in model's tokenizer, saved as a
    model folder: real transformers training in a second where the test is about the plumbing, not the model."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from foretune.config import ModelConfig
    from foretune.trainers.models import ensure_model

    tokenizer = AutoTokenizer.from_pretrained(ensure_model(ModelConfig()))
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-model")
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture
def tiny_train_settings(tiny_model_dir) -> dict:
    """Dotted config settings (`load_config` overrides, `--set`) for a real LoRA run on the tiny test model that
    takes seconds: 30 synthetic products, 2 steps, evaluations at 50% and 100%, teacher-forced scores."""
    return {
        "model.name": tiny_model_dir,
        "data.synthetic_size": 30,
        "data.max_eval_samples": 4,
        "task.max_new_tokens": 8,
        "task.eval_method": "teacher_forced",
        "train.max_steps": 2,
        "train.batch_size": 2,
        "train.eval_fractions": [0.5, 1.0],
        "early_stage.fraction": 0.5,
    }


@pytest.fixture(scope="session")
def smaller_model_dir(tiny_model_dir, tmp_path_factory) -> str:
    """A second, smaller model: one layer, half the width of the tiny test model, its tokenizer."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    base = LlamaConfig.from_pretrained(tiny_model_dir)
    config = base.__class__(**{**base.to_dict(), "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1})
    torch.manual_seed(1)
    folder = tmp_path_factory.mktemp("smaller-model")
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)
