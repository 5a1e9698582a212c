"""The Offers client against the simulator over real HTTP: statuses, faults, the token's life.

Every test starts with a reset simulator (the fixture resets it afterwards) and an empty database,
so its counters (`offers_simulator.stats()`) count exactly this test's requests.
"""

import pickle
import socket
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests
from django.db import connection
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from pricing.models import OffersAccessToken
from pricing.offers_client import (
    OfferData,
    OffersAuthenticationFailed,
    OffersCheckResult,
    OffersClient,
    OffersLockedOut,
    OffersProtocolError,
    OffersRejected,
    OffersUnavailable,
    ProductNotRegistered,
    error_detail,
    get_offers_client,
    parse_offers,
)


@pytest.fixture
def make_client(offers_simulator):
    """OffersClient with the settings the fixture set, no backoff, and any overrides."""
    clients: list[OffersClient] = []

    def make(**overrides) -> OffersClient:
        client = OffersClient(**{"backoff": 0.0, **overrides})
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def product_id(db, make_client) -> uuid.UUID:
    """A product registered with the simulator (this costs one auth and one register request)."""
    new_id = uuid.uuid4()
    assert make_client().register_product(product_id=new_id, name="Kettle", description="Hot.")
    return new_id


def stored_token() -> OffersAccessToken | None:
    return OffersAccessToken.objects.filter(pk=OffersAccessToken.SINGLETON_PK).first()


def raw_offers(simulator, product: uuid.UUID, token: str) -> list[dict]:
    response = requests.get(
        f"{simulator.base_url}/products/{product}/offers", headers={"Bearer": token}, timeout=5
    )
    assert response.status_code == 200, response.text
    return response.json()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- Authentication and the stored token ----------------------------------------------------------


def test_first_call_obtains_a_token_and_stores_it_with_its_expiry(
    db, offers_simulator, make_client
):
    client = make_client()
    before = timezone.now()

    assert client.register_product(product_id=uuid.uuid4(), name="Kettle", description="Hot.")

    row = stored_token()
    assert row.token and row.obtained_at >= before
    assert row.expires_at == row.obtained_at + timedelta(seconds=300)
    assert offers_simulator.stats()["auth"] == {"201": 1}
    assert client.stats.auth_requests == 1


def test_stored_token_is_reused_by_another_client(offers_simulator, make_client, product_id):
    token = stored_token().token

    make_client().get_offers(product_id=product_id)
    make_client().get_offers(product_id=product_id)

    assert stored_token().token == token
    assert offers_simulator.stats()["auth"] == {"201": 1}


def test_wrong_refresh_token_is_authentication_failed(db, offers_simulator, make_client):
    client = make_client(refresh_token="not-the-right-one")

    with pytest.raises(OffersAuthenticationFailed) as raised:
        client.get_offers(product_id=uuid.uuid4())

    message = str(raised.value)
    assert offers_simulator.base_url in message
    assert "refused the refresh token (401" in message
    assert "Check OFFERS_REFRESH_TOKEN" in message
    assert "not-the-right-one" not in message
    assert stored_token() is None
    assert offers_simulator.stats()["auth"] == {"401": 1}
    assert client.stats.errors == {"OffersAuthenticationFailed": 1}


def test_missing_refresh_token_fails_without_asking_the_service(db, offers_simulator, make_client):
    client = make_client(refresh_token="")

    with pytest.raises(OffersAuthenticationFailed, match="set OFFERS_REFRESH_TOKEN"):
        client.get_offers(product_id=uuid.uuid4())

    assert offers_simulator.stats()["auth"] == {}


# The service's 422 on /auth answers a request without a `Bearer` header, which this client
# never sends (an empty refresh token is refused before any request, above); it is mapped to
# OffersAuthenticationFailed like a 401.


def test_400_while_someone_else_holds_the_token_is_a_lockout_with_no_second_auth(
    db, offers_simulator, make_client
):
    # Someone else (a manual call with our refresh token) holds the one valid token.
    response = requests.post(
        f"{offers_simulator.base_url}/auth",
        headers={"Bearer": offers_simulator.refresh_token},
        timeout=5,
    )
    assert response.status_code == 201
    client = make_client()

    with pytest.raises(OffersLockedOut) as raised:
        client.get_offers(product_id=uuid.uuid4())

    until = raised.value.until
    assert until.tzinfo is not None
    expected = timezone.now() + timedelta(seconds=300)
    assert abs((until - expected).total_seconds()) < 5
    message = str(raised.value)
    assert f"locked out until {until.astimezone(UTC):%H:%M:%S} UTC" in message
    assert offers_simulator.base_url in message
    assert "another one is still valid" in message
    assert offers_simulator.stats()["auth"] == {"201": 1, "400": 1}
    assert offers_simulator.stats()["offers"] == {}
    assert stored_token() is None


