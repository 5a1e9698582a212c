"""What moved in a catalogue (pricing.market.movements): the counts and the products behind
them equal a brute-force count over the answers stored (a seeded random history, stored as the
sync stores it), new lows against the lookback before the period, and one owner never sees
another's products."""

import itertools
import random
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import QuerySet

from pricing import services
from pricing.market.movements import (
    NEW_LOW_LOOKBACK_DAYS,
    CatalogueMovements,
    Movement,
    MovementCount,
    catalogue_movements,
    products_moved,
)
from pricing.offers_client import OfferData
from pricing.rollups import RollupSpan, span_start
from products.models import Product
from products.services import product_create

T0 = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday, midnight UTC
H = timedelta(hours=1)
D = timedelta(days=1)
M = timedelta(minutes=1)
A, B, C = (uuid.UUID(int=n) for n in (1, 2, 3))


def sync(product, at, *offers) -> None:
    services.offers_store(product=product, offers=[OfferData(*o) for o in offers], at=at)


def counts(result: CatalogueMovements) -> dict[Movement, tuple[int, int]]:
    return {count.movement: (count.events, count.products) for count in result.counts}


# --- A random history and its brute-force count ----------------------------------------------


class History:
    """Answers stored through the real store, and what moved at each, counted here from the
    answers alone: (product id, time) → {movement: events}, and each answer's cheapest price."""

    def __init__(self) -> None:
        self.moves: dict[tuple[uuid.UUID, datetime], dict[Movement, int]] = {}
        self.cheapest: dict[tuple[uuid.UUID, datetime], int | None] = {}
        self._previous: dict[uuid.UUID, dict[uuid.UUID, tuple[int, int]] | None] = {}
        self._last_price: dict[uuid.UUID, dict[uuid.UUID, int]] = defaultdict(dict)

    def store(self, answers: dict[uuid.UUID, tuple[dict[uuid.UUID, tuple[int, int]], datetime]]):
        services.offers_store_many(
            {
                product_id: ([OfferData(oid, p, s) for oid, (p, s) in offers.items()], at)
                for product_id, (offers, at) in answers.items()
            }
        )
        for product_id, (offers, at) in answers.items():
            was = self._previous.get(product_id)
            seen = self._last_price[product_id]
            self.cheapest[(product_id, at)] = min((p for p, _ in offers.values()), default=None)
            if was is not None:  # the first sync compares to nothing
                moved = defaultdict(int)
                for oid, (price, stock) in offers.items():
                    if oid in seen and price != seen[oid]:
                        moved[Movement.RISES if price > seen[oid] else Movement.DROPS] += 1
                    if oid not in was:
                        moved[Movement.APPEARED] += 1
                    if stock and not was.get(oid, (0, 0))[1] and oid in seen:
                        moved[Movement.RESTOCKED] += 1
                for oid, (_, stock) in was.items():
                    if oid not in offers:
                        moved[Movement.VANISHED] += 1
                    if stock and not offers.get(oid, (0, 0))[1]:
                        moved[Movement.SOLD_OUT] += 1
                self.moves[(product_id, at)] = moved
            self._previous[product_id] = dict(offers)
            seen.update({oid: price for oid, (price, _) in offers.items()})

    def expected(self, product_ids, start, end) -> dict[Movement, tuple[int, int]]:
        """The counts over [hour of start, end), as the roll-ups' whole hours count them."""
        start = span_start(RollupSpan.HOUR, start)
        lookback = span_start(RollupSpan.DAY, start) - NEW_LOW_LOOKBACK_DAYS * D

        def within(at, since, until):
            return since <= span_start(RollupSpan.HOUR, at) < until

        answer = {}
        for movement in Movement:
            if movement is Movement.NEW_LOWS:
                moved = self.new_lows(product_ids, start, end, lookback, within)
                answer[movement] = (len(moved), len(moved))
                continue
            per_product = defaultdict(int)
            for (product_id, at), moved in self.moves.items():
                if product_id in product_ids and within(at, start, end):
                    per_product[product_id] += moved.get(movement, 0)
            answer[movement] = (
                sum(per_product.values()),
                sum(1 for events in per_product.values() if events),
            )
        return answer

    def products(self, product_ids, movement, start, end) -> set[uuid.UUID]:
        start = span_start(RollupSpan.HOUR, start)
        if movement is Movement.NEW_LOWS:
            lookback = span_start(RollupSpan.DAY, start) - NEW_LOW_LOOKBACK_DAYS * D
            return self.new_lows(
                product_ids,
                start,
                end,
                lookback,
                lambda at, s, u: s <= span_start(RollupSpan.HOUR, at) < u,
            )
        return {
            product_id
            for (product_id, at), moved in self.moves.items()
            if product_id in product_ids
            and start <= span_start(RollupSpan.HOUR, at) < end
            and moved.get(movement)
        }

    def new_lows(self, product_ids, start, end, lookback, within) -> set[uuid.UUID]:
        made = set()
        for product_id in product_ids:
            prices = [
                (at, price)
                for (pid, at), price in self.cheapest.items()
                if pid == product_id and price is not None
            ]
            before = [p for at, p in prices if within(at, lookback, start)]
            during = [p for at, p in prices if within(at, start, end)]
            if before and during and min(during) < min(before):
                made.add(product_id)
        return made


