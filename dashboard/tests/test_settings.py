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


# `check --deploy` with the production settings: deploy/tests/test_deploy_files.py, from
# .env.example.


# --- Accounts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("debug", "expected"), [("false", "mandatory"), ("true", "optional")])
def test_email_verification_is_mandatory_unless_debug(debug, expected):
    code = "import settings; print(settings.ACCOUNT_EMAIL_VERIFICATION)"
    result = run_settings(code, DEBUG=debug, SECRET_KEY="x")
    assert result.stdout.strip() == expected, result.stderr


def test_weaker_email_verification_in_production_is_reported_by_check():
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={
            "PATH": os.environ["PATH"],
            "DJANGO_TESTING": "0",
            "ENV_FILE": os.devnull,
            "SECRET_KEY": "x",
            "ACCOUNT_EMAIL_VERIFICATION": "optional",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "accounts.W001" in result.stderr + result.stdout
    assert "ACCOUNT_EMAIL_VERIFICATION is 'optional' while DEBUG is off" in result.stderr


def test_a_misspelt_email_verification_is_refused_at_start():
    result = run_settings("import settings", SECRET_KEY="x", ACCOUNT_EMAIL_VERIFICATION="manditory")
    assert result.returncode != 0
    assert "ACCOUNT_EMAIL_VERIFICATION='manditory'" in result.stderr


@pytest.mark.parametrize(("behind_proxy", "expected"), [("true", "1 1"), ("false", "0 0")])
def test_allauth_trusts_the_proxy_exactly_when_the_api_does(behind_proxy, expected):
    code = (
        "import settings; "
        "print(settings.ALLAUTH_TRUSTED_PROXY_COUNT, settings.REST_FRAMEWORK['NUM_PROXIES'])"
    )
    result = run_settings(code, SECRET_KEY="x", BEHIND_TLS_PROXY=behind_proxy)
    assert result.stdout.strip() == expected, result.stderr


# --- Test mode exists in tests only --------------------------------------------------------------


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "ENV_FILE": os.devnull, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "database_url",
    [
        "",  # the default SQLite file
        "sqlite:///var/db.sqlite3",
        "postgres://app:secret@db.example.com:5432/aggregator",
        "postgres://app:secret@db.example.com:5432/aggregator_test_",
    ],
)
def test_test_mode_outside_the_tests_refuses_to_start(database_url):
    env = {"DJANGO_TESTING": "1", "SECRET_KEY": "k" * 50}
    if database_url:
        env["DATABASE_URL"] = database_url
    result = manage("check", **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured: DJANGO_TESTING is set, but this is not a test run" in (
        result.stderr
    )


@pytest.mark.parametrize(
    "database_url",
    [
        f"sqlite:///{ROOT / 'var' / 'test-db.sqlite3'}",
        "postgres://postgres@127.0.0.1:5432/test_product_aggregator",
    ],
)
def test_processes_the_tests_start_on_their_test_database_are_in_test_mode(database_url):
    code = "import settings; print(settings.TESTING, settings.PASSWORD_HASHERS[0])"
    result = run_settings(code, DJANGO_TESTING="1", DATABASE_URL=database_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "django.contrib.auth.hashers.MD5PasswordHasher"]


# --- The repository ------------------------------------------------------------------------------


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not a git checkout")
def test_operators_env_files_are_git_ignored_but_the_example_is_not():
    def ignored(path: str) -> bool:
        result = subprocess.run(
            ["git", "check-ignore", "--quiet", "--no-index", path], cwd=ROOT, timeout=30
        )
        return result.returncode == 0

    assert ignored(".env")
    assert ignored(".env.production")
    assert ignored(".env.staging")
    assert not ignored(".env.example")