def test_400_uses_a_token_another_process_stored_meanwhile(
    transactional_db, offers_simulator, make_client, product_id
):
    # Our clock says the stored token expired, though the service still honours it; while our
    # /auth (slowed down) is on its way to a 400, another process stores a valid token.
    token = stored_token().token
    OffersAccessToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    offers_simulator.set_faults(latency_ms=600)

    def store_valid_token() -> None:
        time.sleep(0.2)
        OffersAccessToken.objects.update(expires_at=timezone.now() + timedelta(seconds=60))
        connection.close()

    writer = threading.Thread(target=store_valid_token)
    writer.start()
    try:
        offers = make_client().get_offers(product_id=product_id)
    finally:
        writer.join()

    assert isinstance(offers, list)
    assert stored_token().token == token
    stats = offers_simulator.stats()
    assert stats["auth"] == {"201": 1, "400": 1}
    assert stats["offers"] == {"200": 1}


def test_token_expiring_normally_is_replaced_without_a_401(db, offers_simulator, make_client):
    offers_simulator.set_faults(token_ttl=1)
    client = make_client(token_ttl=1)
    product = uuid.uuid4()
    client.register_product(product_id=product, name="Kettle", description="Hot.")
    first = stored_token()
    assert first.expires_at == first.obtained_at + timedelta(seconds=1)

    time.sleep(max(0.0, (first.expires_at - timezone.now()).total_seconds()) + 0.05)
    client.get_offers(product_id=product)

    assert stored_token().token != first.token
    stats = offers_simulator.stats()
    assert stats["auth"] == {"201": 2}
    assert stats["offers"] == {"200": 1}


def test_shorter_lifetime_claimed_by_the_token_is_honoured(db, offers_simulator, make_client):
    # The service's tokens live 2 s while OFFERS_TOKEN_TTL says 300: the JWT's expires - iat
    # (2 or 3 s, whole seconds) shortens the lifetime we count; it can never lengthen it.
    offers_simulator.set_faults(token_ttl=2)
    client = make_client()
    product = uuid.uuid4()
    client.register_product(product_id=product, name="Kettle", description="Hot.")
    first = stored_token()
    lifetime = (first.expires_at - first.obtained_at).total_seconds()
    assert 2 <= lifetime <= 3

    time.sleep(max(0.0, (first.expires_at - timezone.now()).total_seconds()) + 0.05)
    client.get_offers(product_id=product)

    stats = offers_simulator.stats()
    assert stats["auth"] == {"201": 2}
    assert "401" not in stats["offers"]


def test_token_expired_early_gets_401_then_exactly_one_refresh(
    offers_simulator, make_client, product_id
):
    old = stored_token().token
    offers_simulator.expire_tokens()
    client = make_client()

    offers = client.get_offers(product_id=product_id)
    client.get_offers(product_id=product_id)

    assert isinstance(offers, list)
    assert stored_token().token != old
    stats = offers_simulator.stats()
    assert stats["auth"] == {"201": 2}
    assert stats["offers"] == {"401": 1, "200": 2}
    assert client.stats.auth_requests == 1


def test_401_even_with_a_fresh_token_is_authentication_failed(db, offers_simulator, make_client):
    # Tokens that die before any call can use them (10 ms, and every request waits 50 ms).
    offers_simulator.set_faults(token_ttl=0.01, latency_ms=50)

    with pytest.raises(OffersAuthenticationFailed, match="even with a freshly obtained"):
        make_client().get_offers(product_id=uuid.uuid4())

    stats = offers_simulator.stats()
    assert stats["auth"] == {"201": 2}
    assert stats["offers"] == {"401": 2}


# --- Register -------------------------------------------------------------------------------------


def test_register_is_true_when_new_and_false_when_already_known(db, offers_simulator, make_client):
    client = make_client()
    product = uuid.uuid4()

    assert client.register_product(product_id=product, name="Kettle", description="Hot.") is True
    assert client.register_product(product_id=product, name="Kettle", description="Hot.") is False

    assert offers_simulator.stats()["register"] == {"201": 1, "409": 1}
    assert client.stats.errors == {}


