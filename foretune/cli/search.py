"""`foretune search`, `report` and `dashboard` (foretune.search)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from foretune.cli.options import ConfigArg, SetOpt, _load, console
from foretune.errors import ForetuneError

if TYPE_CHECKING:
    import optuna

    from foretune.search.report import Report

RunDirOpt = Annotated[Path | None, typer.Option("--out", help="Run folder (default runs/search-<name>).")]
StorageOpt = Annotated[
    str | None,
    typer.Option("--storage", help="Optuna storage: RDB URL (sqlite:///f.db, postgresql://...) or journal file."),
]
StudyOpt = Annotated[str | None, typer.Option("--study", help="Study name (default: the config's name).")]


def _replay_factory(path: Path, cfg):
    from foretune.trainers.replay import ReplayBank

    try:
        bank = ReplayBank.from_scan_bench(path)
    except KeyError:  # not scan-bench's vlm.csv: a long table (trial, fraction, metrics, hyperparameters)
        bank = ReplayBank.from_long_table(path)
    except (OSError, ValueError) as error:
        raise ForetuneError(
            f"--replay {path}: cannot read recorded curves ({error}); give scan-bench's vlm.csv or a long table"
        ) from None
    if not set(cfg.search.space) & set(bank.scales):
        raise ForetuneError(
            f"--replay: search.space has none of the replayed hyperparameters ({', '.join(bank.scales)})"
        )
    if cfg.search.metric not in bank.reported_metrics:
        raise ForetuneError(
            f"--replay: set search.metric to one of {', '.join(bank.reported_metrics)} (and search.mode: max or min)"
        )
    return bank.trainer_factory()


def search_cmd(
    config: ConfigArg,
    set_: SetOpt = None,
    out: RunDirOpt = None,
    trials: Annotated[int | None, typer.Option("--trials", help="Total trials (finished ones count).")] = None,
    storage: StorageOpt = None,
    study: StudyOpt = None,
    address: Annotated[
        str | None, typer.Option("--address", help="Ray cluster to join (default: RAY_ADDRESS, else local Ray).")
    ] = None,
    replay: Annotated[
        Path | None,
        typer.Option("--replay", help="Serve recorded curves (scan-bench vlm.csv, or a long table) rather than train."),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", help="No live display or per-trial log lines; only the final report.")
    ] = False,
    trainable: Annotated[
        str | None,
        typer.Option(
            "--trainable",
            help="Your training function 'package.module:function', called as fn(params, reporter) in each trial "
            "(search.space then names its parameters).",
        ),
    ] = None,
) -> None:
    """Bayesian search over the config's space on Ray Tune; trials judged at the early fraction are pruned."""
    import optuna

    from foretune.cli.render import print_report
    from foretune.search.driver import run_search
    from foretune.search.storage import open_storage, redact

    cfg = _load(config, [*(set_ or []), f"search.trainable='{trainable}'"] if trainable else set_)
    if replay is not None and cfg.search.trainable is not None:
        raise ForetuneError("give --replay or search.trainable (--trainable), not both")
    factory = _replay_factory(replay, cfg) if replay is not None else None
    outcome = run_search(
        cfg,
        out=out,
        trials=trials,
        storage=storage,
        study_name=study,
        address=address,
        trainer_factory=factory,
        console=console,
        progress=not quiet,
        write_report=False,
    )
    if outcome.requeued and quiet:  # with progress, the search said so as it resumed
        console.print(f"resumed: {outcome.requeued} interrupted trial(s) were run again")
    searched = optuna.load_study(study_name=outcome.study_name, storage=open_storage(outcome.storage))
    print_report(write_report(searched, outcome.run_dir), console)
    in_run_dir = storage is None and cfg.storage is None
    where = str(outcome.run_dir) if in_run_dir else f"--storage '{redact(outcome.storage)}'"
    console.print(
        f"study '{outcome.study_name}': {outcome.total} trials. Dashboard: foretune dashboard {where}", highlight=False
    )


def report_cmd(
    target: Annotated[
        Path | None, typer.Argument(help="Run folder (or its study.journal); with --storage, where to write.")
    ] = None,
    storage: StorageOpt = None,
    study: StudyOpt = None,
) -> None:
    """Rank a study's trials (early vs final), write CSV, markdown, plots and best.yaml."""
    from foretune.cli.render import print_report
    from foretune.search.storage import load_study_for_report

    loaded, folder = load_study_for_report(target, storage=storage, study_name=study)
    print_report(write_report(loaded, folder), console)


def write_report(study: optuna.Study, folder: Path) -> Report:
    """The report files of `foretune search` and `foretune report`: the tables and best.yaml, then the plots."""
    from foretune.cli.plots import plot_report
    from foretune.search.report import build_report

    report = build_report(study, folder)
    plot_report(study, report, Path(folder))
    return report


def dashboard_cmd(
    run_dir: Annotated[Path | None, typer.Argument(help="Run folder of a search.")] = None,
    storage: StorageOpt = None,
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1.")] = 8080,
    host: Annotated[
        str, typer.Option("--host", help="Interface to serve on (keep 127.0.0.1 unless you know).")
    ] = "127.0.0.1",
) -> None:
    """Serve optuna-dashboard for a run's study (learning curves, history, importance)."""
    from foretune.search.dashboard import serve

    serve(run_dir, storage=storage, host=host, port=port, console=console)
