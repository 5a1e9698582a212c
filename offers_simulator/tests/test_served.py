"""The served log: every answer to GET .../offers, as GET /_control/served reports it."""

from __future__ import annotations

import socket
import struct
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from offers_simulator.config import Settings
from offers_simulator.reply import OffersSummary
from offers_simulator.served import Served, ServedLog
from offers_simulator.simulator import Simulator
from offers_simulator.testing import SimulatorError, run_simulator
from offers_simulator.tests.helpers import get_offers, get_token, register

SUMMARY_KEYS = ("offer_count", "total_stock", "min_price", "max_price")


def _wait_for_entries(simulator, count: int, timeout: float = 10.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while len(entries := simulator.served_log()) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return entries


def _summary(offers: list[dict]) -> dict:
    prices = [offer["price"] for offer in offers]
    return {
        "offer_count": len(offers),
        "total_stock": sum(offer["items_in_stock"] for offer in offers),
        "min_price": min(prices, default=None),
        "max_price": max(prices, default=None),
    }


def test_every_offers_answer_is_logged_in_order(http, simulator, token, product_id):
    unregistered = str(uuid.uuid4())
    started = time.time()
    responses = [
        get_offers(http, simulator, token, product_id),
        get_offers(http, simulator, token, unregistered),
        get_offers(http, simulator, token, "not-a-uuid"),
        get_offers(http, simulator, "not-a-token", product_id),
        get_offers(http, simulator, token, product_id.upper()),
    ]
    finished = time.time()
    entries = simulator.served_log()
    assert [entry["seq"] for entry in entries] == [1, 2, 3, 4, 5]
    assert [entry["status"] for entry in entries] == [r.status_code for r in responses]
    assert [entry["product_id"] for entry in entries] == [
        product_id,
        unregistered,
        "not-a-uuid",
        product_id,
        product_id.upper(),  # as asked, not canonicalised
    ]
    for entry in entries:
        assert started <= entry["received_at"] <= entry["sent_at"] <= finished
        assert entry["delay"] == 0
        assert entry["malformed"] is None
        assert entry["write_failed"] is False
        assert entry["client_gone"] is False
    for entry, response in zip(entries, responses, strict=True):
        if response.status_code == 200:
            assert {key: entry[key] for key in SUMMARY_KEYS} == _summary(response.json())
        else:
            assert all(entry[key] is None for key in SUMMARY_KEYS)


def test_summaries_match_the_offers_sent_also_when_there_are_none(http, simulator, token):
    simulator.set_faults(tick=0.02)  # offers change between requests
    sent = []
    for _ in range(60):
        product_id = str(uuid.uuid4())
        assert register(http, simulator, token, product_id).status_code == 201
        sent.append(get_offers(http, simulator, token, product_id).json())
        if sum(not offers for offers in sent) and len(sent) >= 10:
            break
    assert any(sent)
    entries = simulator.served_log()
    assert [_summary(offers) for offers in sent] == [
        {key: entry[key] for key in SUMMARY_KEYS} for entry in entries
    ]
    assert {"offer_count": 0, "total_stock": 0, "min_price": None, "max_price": None} in [
        _summary(offers) for offers in sent
    ]


def test_only_gets_of_offers_are_logged(http, simulator, token, product_id):
    url = f"{simulator.base_url}/products/{product_id}/offers"
    assert http.post(url, headers={"Bearer": token}).status_code == 405
    assert http.head(url, headers={"Bearer": token}).status_code == 405
    assert register(http, simulator, token, str(uuid.uuid4())).status_code == 201
    assert http.get(f"{simulator.base_url}/products").status_code == 404
    assert simulator.served_log() == []


def test_injected_faults_are_logged(http, simulator, token, product_id):
    simulator.set_faults(error_rate=1.0, error_statuses=[503])
    assert get_offers(http, simulator, token, product_id).status_code == 503
    simulator.set_faults(error_rate=0.0, malformed_rate=1.0)
    malformed = get_offers(http, simulator, token, product_id)
    simulator.set_faults(malformed_rate=0.0, latency_ms=250)
    assert get_offers(http, simulator, token, product_id).status_code == 200
    error, bad_body, slow = simulator.served_log()
    assert (error["status"], error["malformed"], error["offer_count"]) == (503, None, None)
    assert bad_body["status"] == malformed.status_code == 200
    assert bad_body["malformed"] in ("truncated", "html", "empty", "legacy", "wrong_types")
    assert all(bad_body[key] is None for key in SUMMARY_KEYS)  # not what was sent
    assert slow["delay"] == 0.25
    assert slow["sent_at"] - slow["received_at"] >= 0.25
    assert slow["offer_count"] is not None


def test_a_client_that_timed_out_is_gone_though_the_write_succeeded(simulator, token, product_id):
    simulator.set_faults(hang_rate=1.0, hang_seconds=1.0)
    with pytest.raises(requests.Timeout):
        requests.get(
            f"{simulator.base_url}/products/{product_id}/offers",
            headers={"Bearer": token},
            timeout=0.3,
        )
    [entry] = _wait_for_entries(simulator, 1)
    assert (entry["status"], entry["delay"], entry["client_gone"]) == (200, 1.0, True)
    assert entry["sent_at"] - entry["received_at"] >= 1.0


def test_a_reset_connection_is_a_failed_write(simulator, token, product_id):
    simulator.set_faults(hang_rate=1.0, hang_seconds=0.6)
    request = (
        f"GET /api/v1/products/{product_id}/offers HTTP/1.1\r\nHost: x\r\nBearer: {token}\r\n\r\n"
    )
    connection = socket.create_connection(("127.0.0.1", simulator.port), timeout=5)
    connection.sendall(request.encode())
    time.sleep(0.2)
    # Close with RST instead of FIN, as a client killed mid-request does.
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()
    [entry] = _wait_for_entries(simulator, 1)
    assert (entry["write_failed"], entry["client_gone"]) == (True, True)


def test_pages_follow_after_and_limit(http, simulator, token, product_id):
    for _ in range(5):
        get_offers(http, simulator, token, product_id)
    first = simulator.served_page(limit=2)
    assert [entry["seq"] for entry in first["served"]] == [1, 2]
    assert (first["last"], first["more"], first["missed"], first["dropped"]) == (2, True, 0, 0)
    second = simulator.served_page(after=2, limit=2)
    assert [entry["seq"] for entry in second["served"]] == [3, 4]
    third = simulator.served_page(after=4, limit=2)
    assert [entry["seq"] for entry in third["served"]] == [5]
    assert (third["last"], third["more"]) == (5, False)
    assert simulator.served_page(after=5) == {
        "served": [],
        "last": 5,
        "more": False,
        "missed": 0,
        "dropped": 0,
    }
    assert [entry["seq"] for entry in simulator.served_log(after=3)] == [4, 5]


@pytest.mark.parametrize(
    "query", ["after=-1", "after=x", "after=1&after=2", "limit=0", "limit=10001", "before=1"]
)
def test_bad_queries_are_422(http, simulator, query):
    response = http.get(f"{simulator.root_url}/_control/served?{query}")
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], str)