def test_register_accepts_a_product_id_given_as_text(db, offers_simulator, make_client):
    product = uuid.uuid4()

    assert make_client().register_product(
        product_id=str(product).upper(), name="Mug", description=""
    )
    assert isinstance(make_client().get_offers(product_id=str(product)), list)


def test_register_after_401_refreshes_once_and_succeeds(offers_simulator, make_client, product_id):
    offers_simulator.expire_tokens()

    assert make_client().register_product(product_id=uuid.uuid4(), name="Mug", description="")

    stats = offers_simulator.stats()
    assert stats["auth"] == {"201": 2}
    assert stats["register"] == {"201": 2, "401": 1}


def test_register_refused_data_is_rejected_with_the_services_detail(
    db, offers_simulator, make_client
):
    # Our ids are UUIDs; only an id given as text that is not one can reach the service's 422.
    with pytest.raises(OffersRejected) as raised:
        make_client().register_product(product_id="not-a-uuid", name="Mug", description="")

    assert "(422)" in str(raised.value)
    assert "body.id: value is not a valid uuid" in str(raised.value)
    assert offers_simulator.stats()["register"] == {"422": 1}


def test_malformed_register_answer_is_a_protocol_error(offers_simulator, make_client, product_id):
    offers_simulator.set_faults(malformed_rate=1.0)

    with pytest.raises(OffersProtocolError, match="POST /products/register with 201"):
        make_client().register_product(product_id=uuid.uuid4(), name="Mug", description="")


# --- Offers ---------------------------------------------------------------------------------------


def test_offers_are_validated_offer_data_equal_to_the_services_answer(
    db, offers_simulator, make_client
):
    client = make_client()
    offers_simulator.set_faults(tick=0.01)  # let a few ticks pass, so that there are offers
    products = [uuid.uuid4() for _ in range(5)]
    for product in products:
        client.register_product(product_id=product, name="Kettle", description="Hot.")
    time.sleep(0.1)
    offers_simulator.set_faults(tick=3600)  # then hold still, so both reads see the same

    product, offers = next(
        (p, found) for p in products if (found := client.get_offers(product_id=p))
    )

    raw = raw_offers(offers_simulator, product, stored_token().token)
    assert offers == [
        OfferData(id=uuid.UUID(o["id"]), price=o["price"], items_in_stock=o["items_in_stock"])
        for o in raw
    ]
    assert all(type(o.price) is int and type(o.items_in_stock) is int for o in offers)


def test_offers_of_an_unknown_product_is_product_not_registered(db, offers_simulator, make_client):
    product = uuid.uuid4()

    with pytest.raises(ProductNotRegistered) as raised:
        make_client().get_offers(product_id=product)

    assert raised.value.product_id == product
    assert str(product) in str(raised.value) and "Register it again" in str(raised.value)
    assert offers_simulator.stats()["offers"] == {"404": 1}


def test_forgotten_registrations_are_product_not_registered(
    offers_simulator, make_client, product_id
):
    offers_simulator.forget_registrations()

    with pytest.raises(ProductNotRegistered):
        make_client().get_offers(product_id=product_id)


def test_offers_for_an_id_the_service_cannot_parse_are_rejected(db, offers_simulator, make_client):
    with pytest.raises(OffersRejected, match=r"path\.product_id: value is not a valid uuid"):
        make_client().get_offers(product_id="not-a-uuid")  # only text can be malformed

    assert offers_simulator.stats()["offers"] == {"422": 1}


# --- Faults ---------------------------------------------------------------------------------------


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
    # The stored token is valid, so the offers call is the first request to the dead port.
    client = make_client(base_url=f"http://127.0.0.1:{free_port()}/api/v1", retries=2)

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


# --- Validation of answers (pure functions: shapes the simulator does not produce) ----------------

OFFER = {"id": "2b1c4f5e-0d3a-4b8e-9f6a-1c2d3e4f5a6b", "price": 100, "items_in_stock": 3}


