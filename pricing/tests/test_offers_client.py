"""The Offers client against the simulator over real HTTP: the token's life, register, offers.

Faults (retries, timeouts, malformed answers, wrong URLs) are in test_offers_client_faults.py,
and what needs no server in test_offers_client_parsing.py.

Every test starts with a reset simulator (the fixture resets it afterwards) and an empty database,
so its counters (`offers_simulator.stats()`) count exactly this test's requests.
"""

import threading
import time
import uuid
from datetime import UTC, timedelta

import pytest
import requests
from django.db import connection
from django.utils import timezone

from pricing.models import OffersAccessToken
from pricing.offers_client import (
    OfferData,
    OffersAuthenticationFailed,
    OffersCheckResult,
    OffersLockedOut,
    OffersProtocolError,
    OffersRejected,
    ProductNotRegistered,
    get_offers_client,
)
from pricing.tests.helpers import stored_token


def raw_offers(simulator, product: uuid.UUID, token: str) -> list[dict]:
    response = requests.get(
        f"{simulator.base_url}/products/{product}/offers", headers={"Bearer": token}, timeout=5
    )
    assert response.status_code == 200, response.text
    return response.json()


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
    assert f"No new token is asked for until {until.astimezone(UTC):%H:%M:%S} UTC" in message
    assert offers_simulator.base_url in message
    assert "another one is still valid" in message
    assert offers_simulator.stats()["auth"] == {"201": 1, "400": 1}
    assert offers_simulator.stats()["offers"] == {}
    # No token is stored; the lockout is, for the staff's health page.
    assert (stored_token().token, stored_token().locked_out_until) == ("", until)


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