def test_reset_empties_the_log_and_restarts_the_numbering(http, simulator, token, product_id):
    get_offers(http, simulator, token, product_id)
    get_offers(http, simulator, token, product_id)
    simulator.reset()
    assert simulator.served_log() == []
    token = get_token(http, simulator)  # reset forgot the access tokens
    get_offers(http, simulator, token, product_id)
    assert [entry["seq"] for entry in simulator.served_log()] == [1]


def test_a_request_that_began_before_a_reset_is_not_logged(simulator, token, product_id):
    simulator.set_faults(hang_rate=1.0, hang_seconds=0.8)
    hanging = threading.Thread(
        target=requests.get,
        args=(f"{simulator.base_url}/products/{product_id}/offers",),
        kwargs={"headers": {"Bearer": token}, "timeout": 5},
    )
    hanging.start()
    time.sleep(0.3)
    simulator.reset()
    hanging.join()
    assert simulator.served_log() == []


def test_concurrent_answers_are_all_logged_once_with_no_gaps(simulator, token):
    products = [str(uuid.uuid4()) for _ in range(8)]
    with requests.Session() as http:
        for product_id in products:
            assert register(http, simulator, token, product_id).status_code == 201

    def client(product_id: str) -> list[int]:
        with requests.Session() as http:
            return [get_offers(http, simulator, token, product_id).status_code for _ in range(25)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(set(statuses) == {200} for statuses in pool.map(client, products))
    entries = simulator.served_log()
    assert [entry["seq"] for entry in entries] == list(range(1, 201))
    assert sorted(entry["product_id"] for entry in entries) == sorted(products * 25)


def test_the_log_keeps_the_newest_entries_and_says_how_many_it_dropped():
    with run_simulator("--served-log-size", "3") as simulator, requests.Session() as http:
        token = get_token(http, simulator)
        for _ in range(5):
            get_offers(http, simulator, token, str(uuid.uuid4()))
        page = simulator.served_page()
        assert [entry["seq"] for entry in page["served"]] == [3, 4, 5]
        assert (page["missed"], page["dropped"], page["more"]) == (2, 2, False)
        assert [entry["seq"] for entry in simulator.served_log(after=2)] == [3, 4, 5]
        with pytest.raises(SimulatorError, match="dropped 2 entries"):
            simulator.served_log()
        simulator.reset()
        assert simulator.served_page()["dropped"] == 0


def test_a_log_of_size_zero_keeps_nothing():
    with run_simulator("--served-log-size", "0") as simulator, requests.Session() as http:
        token = get_token(http, simulator)
        get_offers(http, simulator, token, str(uuid.uuid4()))
        page = simulator.served_page()
        assert (page["served"], page["more"], page["missed"], page["dropped"]) == ([], False, 1, 1)


# In-process: the timing below cannot be arranged reliably over HTTP.


def test_a_reader_waits_for_an_answer_being_written():
    simulator = Simulator(refresh_tokens=["r"], settings=Settings())
    plan, epoch = simulator.roll_faults()
    ticket = simulator.record("offers", 200, plan, epoch, malformed=False, logged=True)
    pages: list[dict] = []
    reader = threading.Thread(target=lambda: pages.append(simulator.served(after=0, limit=10)))
    reader.start()
    time.sleep(0.2)
    assert not pages  # still waiting for the answer being written
    entry = Served(0, "p", 200, 1.0, 2.0, 0.0, None, False, False, OffersSummary(1, 5, 9, 9))
    simulator.record_served(ticket, epoch, entry)
    reader.join(timeout=5)
    [page] = pages
    assert page["served"] == [
        {
            "seq": 1,
            "product_id": "p",
            "status": 200,
            "received_at": 1.0,
            "sent_at": 2.0,
            "delay": 0.0,
            "malformed": None,
            "write_failed": False,
            "client_gone": False,
            "offer_count": 1,
            "total_stock": 5,
            "min_price": 9,
            "max_price": 9,
        }
    ]


def test_a_reader_does_not_wait_long_for_an_answer_never_finished(monkeypatch):
    monkeypatch.setattr("offers_simulator.simulator.SERVED_WAIT_SECONDS", 0.2)
    simulator = Simulator(refresh_tokens=["r"], settings=Settings())
    plan, epoch = simulator.roll_faults()
    simulator.record("offers", 200, plan, epoch, malformed=False, logged=True)
    started = time.monotonic()
    assert simulator.served(after=0, limit=10)["served"] == []
    assert 0.2 <= time.monotonic() - started < 2


def test_the_ring_pages_across_its_wrap():
    log = ServedLog(capacity=3)
    for n in range(7):
        log.append(Served(0, str(n), 200, 0.0, 0.0, 0.0, None, False, False, None))
    assert [entry.seq for entry in log.page(0, 10)] == [5, 6, 7]
    assert [entry.product_id for entry in log.page(5, 1)] == ["5"]
    assert [entry.seq for entry in log.page(4, 2)] == [5, 6]
    assert (log.first_seq, log.last_seq, log.dropped) == (5, 7, 4)
