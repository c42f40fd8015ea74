"""Where a study lives, and how a rerun of the same command picks it up.

Default: an Optuna journal file in the run folder (safe for one machine and for the dashboard
reading while the search writes). Any Optuna RDB URL works too (sqlite for one process,
PostgreSQL for clusters); `${VAR}` in a URL is read from the environment so passwords stay out
of configs, and every message shows the URL with its password masked.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from foretune.errors import ForetuneError
from foretune.predictors._base import Curve
from foretune.search.scheduler import PastTrial

JOURNAL_NAME = "study.journal"
INTERRUPTED_ATTR = "interrupted"  # set on trials that were RUNNING when their driver died


def redact(url: str) -> str:
    """`postgresql://user:secret@host/db` -> `postgresql://user:***@host/db`."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def is_url(storage: str) -> bool:
    return "://" in storage


def resolve_storage(storage: str | None, run_dir: Path) -> str:
    """The storage string a run uses: the given one, or the journal file in the run folder."""
    return storage if storage else str(run_dir / JOURNAL_NAME)


def open_storage(storage: str, *, must_exist: bool = False) -> BaseStorage:
    """Open (creating if needed) an Optuna storage from a URL or a journal file path.

    Opening creates the database tables or the journal file, never a study; `must_exist` refuses
    a journal file that is not there yet (reading a study).
    """
    if is_url(storage):
        url = os.path.expandvars(storage)
        if "${" in url or re.search(r"\$[A-Za-z_]", url.split("://", 1)[1]):
            raise ForetuneError(
                f"storage {redact(storage)}: an environment variable in it is not set "
                "(export it before running, e.g. export FORETUNE_DB_PASSWORD=...)"
            )
        try:
            return RDBStorage(url, engine_kwargs=_engine_kwargs(url))
        except Exception as error:  # driver missing, host unreachable, bad credentials, bad path
            reason = redact(str(error).splitlines()[0]) if str(error) else type(error).__name__
            raise ForetuneError(
                f"cannot open the study storage {redact(url)}: {reason} "
                "(check the URL, that the database is reachable, and its driver is installed)"
            ) from None
    path = Path(storage).expanduser()
    if must_exist and not path.is_file():
        raise ForetuneError(f"no journal file at {path} (run `foretune search` first, or pass an RDB URL)")
    if path.is_dir():
        raise ForetuneError(f"storage {path} is a folder; give a journal file path such as {path / JOURNAL_NAME}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    except OSError as error:
        raise ForetuneError(f"cannot open the journal file {path}: {error.strerror or error}") from None


def _engine_kwargs(url: str) -> dict:
    # Fail fast on an unreachable server instead of hanging on the driver's default timeout.
    if url.startswith(("postgresql", "mysql")):
        return {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}
    return {}


def find_study_name(storage: BaseStorage, name: str | None, *, where: str) -> str:
    """The study to open: `name`, or the only study in the storage."""
    names = [s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)]
    if name is not None:
        if name not in names:
            known = ", ".join(names) or "none"
            raise ForetuneError(f"no study named '{name}' in {where} (studies there: {known})")
        return name
    if len(names) == 1:
        return names[0]
    if not names:
        raise ForetuneError(f"{where} holds no study yet (run `foretune search` first)")
    raise ForetuneError(f"{where} holds several studies ({', '.join(names)}); pick one with --study NAME")


def recover_interrupted(study: optuna.Study) -> int:
    """Mark trials left RUNNING by a dead driver as FAIL and queue their parameters again.

    A study is driven by one `foretune search` at a time, so at start any RUNNING trial is stale.
    Returns how many trials were re-queued.
    """
    storage = study._storage  # the public Study API cannot finish another process's trial
    requeued = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        storage.set_trial_user_attr(trial._trial_id, INTERRUPTED_ATTR, True)
        storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        if trial.params:
            study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number}, skip_if_exists=False)
        requeued += 1
    return requeued


def counted_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Trials that count toward the total: finished ones (an interrupted trial is re-run instead)."""
    done = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    return [t for t in study.get_trials(deepcopy=False, states=done) if not t.user_attrs.get(INTERRUPTED_ATTR)]


def trial_curve(trial: FrozenTrial) -> Curve:
    """A trial's learning curve from its intermediate values (steps are budget percents)."""
    steps = sorted(trial.intermediate_values)
    return Curve(
        np.array([s / 100 for s in steps], dtype=float),
        np.array([trial.intermediate_values[s] for s in steps], dtype=float),
        params=dict(trial.params),
        trial=trial.number,
    )


def past_trials(study: optuna.Study) -> list[PastTrial]:
    """Finished trials of earlier sessions, as the early-stage scheduler needs them."""
    past = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        curve = trial_curve(trial)
        if not len(curve.values):
            continue
        if trial.state == TrialState.COMPLETE and trial.value is not None:
            past.append(PastTrial(curve, True, float(trial.value)))
        else:
            estimate = trial.user_attrs.get("predicted_final")
            past.append(PastTrial(curve, False, float(estimate) if estimate is not None else None))
    return past
