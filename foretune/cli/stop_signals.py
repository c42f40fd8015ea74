"""SIGTERM as Ctrl-C for the commands that keep their finished work on Ctrl-C (`foretune sweep`, `foretune train`):
a batch scheduler's stop, `timeout` or `kill` then keeps it too, where Python's default ended the process at once.
(`foretune search` stops at the tuning loop's next step instead: foretune.search.ctrl_c.)"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Any


@contextmanager
def sigterm_as_ctrl_c():
    """Inside, SIGTERM raises KeyboardInterrupt("SIGTERM") in the main thread, as Ctrl-C raises its own: code that
    keeps its finished work on Ctrl-C (the sweep) keeps it on a batch scheduler's stop too. Yields an Event set
    once SIGTERM came (Ray's `ray.get` replaces the KeyboardInterrupt it is interrupted by with a bare one)."""
    received = threading.Event()
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield received
        return

    def on_sigterm(signum: int, frame: Any) -> None:
        received.set()
        raise KeyboardInterrupt("SIGTERM")

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield received
    finally:  # None: a handler set outside Python (Ray's)
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
