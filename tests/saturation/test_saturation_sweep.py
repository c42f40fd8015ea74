"""The saturation sweep: adaptive size choice, per-attribute curves, outputs, and the real trainer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest

from foretune.cli.sweep_outputs import sweep_markdown, write_sweep_files
from foretune.errors import ForetuneError
from foretune.keys import JOURNAL_NAME, N_SAMPLES_ATTR
from foretune.search.sweep import (
    SaturationSweep,
    check_sizes,
    geometric_sizes,
    lora_train_and_score,
    parse_sizes,
    write_outputs,
)
from foretune.search.sweep.adaptive import expected_reduction, interval_ratio, next_size

SIZES = geometric_sizes(25_600, start=50)  # 0, 50, 100, ..., 25,600


def curve_task(n: int, seed: int) -> dict[str, float]:
    """A cheap stand-in for training: a known power law, plus one attribute that saturates late."""
    rng = np.random.default_rng(n * 100 + seed)
    if n == 0:
        return {"accuracy": 0.3, "acc/Brand": 0.3, "acc/Rating": 0.1}
    overall = 0.9 - 3 * n**-0.6  # plateau (within 0.01) at n ~ 13,500
    return {
        "accuracy": overall + rng.normal(0, 0.003),
        "acc/Brand": 0.95 - 2 * n**-0.9 + rng.normal(0, 0.003),  # done by n ~ 150
        "acc/Rating": 0.9 - 2 * n**-0.3 + rng.normal(0, 0.003),  # still climbing at 25,600
    }


def test_geometric_sizes_and_parse_sizes() -> None:
    assert geometric_sizes(1000, start=100) == [0, 100, 200, 400, 800, 1000]
    assert parse_sizes("400, 0,50,50", available=400) == [0, 50, 400]
    for text, message in (
        ("0,50,900", "larger than the 400"),
        ("-5,50", "non-negative"),
        ("2.5", "non-negative"),
        ("a,b", "not a number"),
    ):
        with pytest.raises(ForetuneError, match=message):
            parse_sizes(text, available=400)
    assert check_sizes([400, 0, 50, 50], available=400) == [0, 50, 400]
    with pytest.raises(ForetuneError, match="sweep.sizes: 900 is larger than the 400"):
        check_sizes([0, 900], available=400)


def test_next_size_prefers_what_is_cheap_to_measure_when_it_informs() -> None:
    result = SaturationSweep(curve_task, sizes=SIZES[:7], adaptive=False, n_bootstrap=40).run().saturation
    candidates = SIZES[7:]
    assert next_size(result, [0], target="min_useful_n", noise=0.003, cost=float) is None
    assert interval_ratio(result, "min_useful_n") >= 1.0
    informative = [
        c
        for c, r in zip(
            candidates, expected_reduction(result, candidates, target="min_useful_n", noise=0.003), strict=True
        )
        if r > 0
    ]
    assert informative, "the fit should be uncertain beyond its measured sizes"
    for cheap in informative:
        chosen = next_size(
            result,
            candidates,
            target="min_useful_n",
            noise=0.003,
            cost=lambda n, cheap=cheap: 1.0 if n == cheap else 1e9,
        )
        assert chosen == cheap


def test_adaptive_sweep_finds_the_plateau_for_less_compute_than_the_grid() -> None:
    calls: list[int] = []

    def counted(n: int, seed: int) -> dict[str, float]:
        calls.append(n)
        return curve_task(n, seed)

    adaptive = SaturationSweep(counted, sizes=SIZES, repeats=2, n_bootstrap=40).run()
    grid = SaturationSweep(curve_task, sizes=SIZES, repeats=2, n_bootstrap=40, adaptive=False).run()
    assert grid.compute_fraction == 1.0
    assert adaptive.compute_fraction < 0.8, adaptive.stopped_because
    assert len(set(calls)) < len(SIZES)
    true_useful = 300 ** (1 / 0.6)  # 3 n^-0.6 = 0.01
    for result in (adaptive, grid):
        assert result.saturation.min_useful_n == pytest.approx(true_useful, rel=0.5)
    assert "tight" in adaptive.stopped_because


def test_per_attribute_curves_name_the_late_attribute() -> None:
    result = SaturationSweep(curve_task, sizes=SIZES, adaptive=False, n_bootstrap=20).run()
    assert set(result.attributes) == {"Brand", "Rating"}
    assert result.late_attributes() == ["Rating"]


def test_late_attributes_when_nothing_has_bent_yet_and_rare_ones_left_out() -> None:
    def rising(n: int, seed: int) -> dict[str, float]:
        if n == 0:
            return {"accuracy": 0.0}
        x, noise = np.log2(n / 50), np.random.default_rng(n).normal(0, 0.003, 3)
        return {
            "accuracy": 0.1 + 0.04 * x + noise[0],  # overall: straight in log n, no plateau in sight
            "acc/Fast": 0.1 + 0.08 * x + noise[1],
            "labels/Fast": 20.0,  # gains more per doubling
            "acc/Slow": 0.1 + 0.01 * x + noise[2],
            "labels/Slow": 20.0,
            "acc/Once": 0.0 if n < 400 else 1.0,
            "labels/Once": 1.0,  # one test label: noise
        }

    result = SaturationSweep(rising, sizes=SIZES[:8], adaptive=False, n_bootstrap=10).run()
    assert result.saturation.min_useful_n is None  # beyond the horizon
    assert result.late_attributes() == ["Fast"]
    assert result.rare_attributes == ["Once"] and "Once" not in result.attributes
    # table.md says so in words: a Python None must not reach the reader
    table = sweep_markdown(result)
    assert "- minimum useful n: beyond horizon (interval [" in table
    assert "None" not in table and "beyond horizon]" in table


def test_outputs_points_json_and_study(tmp_path: Path) -> None:
    result = SaturationSweep(curve_task, sizes=SIZES[:7], adaptive=False, n_bootstrap=20).run()
    paths = write_outputs(result, tmp_path, study_name="sweep-test", mode="max")
    assert sorted(paths) == ["points", "study", "summary"] and paths["study"].name == JOURNAL_NAME
    assert all(path.is_file() and path.stat().st_size > 0 for path in paths.values())
    summary = json.loads(paths["summary"].read_text())
    assert summary["measured_sizes"] == SIZES[:7] and summary["min_useful_n_interval"][0] is not None
    assert paths["points"].read_text().count("\n") == len(result.points) + 1
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    study = optuna.load_study(study_name="sweep-test", storage=JournalStorage(JournalFileBackend(str(paths["study"]))))
    assert sorted(t.user_attrs[N_SAMPLES_ATTR] for t in study.trials) == SIZES[:7]
    assert sorted(t.params[N_SAMPLES_ATTR] for t in study.trials) == SIZES[:7]


def test_command_files_add_the_markdown_table_and_the_plot(tmp_path: Path) -> None:
    result = SaturationSweep(curve_task, sizes=SIZES[:7], adaptive=False, n_bootstrap=20).run()
    paths = write_sweep_files(result, tmp_path, metric="accuracy", study_name="sweep-test", mode="max")
    assert list(paths) == ["points", "table", "plot", "summary", "study"]
    assert all(path.is_file() and path.stat().st_size > 0 for path in paths.values())
    table = paths["table"].read_text().splitlines()
    assert table[:3] == [
        "| n | mean score | std | runs | fitted | gain per doubling |",
        "|---|---|---|---|---|---|",
        "| 0 | 0.3000 | - | 1 | - | - |",  # one zero-shot run: no spread, not on the fitted curve
    ]
    fitted = float(result.saturation.predict([50])[0])
    assert table[3].startswith(f"| 50 | {curve_task(50, 0)['accuracy']:.4f} | - | 1 | {fitted:.4f} | +")
    assert "| attribute | min useful n | interval | gain per doubling at the largest n |" in table
    assert "Late-saturating attributes: Rating" in table


@pytest.mark.parametrize("finished", [5, 2])
def test_ctrl_c_keeps_the_runs_that_finished(tmp_path: Path, finished: int) -> None:
    """Ctrl-C mid-sweep lost every run (hours of them); now the sweep returns those that finished, fitted when
    there are enough sizes, and its files are written from them."""
    calls = []

    def interrupted_task(n: int, seed: int) -> dict[str, float]:
        if len(calls) == finished:
            raise KeyboardInterrupt
        calls.append(n)
        return curve_task(n, seed)

    result = SaturationSweep(interrupted_task, sizes=SIZES[:7], adaptive=False, n_bootstrap=20).run()
    assert result.interrupted and [p.n for p in result.points] == SIZES[:finished]
    assert result.stopped_because == f"interrupted (Ctrl-C) after {finished} run(s)"
    assert (result.saturation is not None) == (finished - 1 >= 3)  # sizes above 0, as the fit needs
    paths = write_sweep_files(result, tmp_path, metric="accuracy", study_name="sweep-test", mode="max")
    assert all(path.is_file() and path.stat().st_size > 0 for path in paths.values())
    assert "interrupted (Ctrl-C)" in paths["table"].read_text()


def test_sigterm_keeps_the_runs_that_finished(tmp_path: Path) -> None:
    """SIGTERM (a batch scheduler's stop, `timeout`, `kill`) ended the sweep at once and lost every run; inside
    `sigterm_as_ctrl_c` (as `foretune sweep` runs it) it stops the sweep as Ctrl-C does."""
    import os
    import signal

    from foretune.cli.stop_signals import sigterm_as_ctrl_c

    calls = []

    def terminated_task(n: int, seed: int) -> dict[str, float]:
        if len(calls) == 4:
            os.kill(os.getpid(), signal.SIGTERM)
        calls.append(n)
        return curve_task(n, seed)

    before = signal.getsignal(signal.SIGTERM)
    with sigterm_as_ctrl_c() as sigterm:
        result = SaturationSweep(terminated_task, sizes=SIZES[:7], adaptive=False, n_bootstrap=20).run()
    assert sigterm.is_set()  # (what `foretune sweep` reads: Ray's ray.get raises a bare KeyboardInterrupt)
    assert result.interrupted and result.stop_signal == "SIGTERM" and [p.n for p in result.points] == SIZES[:4]
    assert result.stopped_because == "interrupted (SIGTERM) after 4 run(s)"
    assert signal.getsignal(signal.SIGTERM) is (signal.SIG_DFL if before is None else before)  # restored


def test_too_few_sizes_and_unknown_metric_are_user_errors() -> None:
    with pytest.raises(ForetuneError, match=r"at least 3 sizes above 0 to fit a curve, got 1 \(50\);"):
        SaturationSweep(curve_task, sizes=[0, 50])
    with pytest.raises(ForetuneError, match="no metric 'f1'"):
        SaturationSweep(curve_task, sizes=SIZES, metric="f1").run()


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        ("0,50,100000", "larger than the"),
        ("0,-50", "non-negative"),
        ("0,1.5", "non-negative"),
        ("0,5", "at least 3"),
    ],
)
def test_sweep_cli_bad_sizes_exit_2(sizes: str, message: str, tmp_path: Path) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text("name: tiny\ndata:\n  synthetic_size: 60\n")
    done = subprocess.run(
        [sys.executable, "-m", "foretune.cli", "sweep", str(config), "--sizes", sizes, "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_sweep_cli_bad_early_tolerance_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text("name: tiny\ndata:\n  synthetic_size: 60\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "foretune.cli",
            "sweep",
            str(config),
            "--early-tolerance",
            "-0.01",
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2 and "--early-tolerance" in done.stderr, done.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_real_lora_runs_at_tiny_sizes_feed_the_sweep(tmp_path: Path) -> None:
    """The real trainer at n = 0 (zero-shot) and n = 4 (one optimizer step), scored on the same test split."""
    from foretune.config import load_config

    config = load_config(
        None,
        {
            "data.synthetic_size": 60,
            "data.max_test_samples": 2,
            "data.max_eval_samples": 2,
            "train.max_steps": 1,
            "train.batch_size": 2,
            "sweep.epochs": 0.5,  # half a pass over n = 4 at batch 2: one step
            "train.eval_fractions": [1.0],
            "task.max_new_tokens": 24,
        },
    )
    train_and_score, cost, available = lora_train_and_score(config)
    assert available >= 4 and cost(4) > cost(0)
    zero, tuned = train_and_score(0, 0), train_and_score(4, 0)
    for metrics in (zero, tuned):
        assert 0.0 <= metrics["accuracy"] <= 1.0
        assert any(key.startswith("acc/") for key in metrics)
    # The sweep machinery records real runs like any others.
    sweep = SaturationSweep(
        lambda n, seed: zero if n == 0 else tuned, sizes=[0, 1, 2, 3, 4, 5], adaptive=False, n_bootstrap=5
    )
    result = sweep.run()
    paths = write_outputs(result, tmp_path, study_name="real", mode="max")
    assert paths["points"].read_text().count("\n") == 7


def test_a_loss_still_falling_is_not_extrapolated_below_zero(tmp_path: Path) -> None:
    """`foretune sweep` on eval_loss with four tiny sizes (a still-falling curve) showed "asymptote: -0.5640": a
    cross-entropy loss cannot go below 0, so the fit now stops there and the table says the bound holds it."""
    from foretune.trainers.tasks import metric_bounds

    def falling_loss(n: int, seed: int) -> dict[str, float]:
        return {"eval_loss": 1.2 - 0.25 * np.log2(n) if n else 1.4}  # straight down in log n: no bend yet

    def sweep(bounds):
        sizes = [0, 2, 4, 8, 16]
        kwargs = {"metric": "eval_loss", "mode": "min", "adaptive": False, "n_bootstrap": 10, "bounds": bounds}
        return SaturationSweep(falling_loss, sizes=sizes, max_n=40, attribute_prefix=None, **kwargs).run()

    assert sweep(None).saturation.asymptote < 0  # what the unbounded fit says
    bounded = sweep(metric_bounds("eval_loss"))
    assert bounded.saturation.asymptote >= 0
    assert "range [0, inf]" in sweep_markdown(bounded)  # a range open above
