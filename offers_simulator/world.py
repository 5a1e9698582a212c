"""The deterministic offers world: registered products and how their offers evolve tick by tick.

A product's offers are a function of the simulator's seed, the product id and the product's age
in ticks (ticks since it was registered). Every random draw comes from a ``random.Random`` seeded
from those values, so two simulators with the same seed agree, and no global randomness is used.

The world is lazy: a product stores the last age it was computed for; a request advances it tick
by tick to the current age. Idle products cost nothing. Catch-up is capped at
``MAX_CATCH_UP_TICKS`` (a tick costs ~50 us, and offers live ~25 ticks, so 200 ticks renew a
product's offers completely): older ticks are skipped, as if nothing happened during them. The
result stays deterministic for a given history of requests.

What a tick does (numbers are per product and tick; a product's own rates come from its profile):

- Prices walk a few percent (70 % of offers move, by N(0, 1..3 %) pulled back to the offer's
  anchor, at most 6 %), stock sells down; a product keeps between 0 and ``MAX_OFFERS`` offers.
- Typical MAP: ``Profile.typical_map`` = ``MAP_SHARE`` (90 %) of the base price, rounded. New
  offers are priced 95..120 % of the base price and an ordinary walk stops at the typical MAP,
  so only a MAP dip (below) advertises under it.
- MAP dips: with the product's ``dip_chance`` (0.3..1.2 %), and for half of the products once
  early at age ``first_dip`` (2..10, so a fresh ``make run`` shows some within ten minutes), one
  in-stock reseller offer (never the bot) jumps to 80..95 % of the typical MAP (a whole price,
  strictly below it) and holds there for ``DIP_TICKS`` (10..40) ticks, then returns to its anchor
  (>= the MAP); if it sells out meanwhile it stays listed and is restocked. At most one dip per
  product at a time.
- Price wars: with the product's ``war_chance`` (0.5..3 %) while none is on, an offer undercuts
  the cheapest in-stock offer by ``Profile.undercut_step`` (1 % of the base price, at least 1):
  its price becomes exactly the cheapest's sent price minus the step. Then every 1..3 ticks the
  responder (the bot if it is not the cheapest, else the runner-up) undercuts the new cheapest
  by the same step, for 3..8 undercuts in all (fewer if the typical MAP is near: a war opens
  only with room for a response, and never goes below the MAP; having nobody left to respond
  ends it too). The last undercut holds 1..3 ticks, then the war is over. Offers in the war
  hold their prices until it ends; then they walk back to their anchors.
- Sell-outs: an offer whose stock runs out vanishes (its id may come back: a new offer reuses
  one of the last ``GONE_KEPT`` vanished ids with probability ``RETURN_SHARE``) or, with
  probability ``RESTOCK_SHARE`` (50 %), stays listed at 0 stock for 2..8 ticks and is then
  restocked under the same id (stock drawn as for a new offer).
- The repricing bot: ``Profile.has_bot`` (30 % of products) marks one offer per product with
  ``role == ROLE_BOT``: the first offer the product has (at age 0, or the first to appear). It
  never vanishes (it always restocks), never dips below the MAP, opens every price war it can
  and answers every undercut while it is not the cheapest. A later "price leader" is meant to be
  another role, marked the same way.

Nothing here is thread-safe; the simulator calls it under its state lock.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from offers_simulator.reply import OffersSummary

MAX_OFFERS = 10
MAX_CATCH_UP_TICKS = 200
MIN_BASE_PRICE = 100
MAX_BASE_PRICE = 50_000
_AGE_BITS = 64  # a tick's seed is the product key shifted left by this, plus the age
NO_OFFERS = OffersSummary(offer_count=0, total_stock=0, min_price=None, max_price=None)

NEW_PRICE_SHARES = (0.95, 1.2)  # a new offer's price, as shares of the base price
MAP_SHARE = 0.9  # a product's typical MAP, as a share of its base price
UNDERCUT_SHARE = 0.01  # a price war's step, as a share of the base price (at least 1)
WAR_CHANCES = (0.005, 0.03)  # a product's chance per tick of a price war starting
WAR_UNDERCUTS = (3, 8)  # undercuts in a war, the opening one included
WAR_RESPONSE_TICKS = (1, 3)  # ticks between two undercuts
DIP_CHANCES = (0.003, 0.012)  # a product's chance per tick of a MAP dip starting
EARLY_DIP_SHARE = 0.5  # products with an early first dip, at age FIRST_DIP_AGES
FIRST_DIP_AGES = (2, 10)
DIP_SHARES = (0.80, 0.95)  # a dipping offer's price, as shares of the typical MAP
DIP_TICKS = (10, 40)  # how long a dip lasts
RESTOCK_SHARE = 0.5  # sold-out offers that stay listed at 0 stock and are restocked
RESTOCK_TICKS = (2, 8)  # how long they stay at 0 stock
GONE_KEPT = 4  # vanished ids remembered, that a new offer may reuse
RETURN_SHARE = 0.2  # new offers that reuse a vanished id, when one is remembered
BOT_SHARE = 0.3  # products with a repricing bot
ROLE_BOT = "bot"


class TickClock:
    """Turns monotonic time into a tick index that never goes backwards.

    ``index = base_index + floor((now - base_time) / tick)``; changing the tick length rebases
    the clock at the current index, so the world speeds up or slows down from here on.
    """

    def __init__(self, tick: float, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._tick = tick
        self._base_index = 0
        self._base_time = now()

    @property
    def tick(self) -> float:
        return self._tick

    def index(self) -> int:
        return self._base_index + math.floor((self._now() - self._base_time) / self._tick)

    def set_tick(self, tick: float) -> None:
        if tick == self._tick:
            return
        self._base_index = self.index()
        self._base_time = self._now()
        self._tick = tick


class Offer(NamedTuple):
    """One offer and its market state (a named tuple: a tick builds many, and a frozen
    dataclass costs twice as much to build)."""

    id: str
    price: float  # the exact walk; answers round it to an int >= 1
    stock: int
    anchor: float  # the price this offer reverts to, so long walks stay plausible
    role: str = ""  # ROLE_BOT for the product's repricing bot, else ""
    war: bool = False  # in the current price war: its price holds until the war ends
    dip: int = 0  # ticks left advertising below the typical MAP (its price holds); 0: none
    restock_in: int = 0  # sold out but listed (stock 0): ticks until it is restocked

    @property
    def sent_price(self) -> int:
        return max(1, round(self.price))

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "price": self.sent_price, "items_in_stock": self.stock}


@dataclass(frozen=True, slots=True)
class Market:
    """A product's offers and the state of its price war, at one age."""

    offers: tuple[Offer, ...] = ()
    # A price war is on while war_next > 0: at age war_next comes the next undercut if any are
    # left (war_undercuts), else the war ends.
    war_undercuts: int = 0
    war_next: int = 0
    gone: tuple[str, ...] = ()  # ids of the last offers that vanished, oldest first


