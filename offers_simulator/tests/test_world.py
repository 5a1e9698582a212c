"""How offers behave: deterministic for a seed, and changing tick by tick."""

from __future__ import annotations

import time
import uuid

import requests

from offers_simulator.testing import run_simulator
from offers_simulator.tests.helpers import get_offers, get_token, register
from offers_simulator.world import (
    MAX_BASE_PRICE,
    MAX_CATCH_UP_TICKS,
    MAX_OFFERS,
    MIN_BASE_PRICE,
    Product,
    TickClock,
    offers_at,
    product_profile,
)

PRODUCT = "3fa85f64-5717-4562-b3fc-2c963f66afa6"


def test_offers_are_a_function_of_seed_product_and_age():
    profile = product_profile(3, PRODUCT)
    assert offers_at(profile, 40) == offers_at(product_profile(3, PRODUCT), 40)
    assert offers_at(product_profile(4, PRODUCT), 40) != offers_at(profile, 40)
    other = product_profile(3, str(uuid.UUID(int=1)))
    assert offers_at(other, 40) != offers_at(profile, 40)


def test_lazy_catch_up_matches_tick_by_tick():
    profile = product_profile(0, PRODUCT)
    product = Product(id=PRODUCT, name="", description="", birth_tick=0, profile=profile)
    product.offers = offers_at(profile, 0)
    for age in (3, 4, 30, 31, 100):
        product.advance(age)
        assert product.offers == offers_at(profile, age)


def test_catch_up_is_capped():
    profile = product_profile(0, PRODUCT)
    product = Product(id=PRODUCT, name="", description="", birth_tick=0, profile=profile)
    product.advance(10 * MAX_CATCH_UP_TICKS)
    assert product.age == 10 * MAX_CATCH_UP_TICKS
    assert len(product.offers) <= MAX_OFFERS


def test_products_differ_and_stay_in_bounds():
    profiles = [product_profile(0, str(uuid.UUID(int=n))) for n in range(200)]
    prices = [profile.base_price for profile in profiles]
    assert MIN_BASE_PRICE <= min(prices) < 1000 and 10_000 < max(prices) <= MAX_BASE_PRICE
    starting = [offers_at(profile, 0) for profile in profiles]
    assert sum(bool(offers) for offers in starting) >= 160  # most have offers at once
    for profile in profiles[:50]:
        for age in (0, 10, 50):
            offers = offers_at(profile, age)
            assert len(offers) <= MAX_OFFERS
            # Sold-out offers may stay listed with 0 in stock until they are restocked.
            assert all(offer.stock >= 0 and offer.as_json()["price"] >= 1 for offer in offers)


def test_offers_evolve_over_ticks():
    profiles = [product_profile(0, str(uuid.UUID(int=n))) for n in range(10)]
    kept_with_new_price = vanished = appeared = 0
    for profile in profiles:
        before = {offer.id: offer for offer in offers_at(profile, 10)}
        after = {offer.id: offer for offer in offers_at(profile, 20)}
        kept_with_new_price += sum(
            round(before[i].price) != round(after[i].price) for i in before.keys() & after.keys()
        )
        vanished += len(before.keys() - after.keys())
        appeared += len(after.keys() - before.keys())
    assert kept_with_new_price and vanished and appeared


def test_tick_clock_never_goes_backwards():
    now = [100.0]
    clock = TickClock(10.0, now=lambda: now[0])
    now[0] = 135.0
    assert clock.index() == 3
    clock.set_tick(100.0)  # slower from here on, but not back in time
    assert clock.index() == 3
    now[0] = 235.0
    assert clock.index() == 4
    clock.set_tick(0.5)
    now[0] = 236.0
    assert clock.index() == 6


def _offers_from_new_simulator(*args: str) -> list[dict[str, object]]:
    with run_simulator("--tick", "3600", *args) as simulator, requests.Session() as http:
        token = get_token(http, simulator)
        assert register(http, simulator, token, PRODUCT).status_code == 201
        response = get_offers(http, simulator, token, PRODUCT)
        assert response.status_code == 200
        return response.json()


def test_same_seed_gives_same_offers_over_http():
    first = _offers_from_new_simulator("--seed", "11")
    assert first
    assert _offers_from_new_simulator("--seed", "11") == first
    assert _offers_from_new_simulator("--seed", "12") != first


def test_offers_change_over_ticks_over_http(http, simulator, token):
    # Fixed ids and enough of them: with six random ones, a run once saw no offer vanish (each
    # product's world is its own draw; big stocks outlive 20 ticks).
    products = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"ticks-{i}")) for i in range(20)]
    for product_id in products:
        assert register(http, simulator, token, product_id).status_code in (201, 409)
    simulator.set_faults(tick=0.1)
    first = {
        p: {o["id"]: o for o in get_offers(http, simulator, token, p).json()} for p in products
    }
    time.sleep(2.5)  # ~25 ticks: offers live ~25 ticks on average
    last = {p: {o["id"]: o for o in get_offers(http, simulator, token, p).json()} for p in products}
    repriced = sum(
        first[p][i]["price"] != last[p][i]["price"]
        for p in products
        for i in first[p].keys() & last[p].keys()
    )
    vanished = sum(len(first[p].keys() - last[p].keys()) for p in products)
    appeared = sum(len(last[p].keys() - first[p].keys()) for p in products)
    assert repriced and vanished and appeared, (repriced, vanished, appeared)
