"""What the benchmarks share: a throwaway database, Django set up for it, a query counter."""

from __future__ import annotations

import argparse
import os
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# `site` cannot be a package name (the stdlib's is preloaded): site/ is put on sys.path.
sys.path[:0] = [str(ROOT), str(ROOT / "site")]


# --- A throwaway database ------------------------------------------------------------------------


def add_database_argument(parser: argparse.ArgumentParser) -> None:
    """--database-url, the server that throwaway_database uses."""
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server (postgres://user@host:port/maintenance-db): the benchmark "
        "creates its own database there and drops it afterwards (default: a SQLite file)",
    )


@contextmanager
def throwaway_database(server_url: str | None, *, prefix: str) -> Iterator[str]:
    """Yield the DATABASE_URL of a new, empty database named `prefix`_<random>: a SQLite file
    under var/ when `server_url` is None, else a database created on that PostgreSQL server
    (its URL's database is only used to run CREATE/DROP DATABASE). Deleted afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    if server_url is None:
        path = ROOT / "var" / f"{name}.sqlite3"
        path.parent.mkdir(exist_ok=True)
        try:
            yield f"sqlite:///{path}"
        finally:
            close_django_connections()
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return

    import psycopg2
    from environ import Env

    config = Env.db_url_config(server_url)
    if "postgresql" not in config["ENGINE"]:
        raise SystemExit(f"--database-url must be a PostgreSQL URL, not {server_url!r}")

    def admin(sql: str) -> None:
        connection = psycopg2.connect(
            dbname=config["NAME"] or "postgres",
            user=config["USER"] or None,
            password=config["PASSWORD"] or None,
            host=config["HOST"] or None,
            port=config["PORT"] or None,
        )
        connection.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
        finally:
            connection.close()

    admin(f'CREATE DATABASE "{name}"')
    base = server_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        close_django_connections()
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def close_django_connections() -> None:
    from django.conf import settings

    if settings.configured:  # not when the run failed before Django was set up
        from django.db import connections

        connections.close_all()


def setup_django(
    *, database_url: str, offers_url: str = "http://127.0.0.1:9/unused", refresh_token: str = ""
) -> None:
    """Configure Django for the benchmark only: its database and simulator (if it talks to
    one), no developer .env; migrate the database."""
    os.environ.update(
        DJANGO_SETTINGS_MODULE="settings",
        ENV_FILE=os.devnull,
        DATABASE_URL=database_url,
        CONN_MAX_AGE="0",
        DEBUG="false",
        SECRET_KEY=os.environ.get("SECRET_KEY") or "bench-only-never-used-for-anything",
        OFFERS_BASE_URL=offers_url,
        OFFERS_REFRESH_TOKEN=refresh_token,
        LOG_LEVEL="WARNING",
    )
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


class QueryCounter:
    """Counts the SQL statements of every thread that wraps its work in `counting()`."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, execute, sql, params, many, context):
        with self._lock:
            self.count += 1
        return execute(sql, params, many, context)

    @contextmanager
    def counting(self) -> Iterator[None]:
        from django.db import connection

        with connection.execute_wrapper(self):
            yield
