"""`run_search`: validate, open the study (resuming it), run the trials on Ray Tune, report.

Order matters: every user error (storage that cannot be opened, GPUs that do not exist) is raised
before a study is created; the config has already checked its own values (the predictor's name, ...).
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import optuna
from optuna.storages import BaseStorage

from foretune.config import ExperimentConfig
from foretune.errors import ForetuneError
from foretune.folders import check_output_folder
from foretune.keys import CONFIG_ATTR, HISTORY_STUDIES_ATTR, TEST_FOLDS_ATTR, ZERO_SHOT_ATTR
from foretune.search import storage as st
from foretune.search.cluster import check_answers, check_study_reachable
from foretune.search.ctrl_c import CtrlCAtNextStep, resumable_on_ctrl_c
from foretune.search.drivers import SharedTarget, TrialKeeper, recover_stale, requeue_unfinished, seed_offset
from foretune.search.evaluator import VerdictsAndErrors
from foretune.search.held_out_folds import prepare_folds, record_test_folds
from foretune.search.resume_check import changes_since, stored_config
from foretune.search.space import objectives, with_absolute_model_folders
from foretune.search.stop_on_misuse import StopOnReportMisuse, fit_stopping_on_misuse
from foretune.search.time_left import StartsInTime
from foretune.search.trainable import TrainerFactory


@dataclass
class SearchOutcome:
    run_dir: Path
    storage: str  # as given (password masked when printed)
    study_name: str
    ran: int  # trials run in this session
    total: int  # trials in the study that count toward the total
    requeued: int  # trials of a dead session that were queued again
    report: object | None = None  # foretune.search.report.Report


def default_run_dir(config: ExperimentConfig) -> Path:
    return Path("runs") / f"search-{config.name}"


def _default_trainer_factory(config: ExperimentConfig) -> TrainerFactory:
    from foretune.search.space import searched_models
    from foretune.trainers.lora import LoraTrainer
    from foretune.trainers.models import ensure_model
    from foretune.trainers.tasks import check_search_metric_before_trials

    for model in searched_models(config):  # convert/cache each model once, before trials race for it
        ensure_model(model)
    # Bad data, a failing task.metric_fn or a search.metric no trial reports: one error before any trial
    # (the data is read, not tokenized: each trial fits it to model.max_length).
    check_search_metric_before_trials(config)
    return LoraTrainer


def _quiet_ray() -> None:
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("RAY_TRAIN_V2_ENABLED", "0")
    # Ctrl-C: Tune's own handler ended the run quietly and the search reported as if done; it would also
    # replace `ctrl_c.CtrlCAtNextStep`'s, which stops the loop and says how to resume (the study is the state)
    os.environ.setdefault("TUNE_DISABLE_SIGINT_HANDLER", "1")
    for name in ("ray", "ray.tune", "ray.train", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"ray\..*")
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # Ray asks trials outside Study.optimize; foretune.search.drivers keeps their heartbeats itself.
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def start_ray(address: str | None, *, num_cpus: int | None = None) -> bool:
    """Start local Ray or join a cluster; returns whether this call started it (and must stop it)."""
    import ray

    _quiet_ray()
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        check_answers(address)
    try:
        if address:
            ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
        else:
            ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    except (ConnectionError, ValueError, RuntimeError) as error:
        raise ForetuneError(f"cannot start or join Ray at {address or 'a local instance'}: {error}") from None
    return True


def check_resources(config: ExperimentConfig) -> None:
    import ray

    have = ray.cluster_resources()
    need_gpu, need_cpu = config.resources.gpus_per_trial, config.resources.cpus_per_trial
    if need_gpu > 0 and have.get("GPU", 0) < need_gpu:
        raise ForetuneError(
            f"resources.gpus_per_trial={need_gpu:g} but Ray sees {have.get('GPU', 0):g} GPUs "
            "(set resources.gpus_per_trial=0 to train on CPU, or join a cluster with GPUs via --address)"
        )
    if have.get("CPU", 0) < need_cpu:
        raise ForetuneError(
            f"resources.cpus_per_trial={need_cpu:g} but Ray sees {have.get('CPU', 0):g} CPUs "
            "(lower resources.cpus_per_trial)"
        )


def run_search(
    config: ExperimentConfig,
    *,
    out: str | Path | None = None,
    trials: int | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    address: str | None = None,
    trainer_factory: TrainerFactory | None = None,
    scheduler_factory=None,
    num_cpus: int | None = None,
    console=None,
    progress: bool = True,
    write_report: bool = True,
) -> SearchOutcome:
    """Run (or resume) the search of `config`; the study counts finished trials toward `trials`.

    `trainer_factory(config) -> trainer` (default: the LoRA trainer; the replay trainer for tests and
    benchmarks; with `search.trainable`, the user's `train_fn(params, reporter)`, imported from it by default);
    `scheduler_factory(config) -> TrialScheduler` replaces the early-stage evaluator
    (benchmarks compare Ray's ASHA, median stopping, ...).
    `write_report` writes the report's tables into the run folder (trials.csv, report.md, best.yaml);
    the plots (curves.png, predicted_vs_final.png) are drawn by `foretune search` / `foretune report`.
    """
    import ray

    from foretune.search.zero_shot import InTheTail, zero_shot_in_the_tail, zero_shot_test_scores

    total = trials if trials is not None else config.search.trials
    if total < 1:
        raise ForetuneError(f"--trials must be at least 1, got {total}")
    if trainer_factory is None and config.search.trainable is not None:  # your function: search/function_trial.py
        from foretune.search.function_trial import load_train_fn

        trainer_factory = load_train_fn(config.search.trainable)  # a bad path fails here, before anything starts
    config = with_absolute_model_folders(config)  # trials run in their own folders
    run_dir = Path(out) if out is not None else default_run_dir(config)
    check_output_folder(run_dir)
    storage_str = storage or config.storage
    opened = check_storage(storage_str, run_dir)
    if config.data.test_folds and trainer_factory is None:
        prepare_folds(config)  # folds the data cannot make fail now, not after the search
    name = study_name or config.name

    started = start_ray(address, num_cpus=num_cpus)
    try:
        check_resources(config)
        check_study_reachable(storage_str, run_dir)
        factory = trainer_factory or _default_trainer_factory(config)
        run_dir.mkdir(parents=True, exist_ok=True)
        storage_str = st.resolve_storage(storage_str, run_dir)
        opened = opened or st.open_storage(storage_str)
        study = open_study(config, opened, name, storage_str)
        requeued = recover_stale(study, journal=None if st.is_url(storage_str) else storage_str)
        remaining = max(0, total - len(st.counted_trials(study)))
        wants_baseline = trainer_factory is None and config.task.test_on_completion
        wants_baseline = wants_baseline and ZERO_SHOT_ATTR not in study.user_attrs
        # On the slot the first trial to end frees once every trial has started (a Ray task: any node, its GPU).
        baseline = InTheTail(partial(zero_shot_in_the_tail, config), trials=remaining) if wants_baseline else None
        ran = 0
        if not remaining and progress:  # a rerun of a finished search: say why nothing runs
            held = len(st.counted_trials(study))
            _say(
                console,
                f"study '{name}' already holds {held} trial(s), {total} asked (search.trials, --trials: the study's "
                "total): nothing to run; ask for more to continue it",
            )
        if remaining and progress and total - remaining:  # a resumed search: what it starts from
            again = f"; {requeued} trial(s) stopped midway run again" if requeued else ""
            _say(console, f"resuming study '{name}': {total - remaining} of {total} trials finished{again}")
        if remaining:
            with resumable_on_ctrl_c(study, total, storage_str, run_dir):
                ran = run_trials(
                    config,
                    study,
                    opened,
                    remaining=remaining,
                    total=total,
                    journal=None if st.is_url(storage_str) else storage_str,
                    run_dir=run_dir,
                    trainer_factory=factory,
                    scheduler_factory=scheduler_factory,
                    console=console,
                    progress=progress,
                    callbacks=[baseline] if baseline else [],
                )
        held = len(st.counted_trials(study))
        budget = config.search.time_budget_s
        out_of_time = bool(remaining) and budget is not None and held < total  # Tune ended the session on time
        if out_of_time and progress:
            _say(
                console,
                f"search.time_budget_s = {budget:g} s ran out: {held} of {total} trials finished; the same"
                " command continues the study",
            )
        outcome = SearchOutcome(run_dir, storage_str, name, ran, held, requeued)
        in_the_tail = _tail_result(baseline, console) if baseline is not None and baseline.began else None
    finally:
        if started:
            ray.shutdown()
    if in_the_tail:
        study.set_user_attr(ZERO_SHOT_ATTR, in_the_tail)
    baseline_due = wants_baseline and not in_the_tail  # the tail never came: a search ended early, shared trials
    folds_due = trainer_factory is None and bool(config.data.test_folds) and TEST_FOLDS_ATTR not in study.user_attrs
    if out_of_time:  # not started past the budget (a large model's zero-shot pass can take many minutes)
        due = [w for w, d in (("the zero-shot baseline", baseline_due), ("the test folds", folds_due)) if d]
        if due and progress:
            them = "them" if len(due) > 1 else "it"
            _say(
                console,
                f"not run after the time budget: {' and '.join(due)}; the session that ends the study runs {them}",
            )
    else:
        if baseline_due:
            study.set_user_attr(ZERO_SHOT_ATTR, zero_shot_test_scores(config, console))
        if folds_due:
            record_test_folds(study, config, console)  # the best configuration over k disjoint test folds
    if write_report:
        from foretune.search.report import build_report

        outcome.report = build_report(study, run_dir)
    return outcome


def _say(console, line: str) -> None:
    """One line to the console when there is one, else a plain line (a batch log)."""
    if console is not None:
        console.print(line, highlight=False, soft_wrap=True)
    else:
        print(line, flush=True)


def _tail_result(tail, console=None) -> dict[str, float]:
    """The zero-shot baseline's scores from the trials' tail (`tail`: an InTheTail that began), waiting for its end."""
    waiting = console.status("zero-shot baseline on the test split: finishing...") if console else nullcontext()
    with waiting:
        return tail.result()


def check_storage(storage: str | None, run_dir: Path) -> BaseStorage | None:
    """Fail on a storage that cannot work before Ray starts: an RDB URL is opened (and returned), a
    journal path must not be a folder (it is opened once the run folder exists)."""
    if storage and st.is_url(storage):
        return st.open_storage(storage)
    journal = Path(st.resolve_storage(storage, run_dir))
    if journal.is_dir():
        raise ForetuneError(f"storage {journal} is a folder; give a journal file path")
    return None


def open_study(config: ExperimentConfig, opened: BaseStorage, name: str, storage: str) -> optuna.Study:
    """Create the study, or load it when it exists and goes the config's directions; stores the config once."""
    wanted = objectives(config.search)
    directions = ["maximize" if mode == "max" else "minimize" for _, mode in wanted]
    study = optuna.create_study(study_name=name, storage=opened, directions=directions, load_if_exists=True)
    have = [d.name.lower() for d in study.directions]
    if have != directions:
        raise ForetuneError(
            f"study '{name}' in {st.redact(storage)} goes {have}, but the config's objectives "
            f"({', '.join(m for m, _ in wanted)}) go {directions}; use another --study name"
        )
    if study.metric_names is None:  # the dashboard's names for the objectives
        study.set_metric_names([metric for metric, _ in wanted])
    if CONFIG_ATTR in study.user_attrs and (changed := changes_since(study.user_attrs[CONFIG_ATTR], config)):
        shown = "; ".join(changed[:5]) + (f"; and {len(changed) - 5} more" if len(changed) > 5 else "")
        raise ForetuneError(
            f"study '{name}' in {st.redact(storage)} ran its {len(study.trials)} trial(s) with another config"
            f" ({shown}); their finals would not compare with new trials'. Put those keys back to resume it,"
            " or start a new study: --study NAME or another --out"
        )
    if CONFIG_ATTR not in study.user_attrs:
        study.set_user_attr(CONFIG_ATTR, stored_config(config))
    return study


def _progress_callback(config: ExperimentConfig, remaining: int, notes: VerdictsAndErrors, searcher, console=None):
    """A live progress bar on a terminal; one plain line per trial event anywhere else (a batch job, a file)."""
    from rich.console import Console

    from foretune.search.progress import ProgressCallback, TrialLogCallback

    metric, mode = config.search.metric, config.search.mode
    console = console or Console()
    if console.is_terminal:
        return ProgressCallback(total=remaining, metric=metric, mode=mode, console=console, notes=notes)

    def label(trial_id: str) -> str:
        asked = searcher._ot_trials.get(trial_id)
        return f"trial {asked.number}" if asked is not None else f"trial {trial_id}"

    return TrialLogCallback(metric=metric, mode=mode, notes=notes, label=label)


def run_trials(
    config: ExperimentConfig,
    study: optuna.Study,
    storage: BaseStorage,
    *,
    remaining: int,
    total: int | None = None,
    journal: str | None = None,
    run_dir: Path,
    trainer_factory: TrainerFactory,
    scheduler_factory=None,
    console=None,
    progress: bool = True,
    callbacks: list | None = None,
) -> int:
    """Run up to `remaining` trials of `study` (opened from `storage`) on Ray Tune, already started, stopping
    once `total` trials are finished or running across every driver of the study; returns how many ran."""
    from foretune.search.tuner import build_scheduler, build_searcher, build_tuner

    notes = VerdictsAndErrors()
    searcher = build_searcher(
        config, storage=storage, study_name=study.study_name, notes=notes, seed_offset=seed_offset(study, journal)
    )
    searcher.target = SharedTarget(study, total if total is not None else remaining, journal=journal)
    if scheduler_factory is not None:
        scheduler = scheduler_factory(config)
    else:
        history: list = []
        if config.early_stage.history:  # earlier matching studies' finished runs (search.history)
            from foretune.search.history import history_curves

            history, used = history_curves(storage, study.study_name, study.user_attrs.get(CONFIG_ATTR) or {})
            study.set_user_attr(HISTORY_STUDIES_ATTR, used)
        peers = partial(st.past_trials, study, other_than=searcher.target.tag)  # drivers beside this one
        scheduler = build_scheduler(config, notes=notes, past=st.past_trials(study), history=history, peers=peers)
    callbacks = list(callbacks or [])  # Tune callbacks of the caller (e.g. the zero-shot baseline in the tail)
    board = None
    if config.search.trainable is None:  # which completed trials score the test split: those that lead then
        from foretune.search.best_so_far import start_best_so_far
        from foretune.search.other_drivers_finals import OtherDriversFinals

        complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        board = start_best_so_far([mode for _, mode in objectives(config.search)], [t.values for t in complete])
        callbacks.append(OtherDriversFinals(board, study, searcher.target.tag, {t.number for t in complete}))
    if progress:
        callbacks.append(_progress_callback(config, remaining, notes, searcher, console))
    ctrl_c = CtrlCAtNextStep()  # Ctrl-C or SIGTERM stops the loop at its next step
    callbacks.append(ctrl_c)
    if config.search.trainable is not None or config.search.given_range:  # a misuse: stop at once
        callbacks.append(StopOnReportMisuse())
    tuner = build_tuner(
        config,
        trainer_factory=trainer_factory,
        searcher=searcher,
        scheduler=scheduler,
        num_samples=remaining,
        run_dir=run_dir,
        session_name=f"session-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}",
        callbacks=callbacks,
        board=board,
    )
    if config.search.time_budget_s is not None:  # Tune's own budget stops trials; this one starts none in vain
        searcher.time_left = StartsInTime(config.search.time_budget_s)
    with TrialKeeper(study, searcher.held_trial_ids, journal=journal):
        ctrl_c.install()
        try:
            requeue = partial(requeue_unfinished, study, journal=journal)  # a misuse stop leaves none RUNNING
            ran = len(fit_stopping_on_misuse(tuner, on_stop=lambda: requeue(searcher.held_trial_ids())))
            ctrl_c.stop_if_pressed()  # pressed as the last trial ended
            if searcher.time_left is not None and searcher.time_left.refused and progress:
                left, quickest = searcher.time_left.refused
                _say(
                    console,
                    f"search.time_budget_s: no trial started in its last {left:.0f} s (the quickest trial of this "
                    f"session took {quickest:.0f} s)",
                )
            # asked but never started (the time budget ran out first): not left RUNNING in the study
            requeue_unfinished(study, searcher.held_trial_ids(), journal=journal)
            return ran
        finally:  # after Ctrl-C too: the live bar ends its line before the next one is printed
            from foretune.search.progress import ProgressCallback

            ctrl_c.restore()
            for callback in callbacks:
                if isinstance(callback, ProgressCallback):
                    callback.progress.stop()
