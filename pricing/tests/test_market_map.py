"""MAP monitoring (pricing.market.map_watch) on hand-written histories stored as the sync
stores them: minutes below the MAP exactly, a price holding until the next observation or until
the offer vanished, stretches running when the period begins, ranking, isolation."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from pricing import selectors, services
from pricing.offers_client import OfferData
from products.services import product_create

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
M = timedelta(minutes=1)
A, B, C = (uuid.UUID(int=n) for n in (1, 2, 3))


def sync(product, minute, *offers):
    """One successful sync `minute` minutes after T0; offers as (id, price) or (id, price,
    stock)."""
    answer = [OfferData(o[0], o[1], o[2] if len(o) == 3 else 5) for o in offers]
    services.offers_store(product=product, offers=answer, at=T0 + minute * M)


def violations(owner, start=0, end=60, **kw):
    return selectors.map_violations(owner=owner, start=T0 + start * M, end=T0 + end * M, **kw)


@pytest.fixture
def watched(user):
    return product_create(owner=user, name="Grinder", my_price=100, map_price=90)


def test_a_dip_of_exactly_17_minutes_reads_17(watched):
    sync(watched, 0, (A, 100), (B, 120))
    sync(watched, 10, (A, 80), (B, 120))
    sync(watched, 15, (A, 80, 3), (B, 120))  # the stock changed, not the price: still below
    sync(watched, 27, (A, 95), (B, 120))
    sync(watched, 40, (A, 95), (B, 120))
    (dip,) = violations(watched.owner)
    assert dip.offer_id == A and dip.minutes_below == 17
    assert (dip.lowest_price, dip.undercut_percent) == (80, 11.11)
    assert (dip.below_from, dip.below_until) == (T0 + 10 * M, T0 + 27 * M)
    assert (dip.is_below_now, dip.current_price, dip.map_price) == (False, 95, 90)
    assert (dip.product_id, dip.product_name) == (watched.pk, "Grinder")


def test_a_price_below_now_holds_until_the_period_ends(watched):
    sync(watched, 0, (A, 100))
    sync(watched, 50, (A, 70))
    (dip,) = violations(watched.owner, end=60)
    assert dip.minutes_below == 10 and dip.below_until == T0 + 60 * M
    assert dip.is_below_now and dip.current_price == 70


def test_a_stretch_running_when_the_period_begins_counts_from_its_start(watched):
    sync(watched, -30, (A, 60))
    sync(watched, -10, (A, 50))
    sync(watched, 5, (A, 85))  # still below
    sync(watched, 12, (A, 91))
    (dip,) = violations(watched.owner, start=0, end=60)
    assert dip.minutes_below == 12 and dip.below_from == T0
    assert dip.lowest_price == 50  # the price it had when the period began counts
    # From earlier, the whole stretch: 42 minutes.
    (whole,) = violations(watched.owner, start=-60, end=60)
    assert whole.minutes_below == 42 and whole.below_from == T0 - 30 * M


def test_a_price_holds_until_the_offer_vanished_and_again_from_its_return(watched):
    sync(watched, 0, (A, 80), (B, 100))
    sync(watched, 7, (B, 100))  # A vanished: below for 7 minutes
    sync(watched, 30, (B, 100))
    sync(watched, 40, (A, 80), (B, 100))  # back, still below
    sync(watched, 44, (A, 100), (B, 100))
    (dip,) = violations(watched.owner)
    assert dip.minutes_below == 11
    assert (dip.below_from, dip.below_until) == (T0, T0 + 44 * M)


def test_an_offer_gone_for_good_holds_its_price_until_it_vanished(watched):
    sync(watched, 0, (A, 80), (B, 100))
    sync(watched, 20, (B, 100))
    (dip,) = violations(watched.owner)
    assert dip.minutes_below == 20 and not dip.is_below_now and dip.current_price is None


def test_ranked_by_time_below_then_lowest_price_and_the_map_price_itself_is_no_violation(
    watched, user
):
    other = product_create(owner=user, name="Kettle", map_price=50)
    sync(watched, 0, (A, 85), (B, 89), (C, 90))
    sync(watched, 30, (A, 95), (B, 89), (C, 90))
    sync(other, 0, (A, 40))
    sync(other, 30, (A, 60))
    found = [(v.product_name, v.offer_id, v.minutes_below) for v in violations(user)]
    assert found == [("Grinder", B, 60), ("Kettle", A, 30), ("Grinder", A, 30)]
    only = violations(user, product_id=other.pk)
    assert [(v.product_name, v.offer_id) for v in only] == [("Kettle", A)]


def test_no_map_no_violations_and_nobody_sees_another_owners(watched, user, other_user):
    no_map = product_create(owner=user, name="No MAP", my_price=100)
    theirs = product_create(owner=other_user, name="Theirs", map_price=1000)
    for item in (no_map, theirs):
        sync(item, 0, (A, 10))
    sync(watched, 0, (A, 100))
    assert violations(user) == []
    assert [v.product_name for v in violations(other_user)] == ["Theirs"]
    assert violations(user, product_id=theirs.pk) == []


def test_three_queries_whatever_the_catalogue(user, django_assert_num_queries):
    for index in range(5):
        item = product_create(owner=user, name=f"p{index}", map_price=100)
        sync(item, -5, (A, 50), (B, 150))
        sync(item, 5, (A, 60), (B, 90))
    with django_assert_num_queries(3):
        found = violations(user)
    assert len(found) == 10


def test_bad_periods_are_refused(user):
    with pytest.raises(ValueError, match="after"):
        violations(user, start=10, end=10)
    with pytest.raises(ValueError):
        selectors.map_violations(owner=user, start=datetime(2026, 1, 1), end=T0)


def test_a_current_offer_below_holds_while_its_products_syncs_fail(watched):
    sync(watched, -120, (A, 80))  # the last successful sync, two hours before the period
    (dip,) = violations(watched.owner, start=0, end=60)
    assert dip.minutes_below == 60 and dip.is_below_now
