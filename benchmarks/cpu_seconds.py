"""Run a command and print the CPU seconds (user + system) of its whole process tree, Ray's workers included.

The machine may be busy with other jobs: wall time then says little about the time alone, while the CPU
time a job needs barely depends on load. This process becomes a child subreaper (Linux `prctl`), so the
processes a command leaves behind (Ray's raylet and workers are re-parented when their parent exits) are
re-parented here and reaped, and their CPU time lands in `getrusage(RUSAGE_CHILDREN)`.

    .venv/bin/python benchmarks/cpu_seconds.py --out cpu.json -- .venv/bin/foretune search configs/default.yaml
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36
REAP_WAIT_S = 30.0  # how long to wait for the processes a command leaves behind to exit


def _become_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed: Linux only")


def _reap_leftovers(deadline: float) -> int:
    """Wait for re-parented descendants until none is left or the deadline passes; how many are still alive."""
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return 0
        if pid == 0:
            time.sleep(0.2)
    return len([p for p in Path("/proc").iterdir() if p.name.isdigit() and _parent(p) == os.getpid()])


def _parent(proc: Path) -> int:
    try:
        return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write {cpu_seconds, wall_seconds, returncode, left_running} here")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    _become_subreaper()
    start = time.monotonic()
    returncode = subprocess.call(command)
    wall = time.monotonic() - start
    left = _reap_leftovers(time.monotonic() + REAP_WAIT_S)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    figures = {
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "wall_seconds": round(wall, 1),
        "returncode": returncode,
        "left_running": left,  # descendants still alive after the wait: their CPU time is missing
    }
    print(f"cpu seconds of the process tree: {figures['cpu_seconds']} (wall {figures['wall_seconds']} s)")
    if args.out:
        args.out.write_text(json.dumps(figures) + "\n")
    return returncode


if __name__ == "__main__":
    sys.exit(main())
