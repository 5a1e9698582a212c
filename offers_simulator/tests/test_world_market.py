"""The market the world plays out: price wars, dips below the typical MAP, restocks, the bot.

Most tests walk many seeded products tick by tick (``step``) and check every event they see;
the price-war staircase is also checked on a hand-made market where nothing else moves.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import uuid
from collections.abc import Iterator

import pytest
import requests

from offers_simulator.tests.helpers import get_offers, register
from offers_simulator.world import (
    DIP_SHARES,
    DIP_TICKS,
    MAP_SHARE,
    MAX_OFFERS,
    RESTOCK_TICKS,
    ROLE_BOT,
    UNDERCUT_SHARE,
    WAR_RESPONSE_TICKS,
    WAR_UNDERCUTS,
    Market,
    Offer,
    Product,
    Profile,
    initial_market,
    market_at,
    product_profile,
    step,
)

PRODUCT = "3fa85f64-5717-4562-b3fc-2c963f66afa6"


def _ids(count: int, seed: int = 0) -> list[Profile]:
    return [product_profile(seed, str(uuid.UUID(int=n))) for n in range(count)]


def _history(profile: Profile, ages: int) -> Iterator[tuple[int, Market, Market]]:
    """(age, market at age - 1, market at age) for ages 1..ages."""
    market = initial_market(profile)
    for age in range(1, ages + 1):
        previous, market = market, step(profile, market, age)
        yield age, previous, market


# --- Determinism and the product's figures -----------------------------------------------------


def test_same_seed_same_market():
    profile = product_profile(5, PRODUCT)
    market = market_at(profile, 150)
    assert market == market_at(product_profile(5, PRODUCT), 150)
    assert market != market_at(product_profile(6, PRODUCT), 150)
    # Advanced lazily in uneven jumps, the product reaches the same market, war state included.
    product = Product(id=PRODUCT, name="", description="", birth_tick=0, profile=profile)
    product.market = initial_market(profile)
    for age in (1, 7, 8, 60, 150):
        product.advance(age)
        assert product.market == market_at(profile, age)


def test_typical_map_and_undercut_step_follow_the_base_price():
    for profile in _ids(300):
        assert profile.typical_map == max(1, round(profile.base_price * MAP_SHARE))
        assert profile.undercut_step == max(1, round(profile.base_price * UNDERCUT_SHARE))
    assert sum(profile.has_bot for profile in _ids(300)) in range(60, 120)  # about 30 %


# --- Price wars ---------------------------------------------------------------------------------


def _calm(profile: Profile, **changes: object) -> Profile:
    """A profile where only what a test sets up happens: no walks (volatility 0 and prices at
    their anchors), no dips, no new war, new offers far above the ones the test made."""
    settings = {
        "base_price": 1e6,
        "volatility": 0.0,
        "typical_map": 900,
        "undercut_step": 10,
        "war_chance": 0.0,
        "dip_chance": 0.0,
        "first_dip": 0,
        "has_bot": False,
        "target_offers": 0,
        **changes,
    }
    return dataclasses.replace(profile, **settings)


def _offer(name: str, price: int, role: str = "") -> Offer:
    return Offer(id=name, price=float(price), stock=10**9, anchor=float(price), role=role)


def _cheapest(market: Market) -> Offer:
    """The cheapest of the test's offers (A, B, C; new ones are far dearer anyway)."""
    return min((o for o in market.offers if o.id in {"A", "B", "C"}), key=lambda o: o.price)


