"""wait_for_db against real sockets: a closed port, and a real PostgreSQL that appears late."""

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import environ
import pytest

from conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def wait_for_db(database_url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "wait_for_db", "--interval", "0.3", *args],
        cwd=ROOT,
        # Not on the test database, so not in test mode (settings refuse it there): production
        # settings with a throwaway key.
        env={
            **os.environ,
            "DJANGO_TESTING": "0",
            "ENV_FILE": os.devnull,
            "SECRET_KEY": "wait-for-db-test",
            "DATABASE_URL": database_url,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def postgres_address() -> tuple[str, int, str]:
    """The PostgreSQL server the suite may use (DATABASE_URL's, else the local default), with
    the `postgres` maintenance database, which always exists."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        url = "postgres://postgres@127.0.0.1:5432/postgres"
    url = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    conf = environ.Env.db_url_config(url)
    host, port = conf["HOST"] or "127.0.0.1", int(conf["PORT"] or 5432)
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError:
        pytest.skip(f"no PostgreSQL server at {host}:{port}")
    return host, port, url


class LateForwarder:
    """A TCP forwarder that starts listening `delay` seconds late, then relays to the target."""

    def __init__(self, target: tuple[str, int], delay: float):
        self.target, self.delay = target, delay
        self.port = free_port()
        self.listening = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)

    def _serve(self):
        time.sleep(self.delay)
        with socket.create_server(("127.0.0.1", self.port)) as server:
            server.settimeout(0.2)
            self.listening.set()
            while not self._stop.is_set():
                try:
                    client, _ = server.accept()
                except TimeoutError:
                    continue
                upstream = socket.create_connection(self.target)
                for source, sink in ((client, upstream), (upstream, client)):
                    threading.Thread(target=_pipe, args=(source, sink), daemon=True).start()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def test_a_closed_port_times_out_with_a_clear_message():
    port = free_port()  # nothing listens here
    started = time.monotonic()
    result = wait_for_db(f"postgres://postgres@127.0.0.1:{port}/postgres", "--timeout", "2")
    assert result.returncode == 1
    assert time.monotonic() - started >= 2
    assert f"127.0.0.1:{port} did not accept connections within 2 s" in result.stderr
    assert "attempt 1: not yet" in result.stdout


def test_a_database_that_starts_listening_late_is_waited_for():
    host, port, url = postgres_address()
    with LateForwarder((host, port), delay=3) as forwarder:
        late_url = url.replace(f"{host}:{port}", f"127.0.0.1:{forwarder.port}", 1)
        assert late_url != url
        result = wait_for_db(late_url, "--timeout", "30")
        assert forwarder.listening.is_set()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "not yet" in result.stdout  # it really had to wait
    assert "The database is up" in result.stdout
