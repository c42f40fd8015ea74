"""Several `foretune search` drivers on one study: who holds a RUNNING trial, when it is stale, the target.

A driver tags each trial it asks with its identity (host, pid, process start time) and, on an RDB
storage, keeps Optuna's heartbeat of the trial alive. A RUNNING trial is stale when its driver ran on
this host and is gone, or when its heartbeat is older than the grace period (drivers on other hosts,
PostgreSQL only: a journal file lives on one machine's disk). A RUNNING trial that another live
driver holds is never touched. A trial carries no tag only between its ask and its claim, which a
driver does under the ask lock: a driver that holds the lock and finds an untagged RUNNING trial
knows its asker died between the two (a SIGKILL mid-ask), and recovers it at once.

The trial target is shared: a driver asks for a new trial only while finished (counted) plus running
trials are fewer than the target, and counts and asks under one lock (a PostgreSQL advisory lock, or
a file lock beside the journal), so four drivers end with exactly the target.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator

import optuna
import psutil
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.trial import TrialState
from sqlalchemy import text

from foretune.keys import DRIVER_ATTR, DRIVER_SESSIONS_ATTR, INTERRUPTED_ATTR, RETRY_OF_ATTR

HEARTBEAT_S = 5  # Optuna's heartbeat interval of a running trial on an RDB storage
GRACE_S = 30  # a heartbeat older than this is stale (several missed beats); the keeper sweeps this often


def driver_tag(pid: int | None = None) -> str:
    """`host:pid:start` of a process (this one by default); the start tells a reused pid apart.

    The start is counted in milliseconds from the machine's boot, after the boot's id, not read off the wall clock:
    a stepped clock (NTP, a suspended laptop, a VM paused for a snapshot) moves the wall-clock start time (boot time
    + ticks since boot), and a live driver's running trials then looked abandoned; a VM snapshot during a default
    job failed both of its running trials that way."""
    process = psutil.Process(pid or os.getpid())
    since_boot = process.create_time() - psutil.boot_time()  # both add the same wall-clock boot time
    return f"{socket.gethostname()}:{process.pid}:{_boot_id()}-{round(since_boot * 1000)}"


def _boot_id() -> str:
    """This boot of the machine (Linux: the kernel's random boot id; elsewhere the boot time in seconds)."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as boot:
            return boot.read().strip()[:8]
    except OSError:
        return f"{psutil.boot_time():.0f}"


def _driver_alive(tag: str) -> bool | None:
    """Whether the driver of `tag` still runs; None when it ran on another host (cannot tell here)."""
    host, pid, _ = tag.rsplit(":", 2)
    if host != socket.gethostname():
        return None
    try:
        return driver_tag(int(pid)) == tag
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False


def _beating(storage: BaseStorage) -> RDBStorage | None:
    """The RDB storage under a study's storage when it keeps heartbeats (a Study wraps it in a cache)."""
    backend = getattr(storage, "_backend", storage)
    return backend if isinstance(backend, RDBStorage) and backend.heartbeat_interval is not None else None


def _stale_by_heartbeat(study: optuna.Study) -> set[int]:
    rdb = _beating(study._storage)
    return set(rdb._get_stale_trial_ids(study._study_id)) if rdb is not None else set()


def stale_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """RUNNING trials whose driver is gone (see the module docstring for the rule). Call it holding the ask lock
    (`recover_stale` does): only there is an untagged trial one whose claim is not coming."""
    by_heartbeat = _stale_by_heartbeat(study)
    stale = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        tag = trial.user_attrs.get(DRIVER_ATTR)
        alive = _driver_alive(tag) if tag else None
        if alive is False or (alive is None and (trial._trial_id in by_heartbeat or not tag)):
            stale.append(trial)
    return stale


def recover_stale(study: optuna.Study, *, journal: str | None = None) -> int:
    """Mark stale RUNNING trials as FAIL (`interrupted`) and queue their parameters again; how many. Under
    the ask lock (`journal`: the study's journal file, whose lock file sits beside it)."""
    with ask_lock(study._storage, study.study_name, journal):
        return _requeue(study, stale_trials(study))


def requeue_unfinished(study: optuna.Study, trial_ids: list[int], *, journal: str | None = None) -> int:
    """Trials this driver asked and that never ended (the search's time budget ran out before they started):
    handled as a dead driver's are, so the study holds no RUNNING trial nobody runs; how many."""
    with ask_lock(study._storage, study.study_name, journal):
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        return _requeue(study, [t for t in running if t._trial_id in set(trial_ids)])


def _requeue(study: optuna.Study, trials: list[optuna.trial.FrozenTrial]) -> int:
    """Each trial FAIL with `interrupted` (it does not count toward the total) and its parameters queued again."""
    storage = study._storage  # the public Study API cannot finish another process's trial
    requeued = 0
    for trial in trials:
        try:  # the mark first: a finished trial takes no attributes
            storage.set_trial_user_attr(trial._trial_id, INTERRUPTED_ATTR, True)
            if not storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:  # another driver got there first
            continue
        if trial.params:
            study.enqueue_trial(trial.params, user_attrs={RETRY_OF_ATTR: trial.number}, skip_if_exists=False)
        requeued += 1
    return requeued


def occupied(study: optuna.Study) -> int:
    """Trials that fill the target: finished ones (not the interrupted) plus the running ones."""
    done = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING)
    return sum(not t.user_attrs.get(INTERRUPTED_ATTR) for t in study.get_trials(deepcopy=False, states=done))


