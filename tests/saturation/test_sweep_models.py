"""`foretune sweep --models a,b`: one saturation fit per model on the same data, and whether the one behind
catches up. The answer's logic runs on cheap curves; the command runs real LoRA steps on two tiny models."""

from __future__ import annotations

import json
from pathlib import Path

from foretune.errors import ForetuneError
from foretune.search.sweep import SaturationSweep
from foretune.search.sweep.models import catch_up_answer, model_folder_name, models_frame

SIZES = [50, 100, 200, 400, 800, 1600]


def power_law(asymptote: float, noise: float = 0.002):
    def train_and_score(n: int, seed: int, reporter=None) -> dict[str, float]:
        import numpy as np

        rng = np.random.default_rng(n * 7 + seed)
        return {"accuracy": asymptote - 2.0 * n**-0.5 + rng.normal(0, noise)}

    return train_and_score


def sweep(asymptote: float, noise: float = 0.002, repeats: int = 1):
    runs = SaturationSweep(power_law(asymptote, noise), sizes=SIZES, adaptive=False, n_bootstrap=30, repeats=repeats)
    return runs.run()


def test_a_model_that_levels_off_lower_does_not_catch_up() -> None:
    results = {"large": sweep(0.9), "small": sweep(0.7)}
    frame = models_frame(results)
    assert list(frame["model"]) == ["large", "small"]
    assert frame["asymptote"].iloc[0] > frame["asymptote"].iloc[1]
    answer = catch_up_answer(results, "max")
    assert answer.startswith("Does small (behind large at n = 1,600) reach it with more data? No:")


def test_noisy_fits_whose_intervals_overlap_cannot_tell() -> None:
    results = {"a": sweep(0.8, noise=0.08, repeats=2), "b": sweep(0.81, noise=0.08, repeats=2)}
    assert "Cannot tell: intervals overlap" in catch_up_answer(results, "max")


def test_without_bootstrap_no_interval_is_shown_and_no_verdict_given() -> None:
    """--bootstrap 0: the asymptote's band was its point repeated ("0.709 [0.709, 0.709]") and the answer said
    "No" as if two points could not overlap."""
    from foretune.cli.sweep_outputs import models_markdown

    def bare(asymptote: float):
        return SaturationSweep(power_law(asymptote), sizes=SIZES, adaptive=False, n_bootstrap=0).run()

    results = {"large": bare(0.9), "small": bare(0.7)}
    frame = models_frame(results)
    assert frame["asymptote"].notna().all() and frame["asymptote_low"].isna().all()
    answer = catch_up_answer(results, "max")
    assert "Cannot tell: no interval (the sweep ran without bootstrap replicates, --bootstrap 0)" in answer
    markdown = models_markdown(results, mode="max")
    assert "(no interval)" in markdown and "[0.7" not in markdown and "No:" not in markdown


def test_model_folders_are_safe_and_distinct() -> None:
    taken: set[str] = set()
    assert model_folder_name("/models/small/", taken) == "small"
    assert model_folder_name("org/small", taken) == "small-2"
    assert model_folder_name("smollm2-135m", taken) == "smollm2-135m"


TINY_SWEEP = {
    "data.synthetic_size": 60,
    "data.max_eval_samples": 4,
    "data.max_test_samples": 6,
    "task.max_new_tokens": 8,
    "task.eval_method": "teacher_forced",
    "train.batch_size": 2,
    "train.learning_rate": 5e-3,
    "train.eval_fractions": [0.5, 1.0],
    "early_stage.fraction": 0.5,
    "search.metric": "eval_loss",  # random tiny models extract nothing; their loss falls with n
    "search.mode": "min",
}


def test_sweep_over_two_models_fits_one_curve_per_model(tiny_model_dir, smaller_model_dir, ray_session, cli, tmp_path):
    # In this process (the `cli` fixture): its runs are Ray tasks on the session's cluster, which this process has
    # joined. A driver process of its own would only add its imports and Ray join (the command as a real process:
    # tests/saturation/test_saturation_sweep.py; drivers joining by RAY_ADDRESS: tests/search/test_search_stack.py).
    out = tmp_path / "sweep"
    args = ["sweep", "configs/default.yaml", "--out", str(out)]
    args += ["--models", f"{tiny_model_dir},{smaller_model_dir}", "--sizes", "2,4,8", "--grid", "--no-early-cut"]
    args += ["--bootstrap", "10"]
    for key, value in TINY_SWEEP.items():
        args += ["--set", f"{key}={json.dumps(value)}"]
    code, stdout, stderr = cli(*args)
    assert code == 0, stderr[-3000:]
    summary = json.loads((out / "models.json").read_text())
    assert list(summary["models"]) == [tiny_model_dir, smaller_model_dir]
    for entry in summary["models"].values():
        assert entry["asymptote"] is not None and entry["asymptote_low"] <= entry["asymptote_high"]
        points = (out / entry["folder"] / "points.csv").read_text().splitlines()
        assert len(points) == 1 + 3  # header + one run per size
    assert summary["answer"].startswith("Does ")
    assert summary["answer"] in (out / "models.md").read_text()
    assert (out / "models.png").stat().st_size > 1000
    assert summary["answer"] in stdout.replace("\n", " ") or "Does " in stdout


def test_a_missing_model_is_a_clear_error_before_anything_runs(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from foretune.cli.app import app

    out = tmp_path / "sweep"
    args = ["sweep", "configs/default.yaml", "--out", str(out), "--models", "smollm2-135m,/nonexistent/model"]
    done = CliRunner().invoke(app, [*args, "--sizes", "2,4,8"])
    assert isinstance(done.exception, ForetuneError)  # `foretune` prints it as one line, exit code 2
    assert "/nonexistent/model" in str(done.exception)
    assert not out.exists()
