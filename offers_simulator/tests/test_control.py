"""The control endpoint answers only loopback Hosts, and takes POSTs only as JSON.

Raw sockets, so that each test says exactly which headers a browser (or anyone) would send.
"""

from __future__ import annotations

import json
import socket

import pytest

from offers_simulator.tests.helpers import get_offers, get_token, register


def _request(
    simulator,
    method: str,
    path: str,
    *,
    host: str | None = "127.0.0.1",
    headers: tuple[str, ...] = (),
    body: bytes = b"",
) -> tuple[int, object]:
    """Sends one request with exactly these headers; the status and the JSON body."""
    lines = [f"{method} {path} HTTP/1.1"]
    if host is not None:
        lines.append(f"Host: {host}")
    lines += [*headers, f"Content-Length: {len(body)}", "Connection: close"]
    data = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    with socket.create_connection(("127.0.0.1", simulator.port), timeout=5) as connection:
        connection.sendall(data)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, payload = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(payload)


JSON = ("Content-Type: application/json",)


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.0.0.1:8001",
        "localhost",
        "localhost:1",
        "LocalHost:8001",
        "[::1]",
        "[::1]:65535",
    ],
)
def test_loopback_hosts_are_accepted(simulator, host):
    assert _request(simulator, "GET", "/_control/state", host=host)[0] == 200
    status, state = _request(
        simulator, "POST", "/_control/faults", host=host, headers=JSON, body=b'{"latency_ms": 1}'
    )
    assert status == 200
    assert state["latency_ms"] == 1


@pytest.mark.parametrize(
    "host",
    [
        None,
        "",
        "evil.example",
        "evil.example:8001",
        "localhost.evil.example",
        "127.0.0.1.nip.io",
        "127.0.0.1@evil.example",
        "127.0.0.2",
        "0.0.0.0",
        "::1",
        "[::1]x",
        "localhost:",
        "localhost:http",
        "127.0.0.1:8001:1",
    ],
)
def test_other_hosts_are_403_and_change_nothing(simulator, host):
    before = simulator.state()
    status, body = _request(
        simulator, "POST", "/_control/faults", host=host, headers=JSON, body=b'{"error_rate": 1}'
    )
    assert status == 403
    assert isinstance(body["detail"], str)
    assert _request(simulator, "GET", "/_control/state", host=host)[0] == 403
    assert simulator.state() == before


def test_two_host_headers_are_403(simulator):
    status, _ = _request(simulator, "GET", "/_control/state", headers=("Host: evil.example",))
    assert status == 403


def test_a_dns_rebinding_page_cannot_reset(simulator):
    # After rebinding evil.example to 127.0.0.1, the page's requests name evil.example.
    simulator.set_faults(error_rate=1.0)
    status, _ = _request(
        simulator, "POST", "/_control/reset", host="evil.example:8001", headers=JSON, body=b"{}"
    )
    assert status == 403
    assert simulator.state()["error_rate"] == 1.0


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "text/plain",
        "text/plain; charset=application/json",
        "application/jsonx",
        "application/json-patch+json",
    ],
)
def test_posts_that_are_not_json_are_415_and_change_nothing(simulator, content_type):
    simulator.set_faults(error_rate=1.0)
    headers = () if content_type is None else (f"Content-Type: {content_type}",)
    for action, body in [("reset", b"{}"), ("faults", b'{"error_rate": 0}')]:
        status, answer = _request(
            simulator, "POST", f"/_control/{action}", headers=headers, body=body
        )
        assert status == 415
        assert isinstance(answer["detail"], str)
    assert simulator.state()["error_rate"] == 1.0


def test_a_cross_site_form_cannot_reset(simulator):
    # What a page on another site submits to http://127.0.0.1:PORT/_control/reset.
    simulator.set_faults(error_rate=1.0)
    form = (
        "Origin: https://evil.example",
        "Referer: https://evil.example/",
        "Content-Type: application/x-www-form-urlencoded",
    )
    host = f"127.0.0.1:{simulator.port}"
    status, _ = _request(simulator, "POST", "/_control/reset", host=host, headers=form, body=b"a=1")
    assert status == 415
    assert simulator.state()["error_rate"] == 1.0


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON"])
def test_json_with_parameters_or_any_case_is_accepted(simulator, content_type):
    status, state = _request(
        simulator,
        "POST",
        "/_control/faults",
        headers=(f"Content-Type: {content_type}",),
        body=b'{"latency_ms": 2}',
    )
    assert status == 200
    assert state["latency_ms"] == 2


@pytest.mark.parametrize("action", ["forget-registrations", "expire-tokens", "reset"])
def test_actions_take_an_empty_body_or_an_object(simulator, action):
    for body in (b"", b"{}"):
        assert _request(simulator, "POST", f"/_control/{action}", headers=JSON, body=body)[0] == 200


def test_gets_need_no_content_type(simulator):
    for action in ("state", "stats", "served"):
        assert _request(simulator, "GET", f"/_control/{action}")[0] == 200


def test_unknown_actions_are_404(simulator):
    assert _request(simulator, "GET", "/_control/nothing") == (404, {"detail": "Not Found"})
    assert _request(simulator, "POST", "/_control/nothing", headers=JSON, body=b"{}")[0] == 404
    assert _request(simulator, "DELETE", "/_control/nothing")[0] == 404


def test_the_api_takes_any_host_and_content_type(simulator, token, product_id):
    status, body = _request(
        simulator,
        "GET",
        f"/api/v1/products/{product_id}/offers",
        host="offers.example.com",
        headers=(f"Bearer: {token}",),
    )
    assert status == 200
    assert isinstance(body, list)
    simulator.expire_tokens()
    status, _ = _request(
        simulator,
        "POST",
        "/api/v1/auth",
        host=None,
        headers=(f"Bearer: {simulator.refresh_token}", "Content-Type: text/plain"),
    )
    assert status == 201


def test_the_testing_helper_drives_every_action(http, simulator, token, product_id):
    assert simulator.set_faults(latency_ms=1)["latency_ms"] == 1
    simulator.expire_tokens()
    assert get_offers(http, simulator, token, product_id).status_code == 401
    token = get_token(http, simulator)
    simulator.forget_registrations()
    assert get_offers(http, simulator, token, product_id).status_code == 404
    assert register(http, simulator, token, product_id).status_code == 201
    assert simulator.stats()["offers"] == {"401": 1, "404": 1}
    assert [entry["status"] for entry in simulator.served_log()] == [401, 404]
    simulator.reset()
    assert simulator.state()["latency_ms"] == 0