def random_history(owners_products, *, seed=19, days=12, every=4 * H) -> History:
    """Random walks of a few offers per product, every few hours with jitter over `days`:
    offers leave and come back (at new prices too), stock runs out and comes back, now and
    then an answer without offers; a new lowest price here and there."""
    rng = random.Random(seed)
    history = History()
    offers = {
        product.pk: {uuid.uuid4(): [rng.randint(200, 500), rng.randint(0, 4)] for _ in range(5)}
        for product in owners_products
    }
    at = T0 + 7 * M
    while at < T0 + days * D:
        answers = {}
        for product in owners_products:
            shown = {}
            for oid, state in offers[product.pk].items():
                if rng.random() < 0.3:
                    state[0] = max(1, state[0] + rng.choice([-40, -15, -5, 5, 15, 30]))
                if rng.random() < 0.2:
                    state[1] = 0 if state[1] else rng.randint(1, 5)
                if rng.random() > 0.15:
                    shown[oid] = (state[0], state[1])
            if rng.random() < 0.03:
                shown = {}
            if rng.random() < 0.4:  # not every product answers every time
                answers[product.pk] = (shown, at)
        if answers:
            history.store(answers)
        at += every + rng.randint(-40, 40) * M
    return history


@pytest.fixture
def catalogues(user, other_user):
    mine = [product_create(owner=user, name=f"Mine {i}") for i in range(6)]
    theirs = [product_create(owner=other_user, name=f"Theirs {i}") for i in range(3)]
    return mine, theirs, random_history(mine + theirs)


PERIODS = [
    (T0, T0 + 12 * D),  # everything
    (T0 + 2 * D + 7 * H + 35 * M, T0 + 9 * D + 5 * H),  # partial days at both ends
    (T0 + 3 * D, T0 + 5 * D),  # whole days
    (T0 + 4 * D + 2 * H, T0 + 4 * D + 20 * H),  # within a day
    (T0 + 6 * D + 23 * H, T0 + 7 * D + 1 * H + 30 * M),  # across midnight, mid-hour end
    (T0 + 11 * D, T0 + 11 * D + 3 * H),  # late: the lookback is most of the history
]


def test_the_counts_equal_a_brute_force_count_of_the_stored_answers(catalogues, user):
    mine, _, history = catalogues
    for start, end in PERIODS:
        result = catalogue_movements(owner=user, start=start, end=end)
        assert result.start == span_start(RollupSpan.HOUR, start) and result.end == end
        assert [count.movement for count in result.counts] == list(Movement)
        assert counts(result) == history.expected({p.pk for p in mine}, start, end), start
    # The history moves every way, new lows included.
    everything = counts(catalogue_movements(owner=user, start=T0, end=T0 + 12 * D))
    assert all(everything[m][0] > 0 for m in Movement if m != Movement.NEW_LOWS)
    later = counts(catalogue_movements(owner=user, start=T0 + 6 * D, end=T0 + 12 * D))
    assert later[Movement.NEW_LOWS][0] > 0


def test_the_products_moved_are_those_the_brute_force_count_finds(catalogues, user):
    mine, theirs, history = catalogues
    # Every product of the catalogue, theirs too: the owner's scope is the caller's queryset.
    everyone = Product.objects.filter(pk__in=[p.pk for p in mine + theirs])
    own = Product.objects.filter(owner=user)
    for (start, end), movement in itertools.product(PERIODS[1:3] + PERIODS[5:], Movement):
        moved = products_moved(everyone, movement=movement, start=start, end=end)
        assert isinstance(moved, QuerySet)
        expected = history.products({p.pk for p in mine + theirs}, movement, start, end)
        assert set(moved.values_list("pk", flat=True)) == expected
        narrowed = products_moved(own, movement=movement, start=start, end=end)
        assert set(narrowed.values_list("pk", flat=True)) == expected & {p.pk for p in mine}
        # As many as catalogue_movements counts, and still pageable.
        count = counts(catalogue_movements(owner=user, start=start, end=end))[movement][1]
        assert narrowed.count() == count
        assert list(narrowed.order_by("name")[:2]) == sorted(narrowed, key=lambda p: p.name)[:2]


def test_an_owner_counts_only_their_own_products(catalogues, user, other_user):
    mine, theirs, history = catalogues
    start, end = T0 + D, T0 + 10 * D
    mine_counted = counts(catalogue_movements(owner=user, start=start, end=end))
    theirs_counted = counts(catalogue_movements(owner=other_user, start=start, end=end))
    assert mine_counted == history.expected({p.pk for p in mine}, start, end)
    assert theirs_counted == history.expected({p.pk for p in theirs}, start, end)
    both = history.expected({p.pk for p in mine + theirs}, start, end)
    for movement in Movement:
        assert mine_counted[movement][0] + theirs_counted[movement][0] == both[movement][0]


