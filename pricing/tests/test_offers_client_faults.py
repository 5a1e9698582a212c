"""The Offers client when things go wrong: retries, timeouts, malformed answers, wrong URLs.

Faults are the simulator's (`set_faults`), or a port where nothing listens, or a base URL that
is not the API's.

Every test starts with a reset simulator (the fixture resets it afterwards) and an empty database,
so its counters (`offers_simulator.stats()`) count exactly this test's requests.
"""

import time
import uuid

import pytest

from conftest import free_port
from pricing.models import OffersAccessToken
from pricing.offers_client import (
    OffersClient,
    OffersLockedOut,
    OffersProtocolError,
    OffersUnavailable,
)
from pricing.tests.helpers import stored_token


def test_latency_within_the_read_timeout_works(offers_simulator, make_client, product_id):
    offers_simulator.set_faults(latency_ms=300)

    started = time.monotonic()
    make_client(read_timeout=2).get_offers(product_id=product_id)

    assert time.monotonic() - started >= 0.3


def test_share_of_502_503_504_is_retried_and_succeeds(offers_simulator, make_client, product_id):
    offers_simulator.set_faults(error_rate=0.5, error_statuses=[502, 503, 504])
    client = make_client(retries=10)

    for _ in range(10):
        client.get_offers(product_id=product_id)
    # The simulator's 5xx come before the request is processed, so the repeat is a first 201.
    assert client.register_product(product_id=uuid.uuid4(), name="Mug", description="") is True

    stats = offers_simulator.stats()
    failed = sum(n for s, n in stats["offers"].items() if s.startswith("5")) + sum(
        n for s, n in stats["register"].items() if s.startswith("5")
    )
    assert stats["offers"]["200"] == 10
    assert failed > 0
    assert client.stats.retries == failed
    assert client.stats.errors == {}


def test_503_on_every_answer_is_unavailable_after_exactly_the_configured_retries(
    offers_simulator, make_client, product_id
):
    offers_simulator.set_faults(error_rate=1.0, error_statuses=[503])
    client = make_client(retries=3)

    with pytest.raises(OffersUnavailable) as raised:
        client.get_offers(product_id=product_id)

    assert offers_simulator.stats()["offers"] == {"503": 4}
    assert client.stats.retries == 3
    assert "503 Service Unavailable" in str(raised.value)
    assert "asked 4 times" in str(raised.value)
    assert offers_simulator.base_url in str(raised.value)


def test_500_is_not_retried(offers_simulator, make_client, product_id):
    offers_simulator.set_faults(error_rate=1.0, error_statuses=[500])
    client = make_client(retries=3)

    with pytest.raises(OffersUnavailable, match="500 Internal Server Error"):
        client.get_offers(product_id=product_id)

    assert offers_simulator.stats()["offers"] == {"500": 1}
    assert client.stats.retries == 0


def test_auth_is_never_retried(db, offers_simulator, make_client):
    offers_simulator.set_faults(error_rate=1.0, error_statuses=[503])
    client = make_client(retries=3)

    with pytest.raises(OffersUnavailable, match="POST /auth with 503"):
        client.get_offers(product_id=uuid.uuid4())

    assert offers_simulator.stats()["auth"] == {"503": 1}
    assert stored_token() is None


def test_hang_past_the_read_timeout_is_unavailable_quickly(
    offers_simulator, make_client, product_id
):
    offers_simulator.set_faults(hang_rate=1.0, hang_seconds=5)
    client = make_client(read_timeout=0.3, retries=3)

    started = time.monotonic()
    with pytest.raises(OffersUnavailable, match=r"did not answer GET .* in time"):
        client.get_offers(product_id=product_id)

    assert time.monotonic() - started < 1.5  # a read timeout is not repeated
    assert client.stats.retries == 0


def test_malformed_offers_answers_are_protocol_errors_and_change_nothing(
    offers_simulator, make_client, product_id
):
    before = stored_token()
    offers_simulator.set_faults(malformed_rate=1.0)
    client = make_client()

    for _ in range(10):  # the simulator varies the damage: truncated, HTML, empty, legacy, types
        with pytest.raises(OffersProtocolError, match="not in the documented shape"):
            client.get_offers(product_id=product_id)

    after = stored_token()
    assert (after.token, after.obtained_at, after.expires_at) == (
        before.token,
        before.obtained_at,
        before.expires_at,
    )
    assert offers_simulator.stats()["faults"]["malformed"] == 10
    assert client.stats.errors == {"OffersProtocolError": 10}


def test_malformed_auth_answer_stores_nothing_and_the_lockout_that_follows_is_explained(
    db, offers_simulator, make_client
):
    offers_simulator.set_faults(malformed_rate=1.0)
    client = make_client()

    with pytest.raises(OffersProtocolError, match="Nothing was stored"):
        client.get_offers(product_id=uuid.uuid4())
    assert stored_token() is None

    # The service issued a token nobody could read: it refuses new ones until that one expires.
    offers_simulator.set_faults(malformed_rate=0.0)
    with pytest.raises(OffersLockedOut):
        client.get_offers(product_id=uuid.uuid4())
    assert offers_simulator.stats()["auth"] == {"201": 1, "400": 1}


def test_connection_refused_is_unavailable_after_the_retries(db, make_client):
    client = make_client(base_url=f"http://127.0.0.1:{free_port()}/api/v1", retries=2)

    with pytest.raises(OffersUnavailable, match=r"Could not reach .* Check OFFERS_BASE_URL"):
        client.register_product(product_id=uuid.uuid4(), name="Mug", description="")

    # /auth, which came first, is never retried.
    assert client.stats.retries == 0


def test_connection_refused_on_api_calls_is_retried(offers_simulator, make_client, product_id):
    # A valid token stored for the dead port's service, so the offers call is the first request.
    client = make_client(base_url=f"http://127.0.0.1:{free_port()}/api/v1", retries=2)
    OffersAccessToken.objects.filter(pk=OffersAccessToken.SINGLETON_PK).update(
        base_url=client.base_url
    )

    with pytest.raises(OffersUnavailable, match=r"after 2 retries\): .*refused"):
        client.get_offers(product_id=product_id)

    assert client.stats.retries == 2


def test_base_url_without_the_api_path_is_unavailable_with_a_hint(
    db, offers_simulator, make_client
):
    client = make_client(base_url=offers_simulator.root_url)

    with pytest.raises(OffersUnavailable, match="should end with the API's path"):
        client.get_offers(product_id=uuid.uuid4())


@pytest.mark.parametrize("base_url", ["not a url", "ftp://127.0.0.1/api/v1", "http://:99999/x"])
def test_invalid_base_url_is_unavailable_not_a_requests_error(db, base_url):
    client = OffersClient(base_url=base_url, refresh_token="token")

    with pytest.raises(OffersUnavailable, match="OFFERS_BASE_URL"):
        client.get_offers(product_id=uuid.uuid4())
