"""Fault injection and the control endpoint."""

from __future__ import annotations

import socket
import threading
import time
import uuid

import pytest
import requests

from offers_simulator.testing import SimulatorError, run_simulator
from offers_simulator.tests.helpers import documented_body, get_offers, get_token, register


def test_state_reports_the_settings(simulator):
    assert simulator.state() == {
        "latency_ms": 0.0,
        "error_rate": 0.0,
        "error_statuses": [500, 502, 503],
        "hang_rate": 0.0,
        "hang_seconds": 30.0,
        "malformed_rate": 0.0,
        "down": False,
        "token_ttl": 300.0,
        "tick": 3600.0,
        "registered": simulator.state()["registered"],
    }


def test_latency_is_added(http, simulator, token, product_id):
    simulator.set_faults(latency_ms=300)
    started = time.monotonic()
    assert get_offers(http, simulator, token, product_id).status_code == 200
    assert time.monotonic() - started >= 0.3
    assert simulator.stats()["faults"]["latency"] == 1


def test_error_rate_one_answers_5xx_everywhere(http, simulator, token, product_id):
    simulator.set_faults(error_rate=1.0)
    statuses = [
        http.post(f"{simulator.base_url}/auth", headers={"Bearer": simulator.refresh_token}),
        register(http, simulator, token, str(uuid.uuid4())),
        get_offers(http, simulator, token, product_id),
    ]
    statuses += [get_offers(http, simulator, token, product_id) for _ in range(20)]
    assert {response.status_code for response in statuses} == {500, 502, 503}
    assert simulator.stats()["faults"]["error"] == 23


def test_error_statuses_are_configurable(http, simulator, token, product_id):
    simulator.set_faults(error_rate=1.0, error_statuses=[504])
    assert get_offers(http, simulator, token, product_id).status_code == 504


def test_a_5xx_changes_nothing(http, simulator, token):
    simulator.set_faults(error_rate=1.0)
    product_id = str(uuid.uuid4())
    assert register(http, simulator, token, product_id).status_code >= 500
    simulator.set_faults(error_rate=0.0)
    assert get_offers(http, simulator, token, product_id).status_code == 404


def test_hang_outlasts_the_client_timeout_and_holds_no_lock(http, simulator, token, product_id):
    simulator.set_faults(hang_rate=1.0, hang_seconds=6)
    timed_out = threading.Event()

    def hanging_call() -> None:
        try:
            requests.get(
                f"{simulator.base_url}/products/{product_id}/offers",
                headers={"Bearer": token},
                timeout=3,
            )
        except requests.Timeout:
            timed_out.set()

    hanging = threading.Thread(target=hanging_call)
    hanging.start()
    time.sleep(0.5)  # the request reaches the server and starts hanging
    simulator.set_faults(hang_rate=0.0)  # the control endpoint answers meanwhile
    for _ in range(5):
        assert get_offers(http, simulator, token, product_id).status_code == 200
    assert hanging.is_alive()  # the others were answered while it still hung
    hanging.join()
    assert timed_out.is_set()
    assert simulator.stats()["offers"] == {"200": 5}  # the hung one has not answered yet


@pytest.mark.parametrize("endpoint", ["auth", "register", "offers"])
def test_malformed_bodies_are_not_the_documented_shape(http, simulator, product_id, endpoint):
    simulator.set_faults(malformed_rate=1.0)
    content_types = set()
    for _ in range(15):
        simulator.expire_tokens()
        if endpoint == "auth":
            response = http.post(
                f"{simulator.base_url}/auth", headers={"Bearer": simulator.refresh_token}
            )
        else:
            simulator.set_faults(malformed_rate=0.0)
            token = get_token(http, simulator)
            simulator.set_faults(malformed_rate=1.0)
            if endpoint == "register":
                response = register(http, simulator, token, str(uuid.uuid4()))
            else:
                response = get_offers(http, simulator, token, product_id)
        assert response.status_code in (200, 201)
        assert not documented_body(endpoint, response.content), response.content
        content_types.add(response.headers["Content-Type"])
    assert "text/html" in content_types and "application/json" in content_types


def test_malformed_applies_only_to_successful_answers(http, simulator):
    simulator.set_faults(malformed_rate=1.0)
    response = get_offers(http, simulator, "not-a-token", str(uuid.uuid4()))
    assert response.status_code == 401
    assert isinstance(response.json()["detail"], str)
    assert simulator.stats()["faults"]["malformed"] == 0


def test_faults_spare_the_control_endpoint(simulator):
    simulator.set_faults(error_rate=1.0, malformed_rate=1.0, latency_ms=2000)
    started = time.monotonic()
    assert simulator.state()["error_rate"] == 1.0
    assert time.monotonic() - started < 1.5


def test_stats_count_answers_and_faults(http, simulator, token, product_id):
    # `token` and `product_id` cost one auth 201 and one register 201.
    get_offers(http, simulator, token, product_id)
    get_offers(http, simulator, token, str(uuid.uuid4()))
    http.post(f"{simulator.base_url}/auth", headers={"Bearer": simulator.refresh_token})
    http.get(f"{simulator.base_url}/nothing")
    simulator.set_faults(error_rate=1.0, error_statuses=[502])
    get_offers(http, simulator, token, product_id)
    assert simulator.stats() == {
        "auth": {"201": 1, "400": 1},
        "register": {"201": 1},
        "offers": {"200": 1, "404": 1, "502": 1},
        "other": {"404": 1},
        "faults": {"latency": 0, "error": 1, "hang": 0, "malformed": 0, "down": 0},
    }


