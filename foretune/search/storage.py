"""Where a study lives, how a rerun of the same command picks it up, and reading a study's curves.

Default: an Optuna journal file in the run folder (safe for one machine and for the dashboard
reading while the search writes). Any Optuna RDB URL works too (sqlite for one process,
PostgreSQL for clusters); `${VAR}` in a URL is read from the environment so passwords stay out
of configs, and every message shows the URL with its password masked.

The one module that reads studies; it imports neither Ray nor torch (`foretune report`, `dashboard`).
"""

from __future__ import annotations

import json
import os
import re
import time
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

import numpy as np
import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, ProgrammingError

from foretune.errors import ForetuneError
from foretune.folders import check_output_folder
from foretune.keys import (
    CONFIG_PREFIX,
    COST_PREFIX,
    CURVE_ATTR,
    DRIVER_ATTR,
    EXTRAS_ATTR,
    INTERRUPTED_ATTR,
    JOURNAL_NAME,
)
from foretune.predictors._base import Curve
from foretune.predictors.judged_order import recorded_judgement
from foretune.search.earlier_trials import EarlierTrialCurve


def redact(storage: str) -> str:
    """A storage for messages: `postgresql://user:secret@host/db` -> `postgresql://user:***@host/db`; a path as is."""
    if not is_url(storage):
        return storage
    try:
        return make_url(storage).render_as_string(hide_password=True)
    except ArgumentError:  # not a URL SQLAlchemy can parse: show only its scheme
        return storage.split("://", 1)[0] + "://***"


def _hide_password(text: str, url: str) -> str:
    """`text` (e.g. a driver's error message) with the password of `url` masked wherever it appears as a
    word of its own (as typed or URL-encoded): never inside another word, so that a password such as
    'postgres' leaves 'postgresql' and 'psycopg' readable."""
    try:
        password = make_url(url).password
    except ArgumentError:
        return text
    if not password:
        return text
    text = text.replace(url, redact(url))
    for secret in {str(password), quote(str(password), safe="")}:
        text = re.sub(rf"(?<!\w){re.escape(secret)}(?!\w)", "***", text)
    return text


def is_url(storage: str) -> bool:
    return "://" in storage


def journal_path(run_dir_or_file: str | Path) -> Path:
    """The study journal of a run: the path itself when it is a file, else `<run folder>/study.journal`."""
    path = Path(run_dir_or_file)
    return path if path.is_file() else path / JOURNAL_NAME


def resolve_storage(storage: str | None, run_dir: Path) -> str:
    """The storage string a run uses: the given one, or the journal file of the run folder."""
    return storage if storage else str(journal_path(run_dir))


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
            return _open_rdb(url)
        except Exception as error:  # driver missing, host unreachable, bad credentials, bad path
            reason = _hide_password(str(error).splitlines()[0], url) if str(error) else type(error).__name__
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
    except (ValueError, KeyError, TypeError) as error:  # a line that is not one of Optuna's journal records
        what = "a line of it is not JSON" if isinstance(error, json.JSONDecodeError) else f"{type(error).__name__}"
        raise ForetuneError(
            f"the journal file {path} is damaged ({what}): not an Optuna journal, or edited by hand; restore it"
            " from a copy, or start a new study elsewhere (another --out or --storage)"
        ) from None


def _open_rdb(url: str, *, attempts: int = 4) -> RDBStorage:
    """RDBStorage, retried when drivers started together race to create the tables of a fresh database."""
    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna 5.0, and used on purpose
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(url, engine_kwargs=_engine_kwargs(url), **_heartbeat_kwargs(url))
        except (IntegrityError, ProgrammingError) as error:
            # Another process created the same table (IntegrityError) or relation (PostgreSQL's
            # DuplicateTable, a ProgrammingError) a moment earlier: retry; anything else is real.
            raced = isinstance(error, IntegrityError) or "already exists" in str(error)
            if not raced or attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def _engine_kwargs(url: str) -> dict:
    # Fail fast on an unreachable server instead of hanging on the driver's default timeout.
    if url.startswith(("postgresql", "mysql")):
        return {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}
    return {}


def _heartbeat_kwargs(url: str) -> dict:
    # Drivers on several hosts share a PostgreSQL/MySQL study: a trial whose heartbeat stops is stale
    # (foretune.search.drivers). SQLite is one machine, one driver.
    from foretune.search.drivers import GRACE_S, HEARTBEAT_S

    if url.startswith(("postgresql", "mysql")):
        return {"heartbeat_interval": HEARTBEAT_S, "grace_period": GRACE_S}
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