@pytest.mark.parametrize("bot", [False, True])
def test_a_price_war_steps_down_by_the_fixed_step_then_prices_drift_back(bot):
    calm = _calm(product_profile(0, PRODUCT), has_bot=bot)
    offers = (_offer("A", 1000), _offer("B", 1050), _offer("C", 1100, ROLE_BOT if bot else ""))
    market = Market(offers=offers)
    # Age 1 opens a war for sure; later ticks never open another.
    market = step(dataclasses.replace(calm, war_chance=1.0), market, 1)
    assert _cheapest(market).sent_price == 990
    assert {o.id for o in market.offers if o.war} == {"A", _cheapest(market).id}
    if bot:
        assert _cheapest(market).id == "C"  # the bot opens the war
    undercutters = [_cheapest(market).id]
    last_undercut, age = 1, 1
    while market.war_next:
        age += 1
        before = _cheapest(market)
        market = step(calm, market, age)
        now = _cheapest(market)
        if now.id != before.id:  # an undercut: exactly one step below, by the runner-up
            assert now.sent_price == before.sent_price - 10
            assert 1 <= age - last_undercut <= WAR_RESPONSE_TICKS[1]
            undercutters.append(now.id)
            last_undercut = age
        else:  # the war holds its prices between undercuts
            assert now.sent_price == before.sent_price
        assert age < 40, "the war never ended"
    assert WAR_UNDERCUTS[0] <= len(undercutters) <= WAR_UNDERCUTS[1]
    # Two offers answer each other in turn; with a bot, the bot is one of them.
    assert all(a != b for a, b in itertools.pairwise(undercutters))
    assert len(set(undercutters)) == 2
    if bot:
        assert undercutters[::2] == ["C"] * len(undercutters[::2])
    lowest = 1000 - 10 * len(undercutters)
    assert _cheapest(market).sent_price == lowest and not any(o.war for o in market.offers)
    # Over: the prices walk back to where they were.
    for later in range(age + 1, age + 150):
        market = step(calm, market, later)
    prices = {o.id: o.sent_price for o in market.offers}
    assert abs(prices["A"] - 1000) <= 2 and abs(prices["B"] - 1050) <= 2


def test_a_price_war_stops_above_the_typical_map():
    calm = _calm(product_profile(0, PRODUCT), typical_map=975)
    market = Market(offers=(_offer("A", 1000), _offer("B", 1050)))
    market = step(dataclasses.replace(calm, war_chance=1.0), market, 1)
    age = 1
    while market.war_next:
        age += 1
        market = step(calm, market, age)
        assert _cheapest(market).sent_price >= 975
    assert _cheapest(market).sent_price in (980, 990)  # 970 would be below the MAP
    # Without room above the MAP for a response, no war opens.
    tight = Market(offers=(_offer("A", 985), _offer("B", 1050)))
    assert not step(dataclasses.replace(calm, war_chance=1.0), tight, 1).war_next


def test_price_wars_happen_every_undercut_is_one_step_and_wars_end():
    openings = responses = longest = 0
    for profile in _ids(150):
        start = 0
        for age, previous, market in _history(profile, 200):
            opening = not previous.war_next and market.war_next
            response = (
                previous.war_next
                and age >= previous.war_next
                and market.war_next
                and market.war_undercuts == previous.war_undercuts - 1
            )
            if opening:
                start = age
            if previous.war_next and not market.war_next:
                longest = max(longest, age - start)
            if not market.war_next:
                assert not any(o.war for o in market.offers)
            if not (opening or response):
                continue
            openings += bool(opening)
            responses += bool(response)
            # The undercutter and the offer it undercut are the two cheapest in the war (others
            # in it are dearer, or out of stock), exactly one step apart, not below the MAP.
            fighting = sorted(o.sent_price for o in market.offers if o.war and o.stock > 0)
            assert fighting[1] - fighting[0] == profile.undercut_step
            assert fighting[0] >= profile.typical_map
    assert openings >= 100 and responses >= 2 * openings
    # At most 8 undercuts 1..3 ticks apart, the last one holding 1..3 ticks.
    assert 10 <= longest <= WAR_UNDERCUTS[1] * WAR_RESPONSE_TICKS[1]


# --- MAP dips -----------------------------------------------------------------------------------


def test_map_dips_go_below_the_typical_map_for_a_bounded_time_and_end():
    dips, ended, early = 0, 0, 0
    for profile in _ids(200):
        typical_map = profile.typical_map
        lowest_dip = math.floor(typical_map * DIP_SHARES[0])
        open_dips: dict[str, tuple[int, int, int]] = {}  # offer id -> (start, ticks, price)
        for age, previous, market in _history(profile, 150):
            before = {o.id: o for o in previous.offers}
            assert sum(bool(o.dip) for o in market.offers) <= 1  # one dip at a time
            for offer in market.offers:
                was = before.get(offer.id)
                if offer.dip and (was is None or not was.dip):
                    assert offer.id not in open_dips
                    assert DIP_TICKS[0] <= offer.dip <= DIP_TICKS[1]
                    assert lowest_dip <= offer.sent_price < typical_map
                    assert offer.role != ROLE_BOT and offer.stock > 0
                    open_dips[offer.id] = (age, offer.dip, offer.sent_price)
                    dips += 1
                    early += age <= 10
                elif offer.id in open_dips:
                    start, ticks, price = open_dips[offer.id]
                    if age < start + ticks:  # still below, at the same price
                        assert offer.dip == ticks - (age - start)
                        assert offer.sent_price == price
                    else:  # over, back above the MAP
                        assert age == start + ticks and not offer.dip
                        assert offer.sent_price >= typical_map
                        del open_dips[offer.id]
                        ended += 1
                else:  # every other offer advertises at or above the typical MAP
                    assert offer.sent_price >= typical_map
            assert open_dips.keys() <= {o.id for o in market.offers}  # no dip just vanishes
        assert len(open_dips) <= 1
        dips -= len(open_dips)  # still below the MAP when the walk stops
    assert dips >= 200 and ended == dips
    # A fresh `make run` (60 s ticks) shows some within ten minutes.
    assert early >= 200 * 0.3


