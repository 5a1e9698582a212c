"""The deterministic offers world: registered products and how their offers evolve tick by tick.

A product's offers are a function of the simulator's seed, the product id and the product's age
in ticks (ticks since it was registered). Every random draw comes from a ``random.Random`` seeded
from those values, so two simulators with the same seed agree, and no global randomness is used.

The world is lazy: a product stores the last age it was computed for; a request advances it tick
by tick to the current age. Idle products cost nothing. Catch-up is capped at
``MAX_CATCH_UP_TICKS`` (a tick costs ~50 us, and offers live ~25 ticks, so 200 ticks renew a
product's offers completely): older ticks are skipped, as if nothing happened during them. The
result stays deterministic for a given history of requests.

Nothing here is thread-safe; the simulator calls it under its state lock.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from offers_simulator.reply import OffersSummary

MAX_OFFERS = 10
MAX_CATCH_UP_TICKS = 200
MIN_BASE_PRICE = 100
MAX_BASE_PRICE = 50_000
_AGE_BITS = 64  # a tick's seed is the product key shifted left by this, plus the age
NO_OFFERS = OffersSummary(offer_count=0, total_stock=0, min_price=None, max_price=None)


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


@dataclass(frozen=True, slots=True)
class Offer:
    id: str
    price: float  # the exact walk; answers round it to an int >= 1
    stock: int
    anchor: float  # the price this offer reverts to, so long walks stay plausible

    @property
    def sent_price(self) -> int:
        return max(1, round(self.price))

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "price": self.sent_price, "items_in_stock": self.stock}


@dataclass(frozen=True, slots=True)
class Profile:
    """What stays fixed about a product: derived once from (seed, product id)."""

    key: int
    base_price: float
    target_offers: int
    volatility: float


def product_profile(seed: int, product_id: str) -> Profile:
    digest = hashlib.sha256(f"{seed}:{product_id}".encode()).digest()
    key = int.from_bytes(digest, "big")
    rng = random.Random(key)
    # Log-uniform, so cheap and expensive products are equally common.
    base_price = math.exp(rng.uniform(math.log(MIN_BASE_PRICE), math.log(MAX_BASE_PRICE)))
    return Profile(
        key=key,
        base_price=base_price,
        target_offers=rng.randint(2, MAX_OFFERS),
        volatility=rng.uniform(0.01, 0.03),
    )


def _new_offer(rng: random.Random, profile: Profile) -> Offer:
    offer_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    price = profile.base_price * rng.uniform(0.85, 1.2)
    size = rng.random()
    if size < 0.3:
        stock = rng.randint(1, 10)
    elif size < 0.8:
        stock = rng.randint(10, 60)
    else:
        stock = rng.randint(60, 500)
    return Offer(id=offer_id, price=price, stock=stock, anchor=price)


def initial_offers(profile: Profile) -> tuple[Offer, ...]:
    """The offers at age 0: most products start with some, a few with none."""
    # A stream distinct from the profile's and from every tick's.
    rng = random.Random(profile.key + 1)
    count = 0 if rng.random() < 0.1 else rng.randint(1, profile.target_offers)
    return tuple(_new_offer(rng, profile) for _ in range(count))


def step(profile: Profile, offers: Iterable[Offer], age: int) -> tuple[Offer, ...]:
    """The offers at ``age``, given the offers at ``age - 1``."""
    rng = random.Random((profile.key << _AGE_BITS) | age)
    result: list[Offer] = []
    for offer in offers:
        sold = rng.randint(0, max(2, offer.stock // 4)) if rng.random() < 0.7 else 0
        stock = offer.stock - sold
        change = rng.gauss(0.0, profile.volatility) + 0.05 * math.log(offer.anchor / offer.price)
        moves = rng.random() < 0.7  # some prices hold still for a tick
        if stock <= 0:
            continue  # sold out: the offer vanishes
        price = offer.price * math.exp(max(-0.06, min(0.06, change))) if moves else offer.price
        result.append(Offer(id=offer.id, price=max(1.0, price), stock=stock, anchor=offer.anchor))
    appear = rng.random()
    chance = 0.5 if len(result) < profile.target_offers else 0.08
    if len(result) < MAX_OFFERS and appear < chance:
        result.append(_new_offer(rng, profile))
    return tuple(result)


def offers_at(profile: Profile, age: int) -> tuple[Offer, ...]:
    """The offers at ``age``, simulated from age 0 (no catch-up cap; for tests and tools)."""
    offers = initial_offers(profile)
    for tick_age in range(1, age + 1):
        offers = step(profile, offers, tick_age)
    return offers


@dataclass(slots=True)
class Product:
    id: str
    name: str
    description: str
    birth_tick: int
    profile: Profile
    age: int = 0
    offers: tuple[Offer, ...] = ()
    body: bytes = field(default=b"")  # the JSON answer for ``age``, cached between ticks
    summary: OffersSummary = NO_OFFERS  # of ``body``, cached with it

    def advance(self, age: int) -> None:
        if age <= self.age and self.body:
            return
        start = max(self.age, age - MAX_CATCH_UP_TICKS)
        offers = self.offers
        for tick_age in range(start + 1, age + 1):
            offers = step(self.profile, offers, tick_age)
        self.offers, self.age = offers, max(age, self.age)
        self.body = json.dumps([offer.as_json() for offer in offers]).encode()
        prices = [offer.sent_price for offer in offers]
        self.summary = OffersSummary(
            offer_count=len(offers),
            total_stock=sum(offer.stock for offer in offers),
            min_price=min(prices, default=None),
            max_price=max(prices, default=None),
        )


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
            offers=initial_offers(profile),
        )
        return True

    def offers_answer(self, product_id: str) -> tuple[bytes, OffersSummary] | None:
        """The product's current offers as sent (JSON) and their summary; None if unregistered."""
        product = self._products.get(product_id)
        if product is None:
            return None
        product.advance(self.clock.index() - product.birth_tick)
        return product.body, product.summary

    def forget_all(self) -> None:
        self._products.clear()

    def registrations(self) -> list[dict[str, str]]:
        return [
            {"id": p.id, "name": p.name, "description": p.description}
            for p in self._products.values()
        ]
