"""`foretune dashboard`: optuna-dashboard on 127.0.0.1 for a run's study."""

from __future__ import annotations

import errno
import socket
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
    from optuna_dashboard import wsgi

    if not 0 < port < 65536:
        raise ForetuneError(f"--port must be in 1..65535, got {port}")
    where = resolve(run_dir, storage)
    opened = open_storage(where, must_exist=True)
    if not optuna.get_all_study_summaries(opened, include_best_trial=False):
        raise ForetuneError(f"{redact(where)} holds no study yet; run `foretune search` first")
    server = _bind(host, port, wsgi(opened))
    if console is not None:
        where_shown = f"optuna-dashboard for {redact(where)} at http://{_address(host, port)}/ (Ctrl-C to stop)"
        console.print(where_shown, highlight=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _bind(host: str, port: int, app):
    """The server, bound: optuna_dashboard.run_server raised a bare OSError (port in use) from inside serving."""
    from wsgiref.simple_server import WSGIServer, make_server

    class Server(WSGIServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    try:
        return make_server(host, port, app, server_class=Server)
    except OSError as error:
        reason = "it is in use" if error.errno == errno.EADDRINUSE else (error.strerror or str(error))
        fix = (
            "pick another port with --port" if error.errno in _PORT_ERRORS else "give --host an address of this machine"
        )
        raise ForetuneError(f"cannot serve on {_address(host, port)}: {reason}; {fix}") from None


_PORT_ERRORS = (errno.EADDRINUSE, errno.EACCES)


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
