"""One real Ray cluster for the test session: a head and a second node on this machine (one CPU each), started
with `ray start --block` (their own temp folder, free ports) and Ray's token authentication on.

The `ray_cluster` fixture yields a `RayCluster`. Drivers started by the tests (`foretune search`, the example
scripts, the SIGKILL drivers) join it with `ray_cluster.joined_env()` as their environment: joining takes a few
seconds where starting a local Ray takes 10-30 s here, and it is what a driver on a cluster does. The cluster
tests (tests/search/test_ray_cluster.py) place trials on both nodes. Stopping the `ray start` processes stops
their nodes (never `ray stop`, which would also end the Ray sessions of other tests).

The `ray_session` fixture joins this pytest process to the same cluster once (`ray.init(address=...)`):
in-process searches (`run_search`, `foretune.optimize`, sweeps) find Ray started and use it rather than start
and stop a local Ray of their own (10-30 s each here). Tests never call `ray.init` themselves: a second
`ray.init` in this process would fail while the session holds Ray.

The session's token is in this process's environment from `pytest_configure` on, before any test module
imports Ray: Ray reads `RAY_AUTH_MODE` once per process, and the drivers the tests start inherit it.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
SESSION_TOKEN = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}


def pytest_configure(config: pytest.Config) -> None:
    os.environ.update(SESSION_TOKEN)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node_ports() -> list[str]:
    # Free ports for what would otherwise take a fixed default shared with other Ray sessions here.
    return [
        *("--dashboard-agent-listen-port", str(free_port())),
        *("--metrics-export-port", str(free_port())),
        *("--runtime-env-agent-port", str(free_port())),
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
        deadline = time.monotonic() + 180
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


@dataclass
class RayCluster:
    address: str  # host:port of the head's GCS, as `--address` takes it
    dashboard: str  # the head's dashboard URL (`ray job submit --address`)
    env: dict[str, str]  # the token settings every process that talks to the cluster needs
    folder: Path  # the nodes' logs and temp folder
    nodes: list[Node] = field(default_factory=list)

    def token_env(self) -> dict[str, str]:
        """This process's environment (as it is now) plus the token: for a process given `--address` itself."""
        env = {**os.environ, **self.env}
        env.pop("RAY_ADDRESS", None)
        return env

    def joined_env(self) -> dict[str, str]:
        """`token_env()` plus RAY_ADDRESS: Ray in a driver started with it joins this cluster instead of starting
        its own."""
        return {**self.token_env(), "RAY_ADDRESS": self.address}


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    folder = Path(tempfile.mkdtemp(prefix="ftrc", dir="/tmp"))  # short: Ray's socket paths have a length limit
    port, dashboard = free_port(), free_port()
    cluster = RayCluster(f"127.0.0.1:{port}", f"http://127.0.0.1:{dashboard}", dict(SESSION_TOKEN), folder)
    env = cluster.token_env()
    try:
        head = [*("--head", "--num-cpus", "1", "--port", str(port), "--temp-dir", str(folder / "ray"))]
        head += [*("--dashboard-host", "127.0.0.1", "--dashboard-port", str(dashboard))]
        head += ["--ray-client-server-port", str(free_port())]
        cluster.nodes.append(Node(head, env, folder / "head.log"))
        cluster.nodes.append(Node(["--address", cluster.address, "--num-cpus", "1"], env, folder / "worker.log"))
        yield cluster
    finally:
        for node in reversed(cluster.nodes):
            node.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def ray_session(ray_cluster: RayCluster) -> Iterator[RayCluster]:
    """This process as a Ray driver of the test cluster (two nodes, one CPU each) until the session ends."""
    import ray

    ray.init(address=ray_cluster.address, log_to_driver=False, logging_level=logging.ERROR)
    try:
        yield ray_cluster
    finally:
        ray.shutdown()