# --- Sell-outs and restocks ----------------------------------------------------------------------


def test_a_sold_out_offer_is_restocked_under_its_id_or_vanishes():
    restocked = vanished = returned = 0
    for profile in _ids(100):
        sold_out_at: dict[str, int] = {}
        seen: set[str] = set()
        for age, previous, market in _history(profile, 150):
            before = {o.id: o for o in previous.offers}
            now = {o.id: o for o in market.offers}
            for offer_id, offer in now.items():
                was = before.get(offer_id)
                if offer.stock == 0 and (was is None or was.stock > 0):
                    sold_out_at[offer_id] = age
                elif offer.stock > 0 and was is not None and was.stock == 0:
                    zero_ticks = age - sold_out_at.pop(offer_id)
                    assert RESTOCK_TICKS[0] <= zero_ticks <= RESTOCK_TICKS[1]
                    restocked += 1
                if was is None and offer_id in seen:
                    returned += 1  # a vanished id back as a new offer
            for offer_id in before.keys() - now.keys():
                assert before[offer_id].stock > 0  # listed at 0 stock: always restocked
                assert before[offer_id].role != ROLE_BOT  # the bot never vanishes
                vanished += 1
            seen |= now.keys()
    assert restocked >= 500 and vanished >= 500 and returned >= 50


# --- Invariants ---------------------------------------------------------------------------------


def test_invariants_over_many_ticks_and_seeds():
    for seed in range(3):
        for profile in _ids(30, seed):
            bot = None
            for _age, _previous, market in _history(profile, 300):
                offers = market.offers
                assert 0 <= len(offers) <= MAX_OFFERS
                assert len({o.id for o in offers}) == len(offers)
                for offer in offers:
                    data = offer.as_json()
                    assert type(data["price"]) is int and data["price"] >= 1
                    assert type(data["items_in_stock"]) is int and data["items_in_stock"] >= 0
                    assert (offer.stock == 0) == (offer.restock_in > 0)
                bots = [o.id for o in offers if o.role == ROLE_BOT]
                assert len(bots) <= 1 and (profile.has_bot or not bots)
                if bot is not None:
                    assert bots == [bot]  # once there, the bot stays
                bot = bots[0] if bots else None
                if market.war_next:
                    assert market.war_undercuts >= 0
                assert len(market.gone) <= 4


# --- The control endpoint -------------------------------------------------------------------------


def test_the_control_endpoint_tells_a_products_typical_map(http, simulator, token):
    product_id = str(uuid.uuid4())
    assert register(http, simulator, token, product_id).status_code == 201
    profile = product_profile(7, product_id)  # the session's simulator runs --seed 7
    listed = {p["id"]: p for p in simulator.products()}[product_id]
    assert listed == {
        "id": product_id,
        "name": "Kettle",
        "base_price": round(profile.base_price),
        "typical_map": profile.typical_map,
        "undercut_step": profile.undercut_step,
        "has_bot": profile.has_bot,
    }
    info = simulator.product(product_id.upper())
    assert {key: info[key] for key in listed} == listed
    offers = get_offers(http, simulator, token, product_id).json()
    assert [{k: o[k] for k in ("id", "price", "items_in_stock")} for o in info["offers"]] == offers
    assert info["age"] == 0 and info["price_war"] is None
    for offer in info["offers"]:
        assert offer["role"] in (None, ROLE_BOT)
        assert offer["in_price_war"] is False and offer["map_dip_ticks_left"] == 0
        assert offer["restock_in_ticks"] == 0


@pytest.mark.parametrize("path", [f"/_control/products/{uuid.uuid4()}", "/_control/products/x"])
def test_the_control_endpoint_knows_only_registered_products(simulator, path):
    response = requests.get(f"{simulator.root_url}{path}", timeout=5)
    assert response.status_code == 404
    assert response.json() == {"detail": "Product ID has not been registered"}
    posted = requests.post(f"{simulator.root_url}/_control/products", json={}, timeout=5)
    assert posted.status_code == 405
