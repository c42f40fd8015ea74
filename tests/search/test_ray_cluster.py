"""A real two-node Ray cluster on this machine, with Ray's token authentication on.

The head and the second node are `ray start --block` processes with their own temp folder and free
ports; stopping those processes stops their nodes (never `ray stop`, which would also end the Ray
sessions of other tests). Trials are replayed curves: the cluster, not training, is the point.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest
import yaml

from foretune.keys import JOURNAL_NAME, NODE_ATTR
from foretune.trainers.replay import ReplayBank
from tests.search.conftest import REPLAY_CURVES, replay_config_dict

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
TRIALS = 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node_ports() -> list[str]:
    # Free ports for what would otherwise take a fixed default shared with other Ray sessions here.
    return [
        *("--dashboard-agent-listen-port", str(_free_port())),
        *("--metrics-export-port", str(_free_port())),
        *("--runtime-env-agent-port", str(_free_port())),
    ]


class Node:
    """One `ray start --block` process; `stop()` ends it and the Ray processes it started."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with open(log, "w") as out:
            self.process = subprocess.Popen(
                [str(BIN / "ray"), "start", "--block", "--disable-usage-stats", *args, *_node_ports()],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"ray start did not come up:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture(scope="module")
def cluster():
    """Head + a second node on this machine (one CPU each), token authentication on; stopped after the module."""
    folder = Path(tempfile.mkdtemp(prefix="ftrc", dir="/tmp"))  # short: Ray's socket paths have a length limit
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    env.pop("RAY_ADDRESS", None)
    port, dashboard = _free_port(), _free_port()
    head = Node(
        [
            *("--head", "--num-cpus", "1", "--port", str(port), "--temp-dir", str(folder / "ray")),
            *("--dashboard-host", "127.0.0.1", "--dashboard-port", str(dashboard)),
            *("--ray-client-server-port", str(_free_port())),
        ],
        env,
        folder / "head.log",
    )
    nodes = [head]
    try:
        address = f"127.0.0.1:{port}"
        nodes.append(Node(["--address", address, "--num-cpus", "1"], env, folder / "worker.log"))
        yield {"address": address, "dashboard": f"http://127.0.0.1:{dashboard}", "env": env, "nodes": nodes}
    finally:
        for node in reversed(nodes):
            node.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    config = replay_config_dict(ReplayBank.from_long_table(REPLAY_CURVES), trials=TRIALS)
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


def test_search_places_trials_on_both_nodes(cluster, config_file, tmp_path):
    result = _search(config_file, tmp_path, "--address", cluster["address"], env=cluster["env"])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    nodes = _nodes_of_trials(tmp_path / JOURNAL_NAME)
    assert len(nodes) == TRIALS and None not in nodes
    assert len(set(nodes)) == 2  # one CPU per node, two trials at once: the second node took trials


def test_ray_job_submit_runs_a_search_on_the_head(cluster, config_file, tmp_path):
    search = [str(BIN / "foretune"), "search", str(config_file), "--replay", str(REPLAY_CURVES), "--trials", "2"]
    search += ["--out", str(tmp_path)]
    result = subprocess.run(
        [str(BIN / "ray"), "job", "submit", "--address", cluster["dashboard"], "--", *search],
        env=cluster["env"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "succeeded" in result.stdout
    assert len(_nodes_of_trials(tmp_path / JOURNAL_NAME)) == 2


def test_a_local_journal_is_refused_when_nodes_span_hosts(cluster, config_file, tmp_path):
    # 127.0.0.2 is this machine's loopback too, but to Ray a node there is on another host.
    folder = Path(cluster["nodes"][0].log).parent
    other = Node(
        ["--address", cluster["address"], "--num-cpus", "1", "--node-ip-address", "127.0.0.2"],
        cluster["env"],
        folder / "other-host.log",
    )
    try:
        result = _search(config_file, tmp_path / "run", "--address", cluster["address"], env=cluster["env"])
    finally:
        other.stop()
    assert result.returncode == 2, result.stdout[-3000:] + result.stderr[-3000:]
    message = " ".join((result.stdout + result.stderr).split())
    assert "2 hosts" in message and "127.0.0.2" in message and "postgresql://" in message
    assert not (tmp_path / "run" / JOURNAL_NAME).exists()  # stopped before a study was created