def test_an_owner_without_products_has_nothing_moved(django_user_model, django_assert_num_queries):
    nobody = django_user_model.objects.create_user(email="nobody@example.com", password="x")
    with django_assert_num_queries(1):
        result = catalogue_movements(owner=nobody, start=T0, end=T0 + D)
    assert counts(result) == dict.fromkeys(Movement, (0, 0))


# --- By hand ---------------------------------------------------------------------------------


def test_each_movement_of_a_small_history(product, user):
    sync(product, T0, (A, 100, 5), (B, 200, 0))  # the first sync: nothing counted
    sync(product, T0 + H, (A, 110, 0), (B, 200, 3), (C, 90, 1))  # A up, sold out; B back; C new
    sync(product, T0 + 2 * H, (A, 100, 0), (B, 180, 3))  # A, B down; C vanished and sold out
    result = catalogue_movements(owner=user, start=T0, end=T0 + 3 * H)
    assert result.counts == [
        MovementCount(Movement.RISES, 1, 1),
        MovementCount(Movement.DROPS, 2, 1),
        MovementCount(Movement.SOLD_OUT, 2, 1),
        MovementCount(Movement.RESTOCKED, 1, 1),
        MovementCount(Movement.APPEARED, 1, 1),
        MovementCount(Movement.VANISHED, 1, 1),
        MovementCount(Movement.NEW_LOWS, 0, 0),  # nothing before the period to be below
    ]
    # The period starts at its hour: T0's hour is before a period from T0 + 1 h 5 min, and
    # C's 90 at T0 + 1 h is below its 100.
    later = counts(catalogue_movements(owner=user, start=T0 + H + 5 * M, end=T0 + 3 * H))
    assert later[Movement.RISES] == (1, 1) and later[Movement.NEW_LOWS] == (1, 1)
    last = counts(catalogue_movements(owner=user, start=T0 + 2 * H, end=T0 + 3 * H))
    assert last[Movement.RISES] == (0, 0) and last[Movement.NEW_LOWS] == (0, 0)


def test_no_earlier_history_makes_no_new_low_and_equal_is_not_below(product, user):
    sync(product, T0, (A, 100, 5))
    assert counts(catalogue_movements(owner=user, start=T0, end=T0 + D))[Movement.NEW_LOWS] == (
        0,
        0,
    )
    sync(product, T0 + 5 * D, (A, 100, 5))
    period = dict(start=T0 + 5 * D, end=T0 + 6 * D)
    assert counts(catalogue_movements(owner=user, **period))[Movement.NEW_LOWS] == (0, 0)
    sync(product, T0 + 5 * D + H, (A, 99, 5))
    assert counts(catalogue_movements(owner=user, **period))[Movement.NEW_LOWS] == (1, 1)
    moved = products_moved(Product.objects.all(), movement=Movement.NEW_LOWS, **period)
    assert list(moved) == [product]


def test_a_low_older_than_the_lookback_does_not_count(product, user):
    sync(product, T0, (A, 50, 5))
    sync(product, T0 + (NEW_LOW_LOOKBACK_DAYS - 5) * D, (A, 120, 5))
    sync(product, T0 + (NEW_LOW_LOOKBACK_DAYS + 1) * D + 3 * H, (A, 100, 5))
    start = T0 + (NEW_LOW_LOOKBACK_DAYS + 1) * D
    result = counts(catalogue_movements(owner=user, start=start, end=start + D))
    assert result[Movement.NEW_LOWS] == (1, 1)  # below 120; the 50 is more than 90 days back


def test_the_counts_take_two_queries_whatever_the_catalogue(user, django_assert_num_queries):
    products = [product_create(owner=user, name=f"P{i}") for i in range(2)]
    for at in (T0, T0 + D + 5 * H, T0 + 4 * D):
        for product in products:
            sync(product, at, (A, 100 + at.day, 5))
    with django_assert_num_queries(2):  # the ids, the sums
        small = catalogue_movements(owner=user, start=T0 + D + 3 * H, end=T0 + 8 * D)
    products += [product_create(owner=user, name=f"Q{i}") for i in range(8)]
    for product in products[2:]:
        sync(product, T0 + 2 * D, (A, 100, 5))
        sync(product, T0 + 3 * D, (A, 90, 5))
    with django_assert_num_queries(2):  # the ids, the sums
        large = catalogue_movements(owner=user, start=T0 + D + 3 * H, end=T0 + 8 * D)
    assert counts(small)[Movement.RISES] == (4, 2)  # two rises in each
    assert counts(large)[Movement.DROPS] == (8, 8)
    # Their 90 is their lowest, but they have no history before the period to be below.
    assert counts(large)[Movement.NEW_LOWS] == (0, 0)


def test_a_period_must_end_after_it_starts_and_times_be_aware(user):
    with pytest.raises(ValueError, match="later"):
        catalogue_movements(owner=user, start=T0, end=T0)
    with pytest.raises(ValueError, match="aware"):
        catalogue_movements(owner=user, start=datetime(2026, 3, 2), end=T0)
    with pytest.raises(ValueError, match="later"):
        products_moved(Product.objects.all(), movement=Movement.RISES, start=T0, end=T0 - H)
