"""The sweep: section of the config, and `foretune sweep` reading it (its options win)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from foretune.cli.app import app
from foretune.config import SweepConfig, load_config
from foretune.errors import ForetuneError


def test_defaults_are_the_command_line_defaults() -> None:
    assert load_config(None).sweep == SweepConfig(
        sizes=None,
        repeats=1,
        epsilon=0.01,
        adaptive=True,
        target="min_useful_n",
        bootstrap=100,
        early_cut=True,
        early_tolerance=None,
    )
    assert all(field.description for field in SweepConfig.model_fields.values())


def test_a_sweep_section_in_a_file_and_set_overrides(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text("sweep:\n  sizes: [400, 0, 50, 50]\n  adaptive: false\n  early_tolerance: 0.02\n")
    config = load_config(path, {"sweep.repeats": 2})
    assert config.sweep.sizes == [0, 50, 400]  # sorted, without repeats
    assert (config.sweep.repeats, config.sweep.adaptive, config.sweep.early_tolerance) == (2, False, 0.02)
    assert load_config(path, {"sweep.sizes": "0,100,200"}).sweep.sizes == [0, 100, 200]  # --set sweep.sizes=0,100,200


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("sweep.repeats", 0, "sweep.repeats: Input should be greater than or equal to 1"),
        ("sweep.sizes", "0,-50", "sweep.sizes: give non-negative sample counts"),
        ("sweep.target", "max_n", "sweep.target: Input should be 'min_useful_n' or 'min_sufficient_n'"),
        ("sweep.epsilon", 0, "sweep.epsilon: Input should be greater than 0"),
    ],
)
def test_a_bad_value_is_one_clear_error(key: str, value: object, message: str) -> None:
    with pytest.raises(ForetuneError) as error:
        load_config(None, {key: value})
    assert str(error.value).startswith(f"invalid config --set ((defaults)): {message}")
    assert ";" not in str(error.value)  # one problem, named by its key


def test_the_command_reads_the_section_and_its_options_win(tmp_path: Path) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text("name: tiny\ndata:\n  synthetic_size: 60\nsweep:\n  sizes: [0, 100000]\n")
    runner = CliRunner()
    from_config = runner.invoke(app, ["sweep", str(config), "--out", str(tmp_path / "out")])
    assert isinstance(from_config.exception, ForetuneError)
    assert "sweep.sizes: 100000 is larger than the" in str(from_config.exception)
    from_option = runner.invoke(app, ["sweep", str(config), "--sizes", "0,5,10", "--out", str(tmp_path / "out")])
    assert isinstance(from_option.exception, ForetuneError) and "at least 3 sizes" in str(from_option.exception)
    bad_option = runner.invoke(app, ["sweep", str(config), "--bootstrap", "-1", "--out", str(tmp_path / "out")])
    assert "sweep.bootstrap: Input should be greater than or equal to 0" in str(bad_option.exception)
    assert not (tmp_path / "out").exists()