@pytest.mark.parametrize(
    "data",
    [
        {"offers": []},
        None,
        "[]",
        [None],
        [[OFFER["id"], 1, 2]],
        [{"price": 1, "items_in_stock": 1}],
        [{**OFFER, "price": True}],
        [{**OFFER, "items_in_stock": False}],
        [{**OFFER, "price": 10.0}],
        [{**OFFER, "price": "10"}],
        [{**OFFER, "price": -1}],
        [{**OFFER, "items_in_stock": -5}],
        [{**OFFER, "price": 2**63}],
        [{**OFFER, "items_in_stock": 2**31}],
        [{**OFFER, "id": "not-a-uuid"}],
        [{**OFFER, "id": "{2b1c4f5e-0d3a-4b8e-9f6a-1c2d3e4f5a6b}"}],
        [{**OFFER, "id": 12345}],
        [OFFER, {**OFFER, "price": 200}],  # the same offer twice
    ],
)
def test_offers_not_in_the_documented_shape_are_refused(data):
    with pytest.raises(ValueError):
        parse_offers(data)


offer_dicts = st.lists(
    st.fixed_dictionaries(
        {
            "id": st.uuids().map(str),
            "price": st.integers(min_value=0, max_value=2**63 - 1),
            "items_in_stock": st.integers(min_value=0, max_value=2**31 - 1),
        },
        optional={"currency": st.text(max_size=3)},  # extra keys are ignored
    ),
    unique_by=lambda offer: offer["id"],
    max_size=12,
)


@given(offer_dicts)
def test_offers_in_the_documented_shape_are_read_exactly(data):
    assert parse_offers(data) == [
        OfferData(id=uuid.UUID(o["id"]), price=o["price"], items_in_stock=o["items_in_stock"])
        for o in data
    ]


def response_with(status: int, body: bytes) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    return response


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (404, b'{"detail": "Product ID has not been registered"}', "Product ID has not been"),
        (
            422,
            b'{"detail": [{"loc": ["path", "product_id"], "msg": "bad uuid", "type": "x"}]}',
            "path.product_id: bad uuid",
        ),
        (500, b'{"code": "internal_error", "msg": "Something went wrong"}', "internal_error: "),
        (502, b"<html><body>Bad gateway</body></html>", "Bad Gateway"),
        (503, b"", "Service Unavailable"),
        (400, b'{"detail": {"nested": 1}}', "Bad Request"),
        (400, b'{"detail": "line one\\nline two\\u0007"}', "line one line two"),
    ],
)
def test_error_bodies_are_read_defensively_for_messages(status, body, expected):
    assert expected in error_detail(response_with(status, body))


def test_long_error_details_are_shortened():
    detail = error_detail(response_with(400, b'{"detail": "' + b"x" * 5000 + b'"}'))
    assert len(detail) <= 300


# --- The per-process client and the counters ------------------------------------------------------


def test_get_offers_client_is_reused_until_its_settings_change(offers_simulator, settings):
    first = get_offers_client()
    assert get_offers_client() is first
    assert first.base_url == offers_simulator.base_url

    settings.OFFERS_READ_TIMEOUT = 1.5
    second = get_offers_client()

    assert second is not first
    assert second.read_timeout == 1.5
    assert get_offers_client() is second


def test_stats_count_calls_requests_auth_requests_and_errors(db, offers_simulator, make_client):
    client = make_client()
    with pytest.raises(ProductNotRegistered):
        client.get_offers(product_id=uuid.uuid4())
    client.register_product(product_id=uuid.uuid4(), name="Mug", description="")

    assert client.stats.as_dict() == {
        "calls": 2,
        "requests": 2,
        "retries": 0,
        "auth_requests": 1,
        "errors": {"ProductNotRegistered": 1},
    }


def test_check_reports_a_new_token_then_the_stored_one(db, offers_simulator, make_client):
    client = make_client()

    first = client.check()
    second = client.check()

    assert isinstance(first, OffersCheckResult)
    assert first.base_url == offers_simulator.base_url
    assert first.token_obtained and first.auth_seconds is not None
    assert first.probe_status == 404 and first.probe_seconds > 0
    assert first.token_expires_at == stored_token().expires_at
    assert not second.token_obtained and second.auth_seconds is None
    assert offers_simulator.stats()["auth"] == {"201": 1}


def test_errors_survive_pickling():
    until = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    locked = pickle.loads(pickle.dumps(OffersLockedOut("locked out", until=until)))
    missing = pickle.loads(
        pickle.dumps(ProductNotRegistered("unknown", product_id=uuid.UUID(int=7)))
    )

    assert (str(locked), locked.until) == ("locked out", until)
    assert (str(missing), missing.product_id) == ("unknown", uuid.UUID(int=7))
