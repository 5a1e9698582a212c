"""Settings read from the environment, checked in fresh processes (settings load once)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_settings(code: str, **env: str) -> subprocess.CompletedProcess:
    """Import the settings in a clean process with exactly `env` on top of a minimal base."""
    base = {"PATH": os.environ["PATH"], "DJANGO_TESTING": "0", "ENV_FILE": os.devnull}
    return subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path[:0] = ['site', '.']; {code}"],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [("False", "False"), ("false", "False"), ("0", "False"), ("True", "True"), ("1", "True")],
)
def test_debug_is_a_real_boolean(value, expected):
    result = run_settings("import settings; print(settings.DEBUG)", DEBUG=value, SECRET_KEY="x")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_debug_defaults_to_off():
    result = run_settings("import settings; print(settings.DEBUG)", SECRET_KEY="x")
    assert result.stdout.strip() == "False", result.stderr


def test_without_debug_a_secret_key_is_required():
    result = run_settings("import settings")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_redis_url_switches_queue_and_cache():
    code = (
        "import settings; "
        "print(settings.HUEY['huey_class'], settings.CACHES['default']['BACKEND'].split('.')[-2])"
    )
    without = run_settings(code, SECRET_KEY="x")
    with_redis = run_settings(code, SECRET_KEY="x", REDIS_URL="redis://127.0.0.1:6379/3")
    assert without.stdout.split() == ["huey.SqliteHuey", "db"]
    assert with_redis.stdout.split() == ["huey.RedisHuey", "redis"]


def test_huey_never_runs_tasks_inline_by_default():
    # djhuey would default `immediate` to DEBUG and run tasks inside the web process.
    result = run_settings("import settings; print(settings.HUEY['immediate'])", DEBUG="true")
    assert result.stdout.strip() == "False", result.stderr


PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "k" * 20 + "-production-secret-of-sufficient-length-and-variety-9f8e7d6c",
    "ALLOWED_HOSTS": "aggregator.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://aggregator.example.com",
    "DATABASE_URL": "postgres://app:secret@db.example.com:5432/aggregator",
    "REDIS_URL": "redis://cache.example.com:6379/0",
    "EMAIL_HOST": "smtp.example.com",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_PRELOAD": "true",
    "OFFERS_BASE_URL": "https://offers.example.com/api/v1",
    "OFFERS_REFRESH_TOKEN": "refresh-token",
}


def test_check_deploy_reports_nothing_with_the_production_variables():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "DEBUG"],
        cwd=ROOT,
        env={
            "PATH": os.environ["PATH"],
            "DJANGO_TESTING": "0",
            "ENV_FILE": os.devnull,
            **PRODUCTION_ENV,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
