"""Ctrl-C during a search: stop at a safe point, keep what finished, say how to resume.

Python raises KeyboardInterrupt wherever the main thread is; inside optuna's journal lock or Ray's bookkeeping
that can leave a lock taken and the driver hanging. So the first Ctrl-C only sets a flag, and the tuning
loop raises KeyboardInterrupt at its next step (`CtrlCAtNextStep`, a Tune callback); a second Ctrl-C
interrupts at once. `resumable_on_ctrl_c` turns the interruption into one line: what finished, how to resume.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
from ray.tune import Callback

from foretune.errors import Interrupted
from foretune.search import storage as st


class CtrlCAtNextStep(Callback):
    """While installed, Ctrl-C sets `pressed`; the loop's next step raises KeyboardInterrupt."""

    def __init__(self) -> None:
        self.pressed = threading.Event()
        self._previous: Any = None

    def __getstate__(self) -> dict:  # Ray pickles callbacks; an Event holds a lock
        return {}

    def __setstate__(self, state: dict) -> None:
        self.__init__()

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread():  # signals reach the main thread only
            self._previous = signal.signal(signal.SIGINT, self._on_ctrl_c)

    def restore(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def _on_ctrl_c(self, signum: int, frame: Any) -> None:
        self.pressed.set()
        self.restore()  # a second Ctrl-C: Python's own, at once

    def on_step_begin(self, iteration: int, trials: list, **info: Any) -> None:
        if self.pressed.is_set():
            raise KeyboardInterrupt

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        self.on_step_begin(iteration, trials)


@contextmanager
def resumable_on_ctrl_c(study: optuna.Study, total: int, storage: str, run_dir: Path):
    """Ctrl-C: one line on what finished and how to resume, not a stack from inside Ray (it ended the run with
    exit code 130 and no word)."""
    try:
        yield
    except BaseException as error:
        if not from_ctrl_c(error):
            raise
        where = f"--storage '{st.redact(storage)}'" if st.is_url(storage) else str(run_dir)
        try:
            held = f"{len(st.counted_trials(study))} of {total} trials"
        except Exception:  # noqa: BLE001 - the storage was cut off mid-write: the counts wait for the rerun
            held = "the trials"
        raise Interrupted(
            f"{held} of study '{study.study_name}' finished and are kept; the same command resumes the search"
            f" (trials stopped midway run again); `foretune report {where}` reports what finished"
        ) from None


def from_ctrl_c(error: BaseException | None) -> bool:
    """A KeyboardInterrupt, or an error a library raised while cleaning up after one (optuna's journal lock,
    interrupted as it released, raises FileNotFoundError from its handler)."""
    while error is not None:
        if isinstance(error, KeyboardInterrupt):
            return True
        error = error.__context__
    return False
