"""A sweep run's step budget grows with n; a fixed budget too small for the largest n is an error."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from foretune.cli.app import app
from foretune.config import load_config
from foretune.errors import ForetuneError
from foretune.search.sweep.budget import check_budget, describe_budget, run_steps

DEFAULT = Path(__file__).resolve().parents[2] / "configs" / "default.yaml"
README_SIZES = [0, 50, 100, 200, 400, 800]  # foretune sweep configs/default.yaml --sizes 0,50,100,200,400,800


def test_the_readme_example_plans_a_budget_that_covers_every_size() -> None:
    config = load_config(DEFAULT)  # batch 4: a fixed budget of 20 steps would see 80 examples
    steps = [run_steps(config, n) for n in README_SIZES[1:]]
    assert steps == [26, 50, 100, 200, 400]  # sweep.epochs = 2 by default: two passes over n examples
    assert all(s * config.train.batch_size >= n for s, n in zip(steps, README_SIZES[1:], strict=True))
    check_budget(config, README_SIZES)  # no error
    assert describe_budget(config, README_SIZES).endswith("n=400: 200, n=800: 400")


def test_a_fixed_budget_that_cannot_cover_the_largest_n_says_what_to_set() -> None:
    config = load_config(DEFAULT, {"sweep.epochs": None, "train.max_steps": 20})  # demo config may change
    assert run_steps(config, 800) == run_steps(config, 50) == 20
    with pytest.raises(
        ForetuneError, match=r"80 examples per run cannot cover n = 800.*sweep\.epochs.*max_steps >= 200"
    ):
        check_budget(config, README_SIZES)
    check_budget(config, [0, 40, 80])  # 80 examples cover n = 80
    config = load_config(DEFAULT, {"sweep.epochs": None, "train.epochs": 1})
    assert run_steps(config, 800) == 200  # the train: section's own epochs also grow with n


def test_the_command_stops_before_training_with_that_error(tmp_path: Path) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text("name: tiny\ndata:\n  synthetic_size: 200\ntrain:\n  max_steps: 5\n  batch_size: 4\n")
    args = [
        "sweep",
        str(config),
        "--sizes",
        "0,10,20,40,80",
        "--set",
        "sweep.epochs=null",
        "--out",
        str(tmp_path / "o"),
    ]
    done = CliRunner().invoke(app, args)
    assert isinstance(done.exception, ForetuneError) and "cannot cover n = 80" in str(done.exception)
    assert not (tmp_path / "o").exists()  # nothing half-written