@dataclass(frozen=True, slots=True)
class Profile:
    """What stays fixed about a product: derived once from (seed, product id)."""

    key: int
    base_price: float
    target_offers: int
    volatility: float
    typical_map: int  # MAP_SHARE of the base price: ordinary offers never go below it
    undercut_step: int  # how much a price war's undercut takes off the cheapest price
    war_chance: float
    dip_chance: float
    first_dip: int  # the age of an early first MAP dip; 0: none
    has_bot: bool


def product_profile(seed: int, product_id: str) -> Profile:
    digest = hashlib.sha256(f"{seed}:{product_id}".encode()).digest()
    key = int.from_bytes(digest, "big")
    rng = random.Random(key)
    # Log-uniform, so cheap and expensive products are equally common.
    base_price = math.exp(rng.uniform(math.log(MIN_BASE_PRICE), math.log(MAX_BASE_PRICE)))
    target_offers = rng.randint(2, MAX_OFFERS)
    volatility = rng.uniform(0.01, 0.03)
    # Drawn after the older fields, so a product's base price and size stay what they were.
    war_chance = rng.uniform(*WAR_CHANCES)
    dip_chance = rng.uniform(*DIP_CHANCES)
    first_dip = rng.randint(*FIRST_DIP_AGES) if rng.random() < EARLY_DIP_SHARE else 0
    return Profile(
        key=key,
        base_price=base_price,
        target_offers=target_offers,
        volatility=volatility,
        typical_map=max(1, round(base_price * MAP_SHARE)),
        undercut_step=max(1, round(base_price * UNDERCUT_SHARE)),
        war_chance=war_chance,
        dip_chance=dip_chance,
        first_dip=first_dip,
        has_bot=rng.random() < BOT_SHARE,
    )


