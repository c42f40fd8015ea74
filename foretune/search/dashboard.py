"""`foretune dashboard`: optuna-dashboard on 127.0.0.1 for a run's study."""

from __future__ import annotations

from pathlib import Path

from foretune.errors import ForetuneError
from foretune.search.storage import journal_path, open_storage, redact


def resolve(run_dir: Path | None, storage: str | None) -> str:
    """The storage to serve: `--storage`, else the run folder's journal file."""
    if storage:
        return storage
    if run_dir is None:
        raise ForetuneError("give a run folder (e.g. runs/search-foretune) or --storage URL")
    journal = journal_path(run_dir)
    if not journal.is_file():
        raise ForetuneError(
            f"no study at {run_dir} (expected {journal}); run `foretune search` first or pass --storage"
        )
    return str(journal)


def serve(
    run_dir: Path | None, *, storage: str | None, host: str = "127.0.0.1", port: int = 8080, console=None
) -> None:
    import optuna
    from optuna_dashboard import run_server

    if not 0 < port < 65536:
        raise ForetuneError(f"--port must be in 1..65535, got {port}")
    where = resolve(run_dir, storage)
    opened = open_storage(where, must_exist=True)
    if not optuna.get_all_study_summaries(opened, include_best_trial=False):
        raise ForetuneError(f"{redact(where)} holds no study yet; run `foretune search` first")
    if console is not None:
        where_shown = f"optuna-dashboard for {redact(where)} at http://{host}:{port}/ (Ctrl-C to stop)"
        console.print(where_shown, highlight=False)
    run_server(opened, host=host, port=port)
