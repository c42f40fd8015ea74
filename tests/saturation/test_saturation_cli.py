"""`foretune saturation POINTS.csv`: JSON output and one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "foretune.cli", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture
def points(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    rows = ["n,value,seed"]
    for n in [0, 50, 100, 200, 400, 800, 1600]:
        for seed in range(2):
            value = 0.3 if n == 0 else 0.9 - 3 * n**-0.6
            rows.append(f"{n},{value + rng.normal(0, 0.003):.5f},{seed}")
    path = tmp_path / "points.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_json_output(points: Path) -> None:
    done = run_cli("saturation", str(points), "--json", "--bootstrap", "40", "--max-n", "5000")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    for key in (
        "asymptote",
        "min_useful_n",
        "min_useful_n_interval",
        "min_sufficient_n",
        "min_sufficient_n_interval",
        "extrapolated",
    ):
        assert key in summary
    assert summary["asymptote"] == pytest.approx(0.9, abs=0.015)
    lo, hi = summary["min_useful_n_interval"]
    assert lo <= summary["min_useful_n"] <= hi
    assert summary["extrapolated"] is True  # the true plateau (~13,500) lies beyond n = 1600
    assert summary["max_n"] == 5000 and summary["min_sufficient_n"] > 1600
    assert summary["baseline"] == pytest.approx(0.3, abs=0.01)
    assert summary["regime"] == "still rising"


def test_an_accuracy_plateau_is_never_shown_above_1(tmp_path: Path, cli) -> None:
    """The real AE-110K sweep to n = 512 (a free fit promises ~147% accuracy): values of mode max in [0, 1] are
    read as an accuracy, as `foretune rank` reads them, and the output says the asymptote sits on that bound."""
    path = tmp_path / "ae110k.csv"
    path.write_text("n,value\n16,0.0\n32,0.0225\n64,0.0276\n128,0.0495\n256,0.1744\n512,0.2895\n")
    code, out, _ = cli("saturation", str(path), "--json", "--bootstrap", "20")
    summary = json.loads(out)
    assert code == 0 and summary["bounds"] == [0.0, 1.0] and summary["asymptote_capped"] is True
    assert summary["asymptote"] <= 1.0 and summary["asymptote_interval"][1] <= 1.0
    code, out, _ = cli("saturation", str(path), "--bootstrap", "20")
    assert code == 0 and "capped at the metric's bound, range [0, 1]" in out
    code, out, _ = cli("saturation", str(path), "--json", "--bootstrap", "0", "--bounds", "none")
    assert code == 0 and json.loads(out)["asymptote"] > 1.0 and json.loads(out)["bounds"] is None


def test_an_epsilon_of_a_zero_one_score_beside_scores_in_percent_is_noted(points: Path, cli) -> None:
    """Scores in percent with the default epsilon 0.01 (a hundredth of a point) send the minimum useful n far out:
    the output says epsilon is in the scores' units; with epsilon in percent too, the answer is the [0, 1] one."""
    percent = points.with_name("percent.csv")
    rows = np.loadtxt(points, delimiter=",", skiprows=1)
    percent.write_text("n,value,seed\n" + "".join(f"{n:g},{100 * v:.5f},{s:g}\n" for n, v, s in rows))
    common = ("--bootstrap", "0", "--max-n", "5000")
    code, out, _ = cli("saturation", str(percent), "--bounds", "0,100", *common)
    assert code == 0 and "scores are in percent" in out and "epsilon 0.01 is in the same units" in out
    code, out, _ = cli("saturation", str(percent), "--bounds", "0,100", "--epsilon", "1", *common)
    assert code == 0 and "scores are in percent" not in out
    code, _, err = cli("saturation", str(percent), "--bounds", "0,1", *common)
    assert code == 2 and "value(s) of value in" in err and "lie outside [0, 1]" in err
    in_percent = json.loads(cli("saturation", str(percent), "--epsilon", "1", "--json", *common)[1])
    as_share = json.loads(cli("saturation", str(points), "--json", *common)[1])
    assert in_percent["min_useful_n"] == pytest.approx(as_share["min_useful_n"], rel=0.01)


