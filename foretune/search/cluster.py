"""Checks for a search on a multi-node Ray cluster (Ray started or joined; no Optuna here).

A journal file and the run folder live on one machine's disk. The trials' results reach the driver
through Ray, so one driver can write a local journal; but on a cluster the driver does not stay put
(`ray job submit` runs it on the head, a resume or a second driver may start on any node), and a
study on one node's local disk is then invisible or split in two. So a search whose Ray cluster
spans more than one host keeps its study where every node reaches it: PostgreSQL, or a journal on a
network filesystem. Nodes that share the driver's host (e.g. `ray start` twice on one machine) share
its disk too.
"""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlsplit

from foretune.errors import ForetuneError
from foretune.search import storage as st

# Filesystem types (from /proc/mounts) whose files every node of a cluster can reach.
NETWORK_FILESYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "glusterfs", "lustre", "gpfs", "beegfs", "9p", "virtiofs"}
)
_MOUNTS = Path("/proc/mounts")


def filesystem_type(path: Path, mounts: str) -> str | None:
    """The type of the filesystem holding `path`, from the text of /proc/mounts (None: not listed)."""
    best, kind = "", None
    target = str(path.resolve())
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fields[2]
    return kind


def is_shared_path(path: Path, mounts: str | None = None) -> bool:
    """Whether `path` lies on a network filesystem (FUSE mounts such as s3fs or gcsfuse count)."""
    if mounts is None:
        mounts = _MOUNTS.read_text() if _MOUNTS.is_file() else ""
    kind = filesystem_type(path, mounts) or ""
    return kind in NETWORK_FILESYSTEMS or kind.startswith("fuse.")


def node_hosts() -> set[str]:
    """IP addresses of the alive nodes of the Ray cluster this process has joined."""
    import ray

    return {node["NodeManagerAddress"] for node in ray.nodes() if node["Alive"]}


def check_study_reachable(storage: str | None, run_dir: Path, *, hosts: set[str] | None = None) -> None:
    """Stop a multi-host search whose study (journal file) sits on one node's local disk."""
    if storage and st.is_url(storage):
        return  # a database server: every node reaches it
    hosts = node_hosts() if hosts is None else hosts
    if len(hosts) < 2:
        return
    journal = Path(st.resolve_storage(storage, run_dir))
    folder = next((p for p in (journal, *journal.parents) if p.exists()), Path.cwd())
    if is_shared_path(folder):
        return
    raise ForetuneError(
        f"the Ray cluster has nodes on {len(hosts)} hosts ({', '.join(sorted(hosts))}), but the study would be "
        f"a journal file on this machine's local disk ({journal}), which the other nodes cannot reach "
        "(`ray job submit`, a resume or a second driver may run elsewhere). Keep the study where every node "
        "reaches it: --storage 'postgresql://user@host/db' (password in the environment), or --storage "
        "/shared/path/study.journal on a network filesystem (NFS, ...) mounted on every node"
    )


def check_answers(address: str, timeout_s: float = 5.0) -> None:
    """An address where nothing listens is one error now: `ray.init` retried it for minutes, printing its own
    logs. 'auto' / 'local' and addresses without a port are left to Ray."""
    if address in ("auto", "local"):
        return
    parts = urlsplit(address if "://" in address else f"gcs://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:  # not a port number: Ray says what is wrong with it
        return
    if not host or not port:
        return
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as error:
        raise ForetuneError(
            f"no Ray cluster answers at {address} ({error.strerror or error}); start one there with `ray start --head`,"
            " or check --address / RAY_ADDRESS"
        ) from None