def test_reset_restores_start_up_settings_and_counters(http, simulator, token):
    defaults = simulator.state()
    simulator.set_faults(latency_ms=5, error_rate=0.5, tick=0.5, token_ttl=10)
    simulator.reset()
    assert simulator.state() == defaults
    assert simulator.stats()["auth"] == {}


def test_fault_sequence_is_repeatable(http, simulator, token, product_id):
    def statuses() -> list[int]:
        simulator.reset()
        token = get_token(http, simulator)
        simulator.set_faults(error_rate=0.5)
        return [get_offers(http, simulator, token, product_id).status_code for _ in range(30)]

    first = statuses()
    assert 200 in first and any(status >= 500 for status in first)
    assert statuses() == first


@pytest.mark.parametrize(
    "changes",
    [
        {"error_rate": 1.5},
        {"error_rate": "0.5"},
        {"hang_rate": -0.1},
        {"latency_ms": True},
        {"error_statuses": [404]},
        {"error_statuses": []},
        {"tick": 0},
        {"token_ttl": -1},
        {"no_such_setting": 1},
        {"down": 1},
        {"down": "false"},
    ],
)
def test_bad_settings_are_422_and_change_nothing(simulator, changes):
    before = simulator.state()
    with pytest.raises(SimulatorError, match="422"):
        simulator.set_faults(**changes)
    assert simulator.state() == before


@pytest.mark.parametrize("body", [b"[1]", b"{", b"null"])
def test_faults_body_must_be_a_json_object(http, simulator, body):
    response = http.post(
        f"{simulator.root_url}/_control/faults",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], str)


def test_control_methods(http, simulator):
    assert http.post(f"{simulator.root_url}/_control/state", json={}).status_code == 405
    assert http.get(f"{simulator.root_url}/_control/reset").status_code == 405


def test_fault_flags_on_the_command_line():
    with run_simulator("--error-rate", "1", "--error-statuses", "503", "--latency-ms", "1") as sim:
        state = sim.state()
        assert (state["error_rate"], state["error_statuses"], state["latency_ms"]) == (1, [503], 1)
        response = requests.post(f"{sim.base_url}/auth", headers={"Bearer": sim.refresh_token})
        assert response.status_code == 503
        sim.reset()  # back to the command line's settings, not the built-in defaults
        assert sim.state()["error_rate"] == 1.0


def test_down_closes_api_connections_without_answering(http, simulator, token, product_id):
    simulator.set_faults(down=True, latency_ms=1, error_rate=1.0)  # down wins over the others
    with pytest.raises(requests.ConnectionError):
        get_offers(http, simulator, token, product_id)
    with pytest.raises(requests.ConnectionError):
        http.post(f"{simulator.base_url}/auth", headers={"Bearer": simulator.refresh_token})
    with pytest.raises(requests.ConnectionError):
        http.get(f"{simulator.base_url}/nothing")
    assert simulator.state()["down"] is True  # the control endpoint still answers
    stats = simulator.stats()  # `token` cost one auth 201; nothing was answered since
    assert (stats["offers"], stats["auth"]) == ({}, {"201": 1})
    assert stats["faults"] == {"latency": 0, "error": 0, "hang": 0, "malformed": 0, "down": 3}
    [entry] = simulator.served_log()  # only GET .../offers is logged: status 0, nothing sent
    assert (entry["product_id"], entry["status"], entry["offer_count"]) == (product_id, 0, None)
    simulator.set_faults(down=False, latency_ms=0, error_rate=0.0)
    assert get_offers(http, simulator, token, product_id).status_code == 200


def test_down_closes_a_kept_alive_connection_at_its_next_request(simulator, token, product_id):
    request = (
        f"GET /api/v1/products/{product_id}/offers HTTP/1.1\r\nHost: x\r\nBearer: {token}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", simulator.port), timeout=5) as connection:
        connection.sendall(request)
        assert connection.recv(65536).startswith(b"HTTP/1.1 200 OK")
        simulator.set_faults(down=True)
        connection.sendall(request)
        assert connection.recv(65536) == b""  # closed, not a byte of answer


def test_reset_brings_the_service_back_up(http, simulator, token, product_id):
    simulator.set_faults(down=True)
    simulator.reset()
    token = get_token(http, simulator)
    assert get_offers(http, simulator, token, product_id).status_code == 200


def test_down_on_the_command_line():
    with run_simulator("--down") as sim, requests.Session() as http:
        assert sim.state()["down"] is True
        with pytest.raises(requests.ConnectionError):
            http.post(f"{sim.base_url}/auth", headers={"Bearer": sim.refresh_token})
        sim.reset()  # back to the command line's settings: still down
        assert sim.state()["down"] is True
        sim.set_faults(down=False)
        response = http.post(f"{sim.base_url}/auth", headers={"Bearer": sim.refresh_token})
        assert response.status_code == 201
