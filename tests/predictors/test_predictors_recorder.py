"""The LoRA curve recorder (benchmarks/record_lora_curves.py): its settings and shards, without training."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from foretune.config import load_config
from tests.benchmark_scripts import benchmark_module

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def recorder():
    return benchmark_module("record_lora_curves")


def test_the_default_options_still_extend_the_committed_recording(recorder):
    committed = json.loads((ROOT / "benchmarks" / "data" / "lora_curves.settings.json").read_text())
    assert json.loads(json.dumps(recorder.settings(recorder.parse_args([])))) == committed


def test_a_recording_with_other_data_options_is_refused(recorder, tmp_path):
    out = tmp_path / "curves.csv"
    fresh = recorder.parse_args(["--data-seed", "1", "--final-eval-products", "48", "--eval-fractions", "0.2", "1.0"])
    recorder.check_settings(out, recorder.settings(fresh))
    pd.DataFrame({"trial": [0], "fraction": [1.0]}).to_csv(out, index=False)
    recorder.check_settings(out, recorder.settings(fresh))  # the same settings resume
    with pytest.raises(recorder.ForetuneError, match="other settings"):
        recorder.check_settings(out, recorder.settings(recorder.parse_args([])))
    base = recorder.settings(fresh)["base"]
    assert base["data"]["seed"] == 1 and base["data"]["max_final_eval_samples"] == 48
    assert base["train"]["eval_fractions"] == [0.2, 1.0]
    assert recorder.BASE["data"]["seed"] == 0  # the pinned settings are not changed in place


def test_real_products_are_read_in_place_and_named_from_the_repository(recorder, tmp_path):
    source = tmp_path / "products.jsonl"
    source.write_text('{"text": "Acme red shoe", "attributes": {"Brand": "Acme", "Color": "red"}}\n')
    args = recorder.parse_args(["--source", str(source), "--data-seed", "2"])
    data = recorder.base_settings(args)["data"]
    assert data["source"] == str(source.resolve()) and "synthetic_size" not in data
    recorder.validate_config(recorder.base_settings(args))  # a config the trainer accepts
    recorded = recorder.settings(args)["base"]["data"]["source"]
    assert (ROOT / recorded).resolve() == source.resolve() and not Path(recorded).is_absolute()
    assert "synthetic_size" in recorder.BASE["data"]  # the pinned settings are not changed in place


def test_the_job_space_is_the_default_jobs_trial(recorder):
    """`--space job` records the job's trial (configs/default.yaml): its space, no warm-up, judged at 20% only."""
    job = load_config(ROOT / "configs" / "default.yaml")
    args = recorder.parse_args(["--space", "job", "--max-steps", "15", "--eval-fractions", "0.2", "1.0"])
    assert recorder.settings(args)["space"] == {k: v.model_dump(exclude_none=True) for k, v in job.search.space.items()}
    config = recorder.validate_config(recorder.base_settings(args))
    assert config.train.warmup_ratio == job.train.warmup_ratio == 0.0
    assert config.train.eval_fractions == job.train.eval_fractions == [0.2, 1.0]
    points = recorder.design(16, 6, recorder.JOB_SPACE)
    assert all(1e-3 <= p["learning_rate"] <= 6e-3 and set(p) == set(job.search.space) for p in points)
    assert recorder.base_settings(recorder.parse_args([])) == recorder.BASE  # the committed sets' settings
    committed = json.loads((ROOT / "benchmarks" / "data" / "lora_curves_job.settings.json").read_text())
    recorded = ["--space", "job", "--seed", "6", "--eval-products", "12", "--final-eval-products", "48"]
    recorded += ["--eval-fractions", "0.2", "1.0"]  # benchmarks/data/README.md's command (15 steps by default)
    assert json.loads(json.dumps(recorder.settings(recorder.parse_args(recorded)))) == committed


