"""/healthz: what a load balancer or the container's HEALTHCHECK asks, every few seconds.

In-process for what the answer looks like; then gunicorn started as deploy/gunicorn.conf.py and
.env.example start it in production (DEBUG off, HTTPS redirect, the example's allowed hosts), on
the test database, on a database nobody serves and on a Redis nobody serves.
"""

import http.client
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conftest import database_url_of, free_port

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db

PRODUCTION = {
    "ALLOWED_HOSTS": ["aggregator.example.com"],
    "SECURE_SSL_REDIRECT": True,
    "DEBUG": False,
}


def test_ok_over_plain_http_to_any_host_with_no_session_and_no_write(client, settings):
    for name, value in PRODUCTION.items():
        setattr(settings, name, value)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/healthz", HTTP_HOST="10.0.0.7:8000")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"
    assert not response.cookies
    # SELECT 1, and the cache's read when the cache is the database's.
    assert 1 <= len(queries) <= 2
    assert all(query["sql"].lstrip().upper().startswith("SELECT") for query in queries)


def test_other_paths_keep_the_https_redirect_and_the_host_check(client, settings):
    for name, value in PRODUCTION.items():
        setattr(settings, name, value)
    assert client.get("/", HTTP_HOST="10.0.0.7:8000").status_code == 400
    redirect = client.get("/", HTTP_HOST="aggregator.example.com")
    assert redirect.status_code == 301
    assert redirect["Location"] == "https://aggregator.example.com/"


def test_a_trailing_slash_and_head_work_other_methods_do_not(client):
    assert client.get("/healthz/").json() == {"status": "ok"}
    assert client.head("/healthz").status_code == 200
    refused = client.post("/healthz")
    assert refused.status_code == 405
    assert refused["Allow"] == "GET, HEAD"


# --- In production, under gunicorn -------------------------------------------------------------


def production_env(**overrides: str) -> dict[str, str]:
    """.env.example with a secret key, one worker on a free port, and the test's overrides."""
    return {
        "PATH": os.environ["PATH"],
        "DJANGO_TESTING": "0",
        "ENV_FILE": ".env.example",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "WEB_CONCURRENCY": "1",
        "PORT": str(free_port()),
        "PYTHONUNBUFFERED": "1",
        **overrides,
    }


class Gunicorn:
    """gunicorn as the Procfile starts it: `gunicorn --config deploy/gunicorn.conf.py`."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.url = f"http://127.0.0.1:{env['PORT']}"
        self.env = env
        self.log = log
        with log.open("w") as output:
            self.process = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "gunicorn"),
                    "--config",
                    "deploy/gunicorn.conf.py",
                ],
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        self._wait_until_listening()

    def _wait_until_listening(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        port = int(self.env["PORT"])
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"gunicorn exited:\n{self.log.read_text()}"
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.1)
        pytest.fail(f"gunicorn did not listen in {timeout:g} s:\n{self.log.read_text()}")

    def get(self, path: str, host: str | None = None) -> tuple[int, bytes]:
        """One GET; redirects are not followed (they lead to HTTPS on example.com)."""
        connection = http.client.HTTPConnection("127.0.0.1", int(self.env["PORT"]), timeout=15)
        try:
            connection.request("GET", path, headers={"Host": host} if host else {})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def healthcheck(self) -> subprocess.CompletedProcess:
        """deploy/healthcheck.py, as the container runs it (it finds the port in PORT)."""
        return subprocess.run(
            [sys.executable, "deploy/healthcheck.py"],
            cwd=ROOT,
            env={"PATH": os.environ["PATH"], "PORT": self.env["PORT"]},
            capture_output=True,
            text=True,
            timeout=30,
        )

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def gunicorn(tmp_path):
    started = []

    def start(**overrides: str) -> Gunicorn:
        server = Gunicorn(production_env(**overrides), tmp_path / f"gunicorn-{len(started)}.log")
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def nobody_listens() -> int:
    return free_port()  # closed again at once: connections are refused


@pytest.mark.django_db(transaction=True)
def test_under_gunicorn_with_env_example_it_answers_200_and_the_healthcheck_passes(
    gunicorn, settings
):
    server = gunicorn(DATABASE_URL=database_url_of(connection), REDIS_URL=settings.REDIS_URL)
    # The container's own address as host, over plain HTTP: neither allowed nor HTTPS.
    status, body = server.get("/healthz", host=f"172.17.0.2:{server.env['PORT']}")
    assert (status, body) == (200, b'{"status": "ok"}')
    checked = server.healthcheck()
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith("healthy:")
    # Any other page is for aggregator.example.com only, over HTTPS.
    assert server.get("/", host="172.17.0.2")[0] == 400
    assert server.get("/", host="aggregator.example.com")[0] == 301


def test_without_its_database_and_cache_it_answers_503_naming_both(gunicorn):
    server = gunicorn(
        DATABASE_URL=f"postgres://app:secret@127.0.0.1:{nobody_listens()}/aggregator",
        REDIS_URL=f"redis://127.0.0.1:{nobody_listens()}/0",
    )
    status, body = server.get("/healthz")
    assert status == 503
    assert body == b'{"status": "unavailable", "failed": ["database", "cache"]}'
    checked = server.healthcheck()
    assert checked.returncode == 1
    assert checked.stdout.startswith("unhealthy:") and "503" in checked.stdout
    # Why, in the log; the answer says only what.
    assert "healthz: the database does not answer" in server.log.read_text()


@pytest.mark.django_db(transaction=True)
def test_without_redis_it_answers_503_naming_the_cache(gunicorn):
    server = gunicorn(
        DATABASE_URL=database_url_of(connection),
        REDIS_URL=f"redis://127.0.0.1:{nobody_listens()}/0",
    )
    status, body = server.get("/healthz")
    assert (status, body) == (503, b'{"status": "unavailable", "failed": ["cache"]}')


def test_with_no_process_listening_the_healthcheck_fails():
    result = subprocess.run(
        [sys.executable, "deploy/healthcheck.py", f"http://127.0.0.1:{nobody_listens()}/healthz"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("unhealthy:")