def counted_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Trials that count toward the total: finished ones (an interrupted trial is re-run instead)."""
    done = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    return [t for t in study.get_trials(deepcopy=False, states=done) if not t.user_attrs.get(INTERRUPTED_ATTR)]


def trial_curve(trial: FrozenTrial, *, total_steps: float = 100) -> Curve:
    """A trial's learning curve from its intermediate values; step `total_steps` is the whole budget.

    foretune's searches report at budget percents, hence the default 100. A multi-objective study has no
    intermediate values: its first objective's curve is the user attribute `curve`. The trial's other
    metrics (user attribute `extras`: eval loss, train loss, ...) become the curve's extras, NaN at a
    step where a metric was not reported.
    """
    points = trial.intermediate_values or {int(k): v for k, v in (trial.user_attrs.get(CURVE_ATTR) or {}).items()}
    steps = sorted(points)
    extras = {
        str(name): np.array([by_step.get(str(s), np.nan) for s in steps], dtype=float)
        for name, by_step in (trial.user_attrs.get(EXTRAS_ATTR) or {}).items()
        if isinstance(by_step, dict) and not str(name).startswith(CONFIG_PREFIX)  # stored as metrics before round 27
    }
    return Curve(
        np.array([s / total_steps for s in steps], dtype=float),
        np.array([points[s] for s in steps], dtype=float),
        params=dict(trial.params),
        trial=trial.number,
        extras=extras,
    )


def past_trials(study: optuna.Study, *, other_than: str | None = None) -> list[EarlierTrialCurve]:
    """The study's trials as the early-stage scheduler needs them: at a session's start the ended ones (COMPLETE,
    PRUNED) of earlier sessions; with `other_than` (a driver's tag) those other drivers ran, running ones included
    (a driver ranks its trials against every trial judged, as it does its own). Each comes with its recorded costs
    (several objectives judge on them)."""
    states = (TrialState.COMPLETE, TrialState.PRUNED) + ((TrialState.RUNNING,) if other_than is not None else ())
    past = []
    for trial in study.get_trials(deepcopy=False, states=states):
        if other_than is not None and trial.user_attrs.get(DRIVER_ATTR) == other_than:
            continue
        curve = trial_curve(trial)
        if len(curve.values):
            # a stopped repeat is COMPLETE with the final of the run it re-ran, but its own curve ends early
            finished = trial.state == TrialState.COMPLETE and trial.values is not None and curve.fractions[-1] >= 1
            costs = {
                k: float(v)
                for k, v in trial.user_attrs.items()
                if k.startswith(COST_PREFIX) and isinstance(v, (int, float)) and not isinstance(v, bool)
            }
            past.append(EarlierTrialCurve(curve, finished, costs, judged=recorded_judgement(trial.user_attrs)))
    return past


def read_optuna_study(
    study_name: str,
    storage: str,
    *,
    total_steps: int | None = None,
    states: Sequence[str] = ("COMPLETE", "PRUNED", "RUNNING"),
) -> list[Curve]:
    """The intermediate values of an Optuna study's trials as curves (trial number, params).

    `storage` is an RDB URL or a journal file. `total_steps` is the step that means "the whole
    budget" (default: the largest step reported by any trial). `states` selects trials, e.g.
    ``("COMPLETE",)`` for the finished runs to fit on.
    """
    try:
        study = optuna.load_study(study_name=study_name, storage=open_storage(storage, must_exist=True))
    except KeyError as error:
        raise ForetuneError(f"no study {study_name!r} in {redact(storage)}: {error}") from None
    wanted = {TrialState[s.upper()] for s in states}
    trials = [t for t in study.get_trials(deepcopy=False) if t.state in wanted and t.intermediate_values]
    if total_steps is None:
        total_steps = max((max(t.intermediate_values) for t in trials), default=1)
    if total_steps <= 0:
        raise ForetuneError(f"total_steps must be positive, got {total_steps}")
    curves = [trial_curve(t, total_steps=total_steps) for t in trials]
    return [replace(c, fractions=np.clip(c.fractions, 0, 1)) for c in curves]


def load_study_for_report(target: str | Path | None, *, storage: str | None, study_name: str | None):
    """`foretune report RUN_DIR` or `--storage URL --study NAME` -> (study, folder to write into)."""
    if storage is None:
        if target is None:
            raise ForetuneError("give a run folder (e.g. runs/search-foretune) or --storage URL")
        path = Path(target)
        journal = journal_path(path)
        if not journal.is_file():
            raise ForetuneError(
                f"no study found at {path} (expected the journal file {journal}; or pass --storage URL)"
            )
        storage, out = str(journal), journal.parent
    else:
        out = Path(target) if target is not None else Path("runs") / "report"
        check_output_folder(out, option="report folder")
    opened = open_storage(storage, must_exist=True)
    name = find_study_name(opened, study_name, where=redact(storage))
    return optuna.load_study(study_name=name, storage=opened), out