def test_no_bootstrap_shows_no_asymptote_interval(points: Path, cli) -> None:
    """--bootstrap 0 computes no band: it showed the asymptote twice as its own interval [a, a]."""
    code, out, _ = cli("saturation", str(points), "--json", "--bootstrap", "0")
    summary = json.loads(out)
    assert code == 0 and summary["n_bootstrap"] == 0 and summary["asymptote_interval"] == [None, None]
    code, out, _ = cli("saturation", str(points), "--bootstrap", "0")
    assert code == 0 and "no interval: no bootstrap replicate" in out
    code, out, _ = cli("saturation", str(points), "--json", "--bootstrap", "20")
    low, high = json.loads(out)["asymptote_interval"]
    assert low < high


def test_four_points_get_an_answer_with_its_regime(tmp_path: Path) -> None:
    path = tmp_path / "four.csv"
    path.write_text("n,value\n50,0.50\n100,0.60\n200,0.65\n400,0.68\n")
    done = run_cli("saturation", str(path), "--bootstrap", "20", "--max-n", "3200")
    assert done.returncode == 0, done.stderr
    assert "minimum sufficient n" in done.stdout and "regime               still rising" in done.stdout


def test_the_table_shows_every_size_given_and_marks_those_not_fitted(tmp_path: Path) -> None:
    """n = 0 (zero-shot) and a point set aside as far off the curve are rows of their own, each saying why it
    is not fitted; a score that falls at every larger n asks whether the mode is wrong."""
    path = tmp_path / "points.csv"
    path.write_text("n,value\n0,0.3\n100,0.9\n200,0.7\n400,0.6\n800,0.5\n1600,0.45\n")
    done = run_cli("saturation", str(path), "--bootstrap", "0")
    assert done.returncode == 0, done.stderr
    assert json.loads(run_cli("saturation", str(path), "--bootstrap", "0", "--json").stdout)["set_aside_n"] == [100]
    rows = {line.split("│")[1].strip(): line for line in done.stdout.splitlines() if line.count("│") > 2}
    assert set(rows) == {"0", "100", "200", "400", "800", "1600"}
    assert "zero-shot: not fitted" in rows["0"] and "set aside" in rows["100"] and "set aside" not in rows["200"]
    assert "if lower is better, pass --mode min" in done.stdout


def test_min_mode_and_table_output(points: Path, tmp_path: Path) -> None:
    lines = points.read_text().splitlines()
    loss = tmp_path / "loss.csv"
    rows = [row.split(",") for row in lines[1:]]
    loss.write_text("\n".join([lines[0]] + [f"{n},{1 - float(value):.5f},{seed}" for n, value, seed in rows]))
    done = run_cli("saturation", str(loss), "--mode", "min", "--bootstrap", "20")
    assert done.returncode == 0, done.stderr
    assert "minimum useful n" in done.stdout and "asymptote" in done.stdout
    summary = json.loads(run_cli("saturation", str(loss), "--mode", "min", "--bootstrap", "0", "--json").stdout)
    assert summary["asymptote"] == pytest.approx(0.1, abs=0.015)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("n,score\n50,0.5\n", "missing column(s) value"),
        ("n,value\n50,0.5\n-100,0.6\n", "not a non-negative integer"),
        ("n,value\n50,0.5\n100.5,0.6\n", "not a non-negative integer"),
        ("n,value\n50,0.5\nabc,0.6\n", "is not a finite number"),
        ("n,value\n50,0.5\n100,0.6\n", "needs at least 3; measure 1 more"),
        ("n,value\n", "no rows"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    done = run_cli("saturation", str(path))
    assert done.returncode == 2
    assert message in done.stderr and str(path) in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_missing_file_and_bad_options(points: Path, tmp_path: Path) -> None:
    missing = run_cli("saturation", str(tmp_path / "nope.csv"))
    assert missing.returncode == 2 and "not found" in missing.stderr
    bad_options = (
        (["--mode", "up"], "--mode"),
        (["--epsilon", "0"], "--epsilon"),
        (["--max-n", "-5"], "--max-n"),
        (["--bounds", "1,0"], "--bounds"),
        (["--bounds", "zero"], "--bounds"),
    )
    for args, message in bad_options:
        done = run_cli("saturation", str(points), *args)
        assert done.returncode == 2 and message in done.stderr, done.stderr
