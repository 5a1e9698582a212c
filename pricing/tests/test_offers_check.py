"""`manage.py offers_check` against the simulator: what it prints, and how it fails."""

import io
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from pricing.models import OffersAccessToken

MANAGE_PY = Path(__file__).resolve().parents[2] / "manage.py"


def offers_check() -> str:
    out = io.StringIO()
    call_command("offers_check", stdout=out)
    return out.getvalue()


def test_offers_check_obtains_a_token_and_prints_what_it_learned(db, offers_simulator):
    output = offers_check()

    expires_at = OffersAccessToken.objects.get().expires_at
    assert f"Offers service:  {offers_simulator.base_url}" in output
    assert re.search(r"Access token:    new one obtained in \d+ ms", output)
    assert f"Token expires:   {expires_at:%Y-%m-%d %H:%M:%S} UTC" in output
    assert re.search(r"Probe call:      GET http://\S+/offers → 404 in \d+ ms", output)
    assert "OK" in output
    assert offers_simulator.refresh_token not in output
    assert offers_simulator.stats()["auth"] == {"201": 1}


def test_offers_check_reuses_the_stored_token(db, offers_simulator):
    offers_check()

    output = offers_check()

    assert "Access token:    stored one reused" in output
    assert offers_simulator.stats()["auth"] == {"201": 1}


def test_offers_check_with_a_wrong_refresh_token_fails_with_the_clients_message(
    db, offers_simulator, settings
):
    settings.OFFERS_REFRESH_TOKEN = "wrong"

    with pytest.raises(CommandError, match=r"refused the refresh token .*OFFERS_REFRESH_TOKEN"):
        offers_check()


def test_offers_check_with_the_service_down_fails_with_the_clients_message(db, settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.OFFERS_BASE_URL = f"http://127.0.0.1:{port}/api/v1"
    settings.OFFERS_REFRESH_TOKEN = "token"

    with pytest.raises(CommandError, match=r"Could not reach .*127\.0\.0\.1.*OFFERS_BASE_URL"):
        offers_check()


def test_manage_py_offers_check_exits_0_then_non_zero_with_the_message(
    subprocess_env, offers_simulator
):
    def run(**env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(MANAGE_PY), "offers_check"],
            env=subprocess_env(**env),
            capture_output=True,
            text=True,
            timeout=60,
        )

    ok = run()
    assert ok.returncode == 0, ok.stderr
    assert "OK: the Offers service is reachable" in ok.stdout

    OffersAccessToken.objects.all().delete()  # else the stored token is used, as it should be
    failed = run(OFFERS_REFRESH_TOKEN="wrong")
    assert failed.returncode != 0
    assert "refused the refresh token" in failed.stderr
    assert "Traceback" not in failed.stderr
