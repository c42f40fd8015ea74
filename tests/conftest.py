"""Fixtures shared by every test folder."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence

import pytest

pytest_plugins = ("tests.postgres_server",)  # the `postgres_db` fixture: a real PostgreSQL server

_BLOCK = (
    "import sys\n"
    "class _Block:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] in {blocked!r}:\n"
    "            raise ImportError('blocked: ' + name)\n"
    "sys.meta_path.insert(0, _Block())\n"
)


@pytest.fixture
def run_without() -> Callable[..., subprocess.CompletedProcess]:
    """`run_without(code, blocked=("torch", "ray"))`: run `code` in a fresh interpreter where any
    import of the blocked packages (direct or through a dependency) raises ImportError."""

    def run(code: str, blocked: Sequence[str] = ("torch", "ray")) -> subprocess.CompletedProcess:
        script = _BLOCK.format(blocked=tuple(blocked)) + code
        return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)

    return run
