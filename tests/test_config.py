"""The experiment config: defaults, YAML loading, overrides, and one clear error per mistake."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from foretune.config import load_config, parse_overrides
from foretune.errors import ForetuneError

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("name", ["default.yaml", "gpu.yaml"])
def test_shipped_configs_load(name):
    config = load_config(CONFIGS / name)
    assert config.train.eval_fractions[-1] == 1.0
    assert config.search.space  # every shipped config searches something


def test_yaml_overrides_defaults_and_keeps_the_rest(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  max_steps: 7\n  lora: {r: 4}\n")
    config = load_config(path)
    assert config.train.max_steps == 7 and config.train.lora.r == 4
    assert config.train.lora.alpha == 16  # untouched default


def test_overrides_are_yaml_values_on_dotted_paths():
    overrides = parse_overrides(["train.lora.r=16", "train.eval_fractions=[0.5, 1.0]", "data.source=x.jsonl"])
    assert overrides == {"train.lora.r": 16, "train.eval_fractions": [0.5, 1.0], "data.source": "x.jsonl"}
    config = load_config(None, overrides | {"search.space.lora.dropout": {"type": "float", "low": 0.0, "high": 0.2}})
    assert config.train.lora.r == 16 and "lora.dropout" in config.search.space


def test_one_field_of_a_searched_parameter_can_be_set():
    """`--set search.space.learning_rate.low=...` changes that bound (parameter names hold dots: lora.r)."""
    base = load_config(Path(__file__).parents[1] / "configs" / "default.yaml")
    config = base.with_overrides({"search.space.learning_rate.low": 5e-4, "search.space.lora.r.choices": [4, 8]})
    assert (config.search.space["learning_rate"].low, config.search.space["learning_rate"].high) == (5e-4, 6e-3)
    assert config.search.space["lora.r"].choices == [4, 8] and "lora.r.choices" not in config.search.space
    with pytest.raises(ForetuneError, match="a log_float parameter needs low > 0, got 0"):
        base.with_overrides({"search.space.learning_rate.low": 0})
    # a field of a parameter the config does not search: what to give instead (it was "Input should be a valid
    # dictionary" about a parameter named 'warmup_ratio.step')
    with pytest.raises(ForetuneError, match="sets the step of 'warmup_ratio', which is not searched"):
        base.with_overrides({"search.space.warmup_ratio.step": 0.05})
    whole = base.with_overrides({"search.space.warmup_ratio": {"type": "float", "low": 0, "high": 0.2, "step": 0.05}})
    assert whole.search.space["warmup_ratio"].step == 0.05


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("learning_rate.step", 0.001, "takes no `step` \\(Optuna samples it on a log scale\\)"),
        ("lora.r.step", 2, "a categorical parameter takes no `step`"),
    ],
)
def test_a_step_optuna_would_refuse_is_a_config_error(field, value, words):
    """Optuna refused a step with log (or <= 0) only when the first trial was asked for, after the study was
    created; a categorical parameter ignored its step."""
    base = load_config(Path(__file__).parents[1] / "configs" / "default.yaml")
    with pytest.raises(ForetuneError, match=words):
        base.with_overrides({f"search.space.{field}": value})
    for step in (0, -1, 0.5):  # an int parameter's step is a positive integer
        with pytest.raises(ForetuneError, match=f"step={step:g}: give a positive integer"):
            base.with_overrides({"search.space.steps": {"type": "int", "low": 1, "high": 9, "step": step}})


def test_eval_fractions_always_end_with_the_final_score():
    config = load_config(None, {"train.eval_fractions": [0.5, 0.2, 0.2], "early_stage.fraction": 0.2})
    assert config.train.eval_fractions == [0.2, 0.5, 1.0]


def test_bf16_on_and_off_read_as_written_in_a_file_and_in_set(tmp_path):
    """YAML reads a bare on/off as a boolean: `bf16: off` in a file and `--set train.bf16=off` mean the setting."""
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  bf16: off\n")
    assert load_config(path).train.bf16 == "off"
    assert load_config(None, parse_overrides(["train.bf16=on"])).train.bf16 == "on"
    assert load_config(None, parse_overrides(["train.bf16=auto"])).train.bf16 == "auto"
    with pytest.raises(ForetuneError, match="train.bf16"):
        load_config(None, parse_overrides(["train.bf16=half"]))


def test_target_modules_accept_a_comma_separated_string():
    config = load_config(None, {"train.lora.target_modules": "q_proj, k_proj,v_proj"})
    assert config.train.lora.target_modules == ["q_proj", "k_proj", "v_proj"]


@pytest.mark.parametrize(
    "text, fragments",
    [
        ("train:\n  lora:\n    rank: 4\n", ["train.lora.rank", "unknown key", "c.yaml"]),
        ("train:\n  max_steps: many\n", ["train.max_steps", "integer", "c.yaml"]),
        ("train:\n  eval_fractions: [0.5, 1.5]\n", ["train.eval_fractions", "(0, 1]"]),
        ("search:\n  space:\n    learning_rate: {type: log_float, low: 0.01, high: 0.001}\n", ["empty range"]),
        (
            "search:\n  space:\n    learning_rate: {type: gaussian, low: 0, high: 1}\n",
            ["search.space.learning_rate.type", "'gaussian'"],
        ),
        ("search:\n  space:\n    lora.rank: {type: int, low: 1, high: 8}\n", ["lora.rank", "unknown field 'rank'"]),
        ("model:\n  name: [unclosed\n", ["malformed YAML", "line"]),
        ("- just\n- a list\n", ["top level must be a mapping"]),
    ],
)
def test_bad_config_is_one_clear_error_naming_key_and_file(tmp_path, text, fragments):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ForetuneError) as caught:
        load_config(path)
    for fragment in fragments:
        assert fragment in str(caught.value)


@pytest.mark.parametrize(
    "pairs, fragment",
    [
        (["train.lora.rank=4"], "train.lora.rank"),
        (["nosuch.key=1"], "nosuch"),
        (["train.max_steps"], "KEY=VALUE"),
        # numpy refuses a negative seed: the search failed with a ValueError traceback after creating its study
        (["search.seed=-1"], "search.seed"),
        (["train.seed=-1"], "train.seed"),
        (["data.seed=-1"], "data.seed"),
        (["search.metric_range=[100, 0]"], "search.metric_range: low=100 must be below high=0"),
        (["search.metric_range=percent"], "search.metric_range"),
    ],
)
def test_bad_override_is_a_clear_error(pairs, fragment):
    with pytest.raises(ForetuneError, match=fragment.replace(".", r"\.")):
        load_config(None, parse_overrides(pairs))


def test_cli_config_prints_every_key_and_rejects_bad_files(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "foretune.cli", "config", str(CONFIGS / "default.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    for section in ("model:", "data:", "task:", "train:", "search:", "early_stage:", "resources:"):
        assert section in done.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  lora:\n    rank: 4\n")
    done = subprocess.run(
        [sys.executable, "-m", "foretune.cli", "config", str(bad)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and "train.lora.rank" in done.stderr and "Traceback" not in done.stderr


def test_early_stage_predictor_is_one_of_the_predictors():
    from typing import get_args

    from foretune.config import EarlyStageConfig
    from foretune.predictors import PREDICTORS

    names = get_args(EarlyStageConfig.model_fields["predictor"].annotation)
    assert set(names) == set(PREDICTORS)
    for name in names:
        assert load_config(None, {"early_stage.predictor": name}).early_stage.predictor == name
    with pytest.raises(ForetuneError, match=r"early_stage\.predictor: .*'learned', got 'crystal_ball'"):
        load_config(None, {"early_stage.predictor": "crystal_ball"})


@pytest.mark.parametrize(
    "fractions, early, expected",
    [
        ([0.1, 0.4, 1.0], 0.25, [0.1, 0.25, 0.4, 1.0]),  # judged at 25%, so evaluated there too
        ([0.5], 0.2, [0.2, 0.5, 1.0]),
        ([0.1, 0.2, 1.0], 0.2, [0.1, 0.2, 1.0]),  # already there: unchanged
    ],
)
def test_the_early_fraction_is_always_evaluated(fractions, early, expected):
    config = load_config(None, {"train.eval_fractions": fractions, "early_stage.fraction": early})
    assert config.train.eval_fractions == expected
    assert config.with_overrides({}).train.eval_fractions == expected  # stable on a round trip


@pytest.mark.parametrize(
    "param, words",
    [
        ({"batch_size": {"type": "categorical", "choices": [0, 4]}}, "batch_size: 0 is no value of train.batch_size"),
        ({"warmup_ratio": {"type": "float", "low": 0.0, "high": 1.5}}, "1.5 is no value of train.warmup_ratio"),
        ({"lora.r": {"type": "int", "low": 0, "high": 16}}, "lora.r: 0 is no value of train.lora.r"),
    ],
)
def test_a_searched_value_its_field_refuses_is_a_config_error(param, words):
    """Each choice and each end of a range must be a value of the field it sets (a trial given batch_size 0 failed
    at its start, trial after trial); your own function's parameters are its own."""
    with pytest.raises(ForetuneError, match=words):
        load_config(None, {"search.space": param})
    assert load_config(None, {"search.space": param, "search.trainable": "mytrain:train"}).search.space


def test_the_default_jobs_final_scores_every_product_it_asks_for():
    """`data.max_final_eval_samples` is a cap: a validation split smaller than it would silently score the final on
    fewer products (and a noisier final) than the config says. The default job's split holds all of them."""
    from foretune.trainers.tasks import make_task

    config = load_config(CONFIGS / "default.yaml")
    data = config.data
    splits = make_task(config).load_splits(data, offline=True)
    assert len(splits.validation) >= data.max_final_eval_samples > data.max_eval_samples
    assert len({repr(p) for p in splits.validation[: data.max_final_eval_samples]}) == data.max_final_eval_samples