def test_the_job72_set_records_the_job_as_it_runs_now(recorder):
    """`lora_curves_job72.csv` (round 58): the job's split of 72 validation products, its final on all 72 and the
    bf16 it computes in on this CPU, pinned in the committed settings that benchmarks/data/README.md's command gives."""
    job = load_config(ROOT / "configs" / "default.yaml")
    committed = json.loads((ROOT / "benchmarks" / "data" / "lora_curves_job72.settings.json").read_text())
    recorded = ["--space", "job", "--seed", "58", "--eval-products", "12", "--final-eval-products", "72"]
    recorded += ["--validation-fraction", "0.12", "--bf16", "on", "--eval-fractions", "0.2", "1.0"]
    args = recorder.parse_args(recorded)
    assert json.loads(json.dumps(recorder.settings(args))) == committed
    config = recorder.validate_config(recorder.base_settings(args))
    for key in ("validation_fraction", "max_eval_samples", "max_final_eval_samples", "seed", "synthetic_size"):
        assert getattr(config.data, key) == getattr(job.data, key), key
    assert config.train.bf16 == "on" and "bf16" not in recorder.BASE["train"]  # pinned for this set only


@pytest.mark.parametrize(
    "argv",
    [
        ["--validation-fraction", "1.5"],
        ["--bf16", "yes"],
        ["--shard", "2/2"],
        ["--shard", "a/2"],
        ["--eval-fractions", "0.2", "0.5"],
        ["--eval-products", "0"],
        ["--source", "no/such/products.jsonl"],
    ],
)
def test_bad_options_exit_2(recorder, argv):
    with pytest.raises(SystemExit) as exit_info:
        recorder.parse_args(argv)
    assert exit_info.value.code == 2


def test_shards_split_the_design_and_appends_keep_every_shards_rows(recorder, tmp_path):
    shards = [recorder.parse_args(["--shard", f"{k}/3"]) for k in range(3)]
    ids = [[t for t in range(10) if t % a.shard_count == a.shard_index] for a in shards]
    assert sorted(sum(ids, [])) == list(range(10))
    out = tmp_path / "curves.csv"
    recorder.check_settings(out, recorder.settings(shards[0]))
    for trial in (0, 1, 2):
        recorder.append_atomically(out, pd.DataFrame({"trial": [trial, trial], "fraction": [0.2, 1.0]}))
    assert recorder.recorded_trials(out) == {0, 1, 2}
    assert len(pd.read_csv(out)) == 6


def test_the_loss_products_recording_is_the_job_sets_runs_with_the_loss_on_more_products():
    """benchmarks/loss_products.py re-ran the job set's configurations with its settings: the same runs (training is
    untouched, so the same finals), with the eval loss at 20% also on the final's 48 products and on all of them."""
    recorder = benchmark_module("record_lora_curves")
    loss_products = benchmark_module("loss_products")
    data = ROOT / "benchmarks" / "data"
    committed = json.loads((data / "lora_curves_job.settings.json").read_text())
    wanted = recorder.settings(recorder.parse_args(loss_products.RECORD_ARGS))
    assert json.loads(json.dumps(wanted)) == committed
    assert json.loads((data / "lora_curves_job_loss_products.settings.json").read_text()) == committed
    job = pd.read_csv(data / "lora_curves_job.csv").set_index(["trial", "fraction"]).sort_index()
    more = pd.read_csv(data / "lora_curves_job_loss_products.csv").set_index(["trial", "fraction"]).sort_index()
    assert more.index.equals(job.index)
    pd.testing.assert_frame_equal(more[job.columns], job)
    early = more.xs(0.2, level="fraction")
    assert early[["eval_loss_48", "eval_loss_all"]].notna().all().all()
    assert more.xs(1.0, level="fraction")[["eval_loss_48", "eval_loss_all"]].isna().all().all()
    assert not early.eval_loss.equals(early.eval_loss_48)  # other products: other values