@contextlib.contextmanager
def ask_lock(storage: BaseStorage, study_name: str, journal: str | None) -> Iterator[None]:
    """Serialise count-then-ask across drivers; released by the OS or the server if a driver dies."""
    rdb = getattr(storage, "_backend", storage)
    if isinstance(rdb, RDBStorage) and rdb.engine.dialect.name == "postgresql":
        key = zlib.crc32(f"foretune:{study_name}".encode())
        with rdb.engine.connect() as connection, connection.begin():
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
            yield
    elif isinstance(storage, JournalStorage) and journal:
        with open(journal + ".ask-lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    else:  # SQLite and others: one driver at a time (the README says so)
        yield


def seed_offset(study: optuna.Study, journal: str | None) -> int:
    """The sampler's seed offset of a new session: distinct for drivers that start together (with one
    seed they would propose the same start-up trials), reproducible for one driver run after another."""
    with ask_lock(study._storage, study.study_name, journal):
        sessions = int(study.user_attrs.get(DRIVER_SESSIONS_ATTR, 0))
        study.set_user_attr(DRIVER_SESSIONS_ATTR, sessions + 1)
        return sessions * 100_003 + len(study.trials)


class SharedTarget:
    """The searcher's gate: may another trial be asked, with `total` trials wanted across all drivers."""

    def __init__(self, study: optuna.Study, total: int, *, journal: str | None = None) -> None:
        self.study, self.total, self.journal = study, total, journal
        self.tag = driver_tag()

    @contextlib.contextmanager
    def asking(self) -> Iterator[bool]:
        """Hold the lock; yields whether a trial may be asked now."""
        with ask_lock(self.study._storage, self.study.study_name, self.journal):
            yield occupied(self.study) < self.total

    def claim(self, trial: optuna.Trial) -> None:
        """Mark a just-asked trial as this driver's (still under the lock: no other driver sees it untagged)."""
        trial.set_user_attr(DRIVER_ATTR, self.tag)
        rdb = _beating(self.study._storage)
        if rdb is not None:
            rdb.record_heartbeat(trial._trial_id)


class TrialKeeper:
    """A thread of the driver: beats the heartbeats of the trials it holds, and re-queues stale ones."""

    def __init__(
        self, study: optuna.Study, held: Callable[[], list[int]], *, journal: str | None = None, tick: float = 1.0
    ) -> None:
        self.study, self.held, self.journal, self.tick = study, held, journal, tick
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="foretune-trial-keeper", daemon=True)
        self.requeued = 0

    def __enter__(self) -> TrialKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        rdb, last_beat, last_sweep = _beating(self.study._storage), 0.0, time.monotonic()
        while not self._stop.wait(self.tick):
            try:
                now = time.monotonic()
                if rdb is not None and now - last_beat >= HEARTBEAT_S:
                    for trial_id in self.held():
                        rdb.record_heartbeat(trial_id)
                    last_beat = now
                if now - last_sweep >= GRACE_S:  # a driver on another host may have died meanwhile
                    self.requeued += recover_stale(self.study, journal=self.journal)
                    last_sweep = now
            except Exception:  # a storage hiccup must not end the driver; the next tick retries
                continue
