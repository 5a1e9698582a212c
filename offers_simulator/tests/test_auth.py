"""POST /api/v1/auth and the access-token rules."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import uuid

import requests

from offers_simulator.testing import REPO_ROOT, SimulatorProcess, run_simulator
from offers_simulator.tests.helpers import get_offers, get_token, register


def _claims(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_auth_answers_201_with_a_jwt_looking_token(http, simulator):
    before = time.time()
    response = http.post(f"{simulator.base_url}/auth", headers={"Bearer": simulator.refresh_token})
    assert response.status_code == 201
    assert response.headers["Content-Type"] == "application/json"
    token = response.json()["access_token"]
    assert len(token.split(".")) == 3
    assert before + 299 <= _claims(token)["expires"] <= time.time() + 301


def test_second_auth_while_token_valid_is_400(http, simulator, token):
    response = http.post(f"{simulator.base_url}/auth", headers={"Bearer": simulator.refresh_token})
    assert response.status_code == 400
    assert response.json() == {"detail": "Cannot generate access token because another is valid"}


def test_unknown_refresh_token_is_401(http, simulator):
    response = http.post(f"{simulator.base_url}/auth", headers={"Bearer": "not-a-refresh-token"})
    assert response.status_code == 401
    assert isinstance(response.json()["detail"], str)


def test_access_token_is_not_a_refresh_token(http, simulator, token):
    response = http.post(f"{simulator.base_url}/auth", headers={"Bearer": token})
    assert response.status_code == 401


def test_missing_bearer_header_is_422(http, simulator):
    response = http.post(f"{simulator.base_url}/auth")
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {"loc": ["header", "bearer"], "msg": "field required", "type": "value_error.missing"}
        ]
    }


def test_auth_takes_only_post(http, simulator):
    response = http.get(f"{simulator.base_url}/auth", headers={"Bearer": simulator.refresh_token})
    assert response.status_code == 405
    assert response.json() == {"detail": "Method Not Allowed"}
    assert response.headers["Allow"] == "POST"


def test_token_expires_after_its_ttl(http, simulator, product_id):
    simulator.expire_tokens()
    simulator.set_faults(token_ttl=0.5)
    token = get_token(http, simulator)
    assert get_offers(http, simulator, token, product_id).status_code == 200
    # While it is valid, no other token is handed out.
    again = http.post(f"{simulator.base_url}/auth", headers={"Bearer": simulator.refresh_token})
    assert again.status_code == 400
    time.sleep(0.7)
    expired = get_offers(http, simulator, token, product_id)
    assert expired.status_code == 401
    assert expired.json() == {"detail": "Access token expired"}
    fresh = get_token(http, simulator)
    assert get_offers(http, simulator, fresh, product_id).status_code == 200


def test_expire_tokens_control_gives_401_then_a_new_token(http, simulator, token, product_id):
    simulator.expire_tokens()
    assert get_offers(http, simulator, token, product_id).status_code == 401
    assert register(http, simulator, token, str(uuid.uuid4())).status_code == 401
    fresh = get_token(http, simulator)
    assert fresh != token
    assert get_offers(http, simulator, fresh, product_id).status_code == 200


def test_reset_forgets_issued_tokens(http, simulator, token, product_id):
    simulator.reset()
    response = get_offers(http, simulator, token, product_id)
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid access token"}


def test_each_refresh_token_has_its_own_access_token():
    with (
        run_simulator("--refresh-token", "second", refresh_token="first") as simulator,
        requests.Session() as http,
    ):
        url = f"{simulator.base_url}/auth"
        first = http.post(url, headers={"Bearer": "first"})
        second = http.post(url, headers={"Bearer": "second"})
        assert (first.status_code, second.status_code) == (201, 201)
        assert http.post(url, headers={"Bearer": "first"}).status_code == 400
        # The development token is accepted only when no --refresh-token is given.
        assert http.post(url, headers={"Bearer": "dev-refresh-token"}).status_code == 401


def test_no_refresh_token_option_accepts_and_prints_the_development_token():
    process = subprocess.Popen(
        [sys.executable, "-m", "offers_simulator", "--port", "0"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        second = process.stdout.readline()
        assert first.startswith("offers-simulator listening on http://127.0.0.1:")
        assert "dev-refresh-token" in second
        url = first.split()[-1]
        response = requests.post(f"{url}/api/v1/auth", headers={"Bearer": "dev-refresh-token"})
        assert response.status_code == 201
    finally:
        process.terminate()
        process.wait(timeout=5)


def test_simulator_process_handle(simulator: SimulatorProcess):
    assert simulator.base_url == f"{simulator.root_url}/api/v1"
    assert simulator.root_url == f"http://127.0.0.1:{simulator.port}"
    assert simulator.refresh_token == "test-refresh-token"
