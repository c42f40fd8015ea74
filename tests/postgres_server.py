"""A real PostgreSQL server for the tests: `initdb` + `pg_ctl` in a temporary folder, on 127.0.0.1.

The `postgres_db` fixture (one server per test session) yields a `PostgresDB` whose `url` holds
`${FORETUNE_DB_PASSWORD}` as foretune's users write it; the password is set in the environment of
the test process (and so of the drivers it starts). The server refuses to run as root: as root the
folder is handed to the `postgres` user and the binaries run as that user. Skips only when the server
binaries are not installed (scripts/setup.sh installs Debian's `postgresql` package where it can).
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PASSWORD_ENV = "FORETUNE_DB_PASSWORD"
ROLE = "foretune"


def find_bin_dir() -> Path | None:
    """The folder holding `initdb` and `pg_ctl`: on PATH, else Debian's /usr/lib/postgresql/<v>/bin."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(os.path.realpath(on_path)).parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(folder, "initdb").is_file() and Path(folder, "pg_ctl").is_file():
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PostgresDB:
    bin_dir: Path
    folder: Path
    port: int
    password: str

    @property
    def url(self) -> str:
        """The storage URL as a user writes it: the password is read from the environment."""
        return f"postgresql://{ROLE}:${{{PASSWORD_ENV}}}@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if os.geteuid() == 0:  # PostgreSQL refuses root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=120)

    def start(self) -> None:
        data, pwfile = self.folder / "data", self.folder / "pw"
        pwfile.write_text(self.password)
        if os.geteuid() == 0:
            postgres = pwd.getpwnam("postgres")
            os.chown(self.folder, postgres.pw_uid, postgres.pw_gid)
            os.chown(pwfile, postgres.pw_uid, postgres.pw_gid)
        self._run("initdb", "-D", str(data), "-U", ROLE, f"--pwfile={pwfile}", "--auth=scram-sha-256", "-E", "UTF8")
        pwfile.unlink()
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c max_connections=200"
        self._run("pg_ctl", "-D", str(data), "-o", options, "-l", str(self.folder / "server.log"), "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop")


def _has_runuser() -> bool:
    return os.geteuid() != 0 or (shutil.which("runuser") is not None and _user_exists("postgres"))


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@pytest.fixture(scope="session")
def postgres_db() -> Iterator[PostgresDB]:
    bin_dir = find_bin_dir()
    if bin_dir is None or not _has_runuser():
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed: apt-get install postgresql")
    folder = Path(tempfile.mkdtemp(prefix="foretune-pg-"))
    server = PostgresDB(bin_dir, folder, _free_port(), secrets.token_urlsafe(18))
    previous = os.environ.get(PASSWORD_ENV)
    os.environ[PASSWORD_ENV] = server.password
    try:
        server.start()
        yield server
    finally:
        try:
            server.stop()
        except subprocess.CalledProcessError:
            pass  # never started
        shutil.rmtree(folder, ignore_errors=True)
        if previous is None:
            os.environ.pop(PASSWORD_ENV, None)
        else:
            os.environ[PASSWORD_ENV] = previous
