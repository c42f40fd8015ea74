"""Ctrl-C (or SIGTERM) during a search: stop at a safe point, keep what finished, say how to resume.

Python raises KeyboardInterrupt wherever the main thread is; inside optuna's journal lock or Ray's bookkeeping
that can leave a lock taken and the driver hanging. So the first Ctrl-C only sets a flag, and the tuning
loop raises KeyboardInterrupt at its next step (`CtrlCAtNextStep`, a Tune callback); a second Ctrl-C
interrupts at once. `resumable_on_ctrl_c` turns the interruption into one line: what finished, how to resume.
SIGTERM (`kill`, `timeout`, a batch scheduler's stop, `ray job stop`) is handled the same way: without it Ray's
handler printed a C++ stack and the driver died with its trials left running.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import optuna
from ray.tune import Callback

from foretune.errors import Interrupted
from foretune.search import storage as st

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
E = TypeVar("E", bound=BaseException)


class CtrlCAtNextStep(Callback):
    """While installed, Ctrl-C or SIGTERM sets `pressed`; the loop's next step raises KeyboardInterrupt, whose
    argument names the signal."""

    def __init__(self) -> None:
        self.pressed = threading.Event()
        self.received = "SIGINT"
        self._previous: dict[int, Any] = {}

    def __getstate__(self) -> dict:  # Ray pickles callbacks; an Event holds a lock
        return {}

    def __setstate__(self, state: dict) -> None:
        self.__init__()

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread():  # signals reach the main thread only
            self._previous = {number: signal.signal(number, self._on_signal) for number in STOP_SIGNALS}

    def restore(self) -> None:
        for number, previous in self._previous.items():  # None: a handler set outside Python (Ray's, for SIGTERM)
            signal.signal(number, signal.SIG_DFL if previous is None else previous)
        self._previous = {}

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.received = signal.Signals(signum).name
        self.pressed.set()
        self.restore()  # a second signal: its usual effect, at once

    def stop_if_pressed(self) -> None:
        if self.pressed.is_set():
            raise KeyboardInterrupt(self.received)

    def on_step_begin(self, iteration: int, trials: list, **info: Any) -> None:
        self.stop_if_pressed()

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        self.stop_if_pressed()


@contextmanager
def resumable_on_ctrl_c(study: optuna.Study, total: int, storage: str, run_dir: Path):
    """Ctrl-C: one line on what finished and how to resume, not a stack from inside Ray (it ended the run with
    exit code 130 and no word)."""
    try:
        yield
    except BaseException as error:
        if not from_ctrl_c(error):
            raise
        stop = in_chain(error, KeyboardInterrupt)
        stopped = Interrupted.by(stop is not None and stop.args == ("SIGTERM",))
        where = f"--storage '{st.redact(storage)}'" if st.is_url(storage) else str(run_dir)
        try:
            held = f"{len(st.counted_trials(study))} of {total} trials"
        except Exception:  # noqa: BLE001 - the storage was cut off mid-write: the counts wait for the rerun
            held = "the trials"
        raise stopped(
            f"{held} of study '{study.study_name}' finished and are kept; the same command resumes the search"
            f" (trials stopped midway run again); `foretune report {where}` reports what finished"
        ) from None


def from_ctrl_c(error: BaseException | None) -> bool:
    """A KeyboardInterrupt, or an error a library raised while cleaning up after one (optuna's journal lock,
    interrupted as it released, raises FileNotFoundError from its handler)."""
    return in_chain(error, KeyboardInterrupt) is not None


def in_chain(error: BaseException | None, kind: type[E]) -> E | None:
    """The exception of type `kind` in `error`'s chain of causes and contexts (Tune or a library may raise another
    while handling it, or `raise ... from` it), if any; e.g. the KeyboardInterrupt whose argument names the signal
    `CtrlCAtNextStep` saw."""
    seen: set[int] = set()  # a chain can loop back on itself
    while error is not None and id(error) not in seen:
        if isinstance(error, kind):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None