def _stock_size(rng: random.Random) -> int:
    size = rng.random()
    if size < 0.3:
        return rng.randint(1, 10)
    if size < 0.8:
        return rng.randint(10, 60)
    return rng.randint(60, 500)


def _new_offer(
    rng: random.Random, profile: Profile, offer_id: str | None = None, role: str = ""
) -> Offer:
    if offer_id is None:
        offer_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    price = profile.base_price * rng.uniform(*NEW_PRICE_SHARES)
    return Offer(id=offer_id, price=price, stock=_stock_size(rng), anchor=price, role=role)


def initial_market(profile: Profile) -> Market:
    """The market at age 0: most products start with some offers, a few with none."""
    # A stream distinct from the profile's and from every tick's.
    rng = random.Random(profile.key + 1)
    count = 0 if rng.random() < 0.1 else rng.randint(1, profile.target_offers)
    offers = [_new_offer(rng, profile) for _ in range(count)]
    if offers and profile.has_bot:
        offers[0] = offers[0]._replace(role=ROLE_BOT)
    return Market(offers=tuple(offers))


def initial_offers(profile: Profile) -> tuple[Offer, ...]:
    """The offers at age 0."""
    return initial_market(profile).offers


def step(profile: Profile, market: Market, age: int) -> Market:
    """The market at ``age``, given the market at ``age - 1``."""
    rng = random.Random((profile.key << _AGE_BITS) | age)
    floor = profile.typical_map
    gone = market.gone
    offers: list[Offer] = []
    dipping = False
    back_from_dip = ""  # an offer whose dip ended this tick: not the next one to dip
    for offer in market.offers:
        price, stock, dip, restock_in = offer.price, offer.stock, offer.dip, offer.restock_in
        if restock_in:
            restock_in -= 1
            if not restock_in:
                stock = _stock_size(rng)
        elif rng.random() < 0.7:
            stock -= rng.randint(0, max(2, stock // 4))
            if stock <= 0:
                # The bot, and an offer below the MAP (its dip ends in a return), stay listed.
                if offer.role != ROLE_BOT and not dip and rng.random() >= RESTOCK_SHARE:
                    gone = (*gone[1 - GONE_KEPT :], offer.id)
                    continue  # sold out: the offer vanishes
                stock, restock_in = 0, rng.randint(*RESTOCK_TICKS)
        if dip:
            dip -= 1
            if dip:
                dipping = True
            else:
                price, back_from_dip = offer.anchor, offer.id  # back above the MAP
        elif not offer.war and rng.random() < 0.7:  # some prices hold still for a tick
            change = rng.gauss(0.0, profile.volatility) + 0.05 * math.log(offer.anchor / price)
            price = max(floor, price * math.exp(max(-0.06, min(0.06, change))))
        offers.append(
            Offer(offer.id, price, stock, offer.anchor, offer.role, offer.war, dip, restock_in)
        )

    war_undercuts, war_next = market.war_undercuts, market.war_next
    if war_next:  # a price war is on
        if age >= war_next:
            if war_undercuts and _undercut(offers, profile, rng, opening=False):
                war_undercuts -= 1
                war_next = age + rng.randint(*WAR_RESPONSE_TICKS)
            else:  # the last undercut has held a while, or nobody can respond
                war_undercuts = war_next = 0
                _end_war(offers)
    elif rng.random() < profile.war_chance:
        cheapest = _undercut(offers, profile, rng, opening=True)
        if cheapest:
            # As many responses as were drawn and as the room above the MAP allows (>= 1).
            room = (cheapest - profile.typical_map) // profile.undercut_step
            war_undercuts = min(rng.randint(*WAR_UNDERCUTS) - 1, room)
            war_next = age + rng.randint(*WAR_RESPONSE_TICKS)

    if not dipping and (age == profile.first_dip or rng.random() < profile.dip_chance):
        _start_dip(offers, profile, rng, back_from_dip)

    chance = 0.5 if len(offers) < profile.target_offers else 0.08
    if rng.random() < chance and len(offers) < MAX_OFFERS:
        role = ""
        if profile.has_bot and not any(offer.role == ROLE_BOT for offer in offers):
            role = ROLE_BOT
        offer_id = None
        if market.gone and rng.random() < RETURN_SHARE:
            # The last one to vanish before this tick comes back (not one that just vanished:
            # that would look like the same offer jumping).
            offer_id = market.gone[-1]
            gone = tuple(gone_id for gone_id in gone if gone_id != offer_id)
        offers.append(_new_offer(rng, profile, offer_id, role))
    return Market(tuple(offers), war_undercuts, war_next, gone)


def _undercut(offers: list[Offer], profile: Profile, rng: random.Random, *, opening: bool) -> int:
    """One undercut of a price war, in place; the new cheapest price, or 0 if nobody can (no
    war starts, or the war ends).

    The cheapest in-stock offer is undercut by the step. Who undercuts: the bot if it can (in
    stock, not dipping, not the cheapest); else, opening a war, any such offer; responding, the
    runner-up. Both offers then hold their prices until the war ends. Nobody undercuts below the
    typical MAP, nor opens a war that leaves no room above it for a response.
    """
    cheapest = runner_up = bot = -1
    able: list[int] = []
    for index, offer in enumerate(offers):
        if offer.stock <= 0:
            continue
        if cheapest < 0 or offer.price < offers[cheapest].price:
            cheapest = index
    if cheapest < 0:
        return 0
    for index, offer in enumerate(offers):
        if index == cheapest or offer.stock <= 0 or offer.dip:
            continue
        able.append(index)
        if runner_up < 0 or offer.price < offers[runner_up].price:
            runner_up = index
        if offer.role == ROLE_BOT:
            bot = index
    target = offers[cheapest].sent_price - profile.undercut_step
    lowest = profile.typical_map + (profile.undercut_step if opening else 0)
    if not able or target < lowest:
        return 0
    if bot >= 0:
        actor = bot
    elif opening:
        actor = able[rng.randrange(len(able))]
    else:
        actor = runner_up
    offers[actor] = offers[actor]._replace(price=float(target), war=True)
    offers[cheapest] = offers[cheapest]._replace(war=True)
    return target


def _end_war(offers: list[Offer]) -> None:
    for index, offer in enumerate(offers):
        if offer.war:
            offers[index] = offer._replace(war=False)


def _start_dip(offers: list[Offer], profile: Profile, rng: random.Random, skip: str) -> None:
    """One in-stock reseller offer (not the bot, not in a war, not ``skip``) advertises below
    the MAP."""
    able = [
        index
        for index, offer in enumerate(offers)
        if offer.stock > 0 and not offer.war and offer.role != ROLE_BOT and offer.id != skip
    ]
    if not able:
        return
    index = able[rng.randrange(len(able))]
    price = min(profile.typical_map - 1, math.floor(profile.typical_map * rng.uniform(*DIP_SHARES)))
    offers[index] = offers[index]._replace(price=float(max(1, price)), dip=rng.randint(*DIP_TICKS))


def market_at(profile: Profile, age: int) -> Market:
    """The market at ``age``, simulated from age 0 (no catch-up cap; for tests and tools)."""
    market = initial_market(profile)
    for tick_age in range(1, age + 1):
        market = step(profile, market, tick_age)
    return market


def offers_at(profile: Profile, age: int) -> tuple[Offer, ...]:
    """The offers at ``age``, simulated from age 0 (no catch-up cap; for tests and tools)."""
    return market_at(profile, age).offers


@dataclass(slots=True)
class Product:
    id: str
    name: str
    description: str
    birth_tick: int
    profile: Profile
    age: int = 0
    market: Market = Market()
    body: bytes = field(default=b"")  # the JSON answer for ``age``, cached between ticks
    summary: OffersSummary = NO_OFFERS  # of ``body``, cached with it

    @property
    def offers(self) -> tuple[Offer, ...]:
        return self.market.offers

    @offers.setter
    def offers(self, offers: tuple[Offer, ...]) -> None:
        """Sets the offers of a market with no price war and nothing vanished (tests, tools)."""
        self.market = Market(offers=tuple(offers))
        self.body = b""

    def advance(self, age: int) -> None:
        if age <= self.age and self.body:
            return
        start = max(self.age, age - MAX_CATCH_UP_TICKS)
        market = self.market
        for tick_age in range(start + 1, age + 1):
            market = step(self.profile, market, tick_age)
        self.market, self.age = market, max(age, self.age)
        offers = market.offers
        self.body = json.dumps([offer.as_json() for offer in offers]).encode()
        prices = [offer.sent_price for offer in offers]
        self.summary = OffersSummary(
            offer_count=len(offers),
            total_stock=sum(offer.stock for offer in offers),
            min_price=min(prices, default=None),
            max_price=max(prices, default=None),
        )

    def info(self) -> dict[str, Any]:
        """What the control endpoint tells about the product as of ``age``."""
        profile, market = self.profile, self.market
        return {
            **profile_info(self.id, self.name, profile),
            "age": self.age,
            "offers": [
                {
                    **offer.as_json(),
                    "role": offer.role or None,
                    "in_price_war": offer.war,
                    "map_dip_ticks_left": offer.dip,
                    "restock_in_ticks": offer.restock_in,
                }
                for offer in market.offers
            ],
            "price_war": (
                {"undercuts_left": market.war_undercuts, "next_age": market.war_next}
                if market.war_next
                else None
            ),
        }


def profile_info(product_id: str, name: str, profile: Profile) -> dict[str, Any]:
    return {
        "id": product_id,
        "name": name,
        "base_price": round(profile.base_price),
        "typical_map": profile.typical_map,
        "undercut_step": profile.undercut_step,
        "has_bot": profile.has_bot,
    }


class World:
    """The registered products of one simulator and their offers."""

    def __init__(self, *, seed: int, clock: TickClock) -> None:
        self.seed = seed
        self.clock = clock
        self._products: dict[str, Product] = {}

    def __len__(self) -> int:
        return len(self._products)

    def register(self, product_id: str, name: str, description: str) -> bool:
        """Registers a product (its id in canonical form); False if it already is."""
        if product_id in self._products:
            return False
        profile = product_profile(self.seed, product_id)
        self._products[product_id] = Product(
            id=product_id,
            name=name,
            description=description,
            birth_tick=self.clock.index(),
            profile=profile,
            market=initial_market(profile),
        )
        return True

    def _current(self, product_id: str) -> Product | None:
        product = self._products.get(product_id)
        if product is not None:
            product.advance(self.clock.index() - product.birth_tick)
        return product

    def offers_answer(self, product_id: str) -> tuple[bytes, OffersSummary] | None:
        """The product's current offers as sent (JSON) and their summary; None if unregistered."""
        product = self._current(product_id)
        if product is None:
            return None
        return product.body, product.summary

    def product_info(self, product_id: str) -> dict[str, Any] | None:
        """The product's profile and current market (advanced as by an offers request)."""
        product = self._current(product_id)
        return None if product is None else product.info()

    def products_info(self) -> list[dict[str, Any]]:
        """Every registered product's profile (base price, typical MAP...), without advancing."""
        return [profile_info(p.id, p.name, p.profile) for p in self._products.values()]

    def forget_all(self) -> None:
        self._products.clear()

    def registrations(self) -> list[dict[str, str]]:
        return [
            {"id": p.id, "name": p.name, "description": p.description}
            for p in self._products.values()
        ]
