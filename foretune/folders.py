"""Output folders: refuse one that cannot be made before any work starts, not when the results are written."""

from __future__ import annotations

import os
from pathlib import Path

from foretune.errors import ForetuneError


def check_output_folder(path: str | Path, option: str = "--out") -> None:
    """Raise a ForetuneError when `path` is a file, sits under a file, or lies in a folder that cannot be
    written; creates nothing (a run that fails on later input leaves no empty folder behind)."""
    path = Path(path)
    existing = next((p for p in (path, *path.parents) if p.exists()), Path.cwd())
    if existing == path and not path.is_dir():
        raise ForetuneError(f"{option} {path}: a file of that name is in the way; give a folder's path")
    if not existing.is_dir():
        raise ForetuneError(f"{option} {path}: {existing} is a file, so no folder can be made under it; give another")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ForetuneError(f"{option} {path}: no permission to write in {existing}; give a folder you can write to")
