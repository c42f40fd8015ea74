"""A real two-node Ray cluster on this machine, with Ray's token authentication on (the session's `ray_cluster`,
tests/ray_cluster.py). Trials are replayed curves: the cluster, not training, is the point.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import optuna
import pytest
import yaml

from foretune.keys import JOURNAL_NAME, NODE_ATTR
from foretune.trainers.replay import ReplayBank
from tests.ray_cluster import BIN, Node
from tests.search.conftest import REPLAY_CURVES, replay_config_dict

pytestmark = pytest.mark.slow

TRIALS = 4


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    # Replayed trials end in milliseconds: a reused worker (search.reuse_workers) on the head could serve every
    # trial before the second node's first worker is up. A worker per trial makes placement what is tested.
    config = replay_config_dict(ReplayBank.from_long_table(REPLAY_CURVES), trials=TRIALS, reuse_workers=False)
    path = tmp_path_factory.mktemp("config") / "replay.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _search(config_file: Path, out: Path, *extra: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    command = [str(BIN / "foretune"), "search", str(config_file), "--replay", str(REPLAY_CURVES), "--out", str(out)]
    return subprocess.run([*command, *extra], env=env, capture_output=True, text=True, timeout=300)


def _nodes_of_trials(journal: Path) -> list[str | None]:
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    study = optuna.load_study(study_name="replay", storage=storage)
    return [t.user_attrs.get(NODE_ATTR) for t in study.trials]


def test_ray_job_submit_runs_a_search_whose_trials_use_both_nodes(ray_cluster, config_file, tmp_path):
    """`ray job submit` starts the search on the head; its trials are placed on both nodes (one CPU each, two
    trials at once). `--address` from outside the cluster: the refusal test below."""
    search = [str(BIN / "foretune"), "search", str(config_file), "--replay", str(REPLAY_CURVES), "--out", str(tmp_path)]
    for _ in range(10):  # the head's job agent may not be up yet right after `ray start` (CI, 2026-12-05)
        result = subprocess.run(
            [str(BIN / "ray"), "job", "submit", "--address", ray_cluster.dashboard, "--", *search],
            env=ray_cluster.token_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        if "No available agent" not in result.stdout + result.stderr:
            break
        time.sleep(3)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "succeeded" in result.stdout
    nodes = _nodes_of_trials(tmp_path / JOURNAL_NAME)
    assert len(nodes) == TRIALS and None not in nodes
    assert len(set(nodes)) == 2  # the second node took trials


def test_a_local_journal_is_refused_when_nodes_span_hosts(ray_cluster, config_file, tmp_path):
    # 127.0.0.2 is this machine's loopback too, but to Ray a node there is on another host.
    env = ray_cluster.token_env()
    other = Node(
        ["--address", ray_cluster.address, "--num-cpus", "1", "--node-ip-address", "127.0.0.2"],
        env,
        ray_cluster.folder / "other-host.log",
    )
    try:
        result = _search(config_file, tmp_path / "run", "--address", ray_cluster.address, env=env)
    finally:
        other.stop()
    assert result.returncode == 2, result.stdout[-3000:] + result.stderr[-3000:]
    message = " ".join((result.stdout + result.stderr).split())
    assert "2 hosts" in message and "127.0.0.2" in message and "postgresql://" in message
    assert not (tmp_path / "run" / JOURNAL_NAME).exists()  # stopped before a study was created
