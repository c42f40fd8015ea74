"""`benchmarks/default_job_replay.py --band`: replayed twins tabulated by how many of their finals crowd in a band."""

import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.benchmark_scripts import benchmark_module

ROOT = Path(__file__).resolve().parents[2]
JOB72 = ROOT / "benchmarks" / "data" / "lora_curves_job72.csv"


def test_the_band_table_counts_each_replay_once_by_its_share_of_finals_in_the_band(capsys):
    """Each replay with a Spearman lands in one bin of the share of its predicted trials' finals within the band,
    and the bin's figures are those of the replays in it (recomputed here from the same draws)."""
    replay = benchmark_module("default_job_replay")
    curves = replay.design_curves(JOB72, 0.0, ids="all")
    band, replays = (0.50, 0.57), 4
    replay.random_twins(curves, replays, 0, "job72", band=band)
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    assert rows[0] == "| finals in 0.5-0.57 | replays | at 0.8 or more | mean |"
    table = {cells[0]: cells[1:] for cells in (r.strip("| ").split(" | ") for r in rows[1:])}
    assert list(table) == [label for *_, label in replay.BAND_BINS]

    rng, expected = np.random.default_rng(0), {label: [] for *_, label in replay.BAND_BINS}
    for _ in range(replays):
        replayed = replay.replay([curves[i] for i in rng.permutation(len(curves))[: replay.TRIALS]])
        rho = replay.rank_agreement(replayed)
        if rho is None or replay.rank_agreement(replayed, by_loss=True) is None:
            continue
        share = np.mean([band[0] <= r[4] <= band[1] for r in replayed])
        label = next(label for low, high, label in replay.BAND_BINS if low <= share < high)
        expected[label].append(rho)
    assert sum(int(cells[0]) for cells in table.values()) == sum(map(len, expected.values())) > 0
    for label, rhos in expected.items():
        assert int(table[label][0]) == len(rhos)
        if rhos:
            assert table[label][2] == f"{np.mean(rhos):.2f}"


def test_a_band_upside_down_is_refused():
    script = ROOT / "benchmarks" / "default_job_replay.py"
    result = subprocess.run(
        [sys.executable, str(script), "--curves", str(JOB72), "--all-trials", "--band", "0.6", "0.5"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 2
    assert "--band needs LOW < HIGH, got 0.6 0.5" in result.stderr
