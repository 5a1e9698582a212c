"""Alerts as the sync evaluates them (pricing.alerts.evaluation): each kind on hand-written
histories, the noise controls on a price flapping around its threshold, failed and empty
syncs, atomicity with the store, and a constant number of queries per batch."""

import uuid
import zoneinfo
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from pricing import selectors, services
from pricing.models import AlertDelivery, AlertFiring, AlertRule, AlertSettings
from pricing.offers_client import OfferData
from products.services import product_create

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)  # a Monday, 09:00 UTC
M = timedelta(minutes=1)
A, B, C = (uuid.UUID(int=n) for n in (1, 2, 3))


def make_rule(product, **spec) -> int:
    return services.alert_rule_create(owner=product.owner, product_id=product.pk, spec=spec).id


def sync(product, at, *offers) -> None:
    """One successful sync at `at` (a datetime, or minutes after T0): offers as
    (id, price, stock)."""
    moment = at if isinstance(at, datetime) else T0 + at * M
    services.offers_store(product=product, offers=[OfferData(*o) for o in offers], at=moment)


def fired(rule_id) -> list[int]:
    """The minutes after T0 at which the rule fired, in order."""
    return [
        round((firing.fired_at - T0) / M)
        for firing in AlertFiring.objects.filter(rule_id=rule_id).order_by("fired_at")
    ]


def cheapest_series(product, prices, *, start=0, every=1) -> None:
    """A sync per price: offer A at that price (None: an answer without offers), B at 200."""
    for index, price in enumerate(prices):
        offers = [] if price is None else [(A, price, 5), (B, 200, 5)]
        sync(product, start + index * every, *offers)


# --- Each kind -------------------------------------------------------------------------------


def test_price_below_fires_when_it_becomes_true_and_again_only_after_rising_above(product):
    rule = make_rule(product, kind="price_below", figure="cheapest", threshold=95)
    cheapest_series(product, [100, 96, 94, 93, 95, 99, 90, 80])
    assert fired(rule) == [2, 6]
    firing = AlertFiring.objects.get(rule_id=rule, fired_at=T0 + 2 * M)
    assert firing.message == "The cheapest offer is 94 CZK, below 95 CZK."
    assert firing.values["watched"] == 94 and firing.values["threshold"] == 95
    assert firing.owner == product.owner and firing.delivery == AlertDelivery.SENT


def test_price_above_watches_rises_on_the_mean(product):
    rule = make_rule(product, kind="price_above", figure="mean", threshold=150)
    # Means with B at 200: 150, 155, 149, 151.
    cheapest_series(product, [100, 110, 98, 102])
    assert fired(rule) == [1, 3]


def test_the_weighted_mean_weighs_by_stock(product):
    rule = make_rule(product, kind="price_below", figure="weighted_mean", threshold=120)
    sync(product, 0, (A, 100, 1), (B, 200, 1))  # 150
    sync(product, 1, (A, 100, 9), (B, 200, 1))  # 110
    assert fired(rule) == [1]


def test_cheapest_in_stock_leaves_out_offers_with_too_little_stock(product):
    rule = make_rule(
        product, kind="price_below", figure="cheapest_in_stock", min_stock=3, threshold=95
    )
    sync(product, 0, (A, 90, 2), (B, 100, 3))  # A is cheapest, but has 2: the figure is 100
    sync(product, 1, (A, 90, 3), (B, 100, 3))
    assert fired(rule) == [1]
    assert "at least 3 in stock is 90 CZK" in AlertFiring.objects.get(rule_id=rule).message


def test_price_move_compares_with_the_figure_a_window_ago(product):
    down = make_rule(
        product,
        kind="price_move",
        figure="cheapest",
        direction="down",
        change_percent=10,
        window="1h",
    )
    up = make_rule(
        product, kind="price_move", figure="cheapest", direction="up", change_amount=5, window="1h"
    )
    either = make_rule(
        product,
        kind="price_move",
        figure="cheapest",
        direction="either",
        change_percent=10,
        window="1h",
    )
    sync(product, 0, (A, 100, 1))
    sync(product, 30, (A, 100, 1))  # no snapshot an hour before: undecided
    sync(product, 61, (A, 90, 1))  # an hour before (at or before minute 1): 100 → −10 %
    sync(product, 62, (A, 90, 1))  # still −10 %: no repeat
    sync(product, 150, (A, 90, 1))  # vs 90 at minute 62: no move, re-armed
    sync(product, 200, (A, 96, 1))  # vs 90 at minute 140: +6 (up by 5), +6.7 % (not 10)
    sync(product, 260, (A, 80, 1))  # vs 96 at minute 200: −16.7 %
    assert fired(down) == [61, 260]
    assert fired(up) == [200]
    assert fired(either) == [61, 260]
    message = AlertFiring.objects.get(rule_id=down, fired_at=T0 + 61 * M).message
    assert message == "The cheapest offer fell from 100 CZK to 90 CZK (-10.0 %) within an hour."


def test_cheapest_changed_fires_at_each_change_of_hands(product):
    rule = make_rule(product, kind="cheapest_changed")
    sync(product, 0, (A, 100, 1), (B, 110, 1))
    sync(product, 1, (A, 100, 1), (B, 90, 1))  # B
    sync(product, 2, (A, 80, 1), (B, 90, 1))  # A again
    sync(product, 3, (A, 70, 1), (B, 90, 1))  # still A
    sync(product, 4, (B, 90, 1))  # A gone: B
    assert fired(rule) == [1, 2, 4]
    values = AlertFiring.objects.get(rule_id=rule, fired_at=T0 + M).values
    assert values["cheapest_offer_id"] == str(B) and values["previous_cheapest_offer_id"] == str(A)


def test_stock_rules(product):
    out = make_rule(product, kind="out_of_stock")
    back = make_rule(product, kind="back_in_stock")
    low = make_rule(product, kind="stock_below", threshold=5)
    sync(product, 0, (A, 100, 6))  # in stock: "back" is not armed (never seen out)
    sync(product, 1, (A, 100, 4))  # below 5
    sync(product, 2, (A, 100, 0))  # out
    sync(product, 3)  # no offers: out still
    sync(product, 4, (A, 100, 2))  # back
    sync(product, 5, (A, 100, 9))
    sync(product, 6, (A, 100, 3))
    assert fired(out) == [2]
    assert fired(back) == [4]
    assert fired(low) == [1, 6]


def test_offer_events(product):
    sold_out = make_rule(product, kind="offer_out_of_stock")
    restocked = make_rule(product, kind="offer_back_in_stock")
    appeared = make_rule(product, kind="offer_appeared")
    vanished = make_rule(product, kind="offer_vanished")
    sync(product, 0, (A, 100, 3), (B, 110, 1))  # the first sync: nothing to compare to
    sync(product, 1, (A, 100, 0), (B, 110, 1))  # A sells out
    sync(product, 2, (A, 100, 2), (B, 110, 1))  # A is back
    sync(product, 3, (A, 100, 2))  # B vanishes (it had stock: it sold out too)
    sync(product, 4, (A, 100, 2), (B, 110, 4), (C, 120, 1))  # B returns, C is new
    assert fired(sold_out) == [1, 3]
    assert fired(restocked) == [2, 4]
    assert fired(appeared) == [4]
    assert fired(vanished) == [3]
    assert AlertFiring.objects.get(rule_id=appeared).message == "2 new offers; 3 in all."


def test_new_low_and_high_compare_with_the_days_before(product):
    low = make_rule(product, kind="new_low", lookback_days=7)
    high = make_rule(product, kind="new_high", lookback_days=7)
    day = 24 * 60
    for d in range(3):
        sync(product, d * day, (A, 100, 1), (B, 150, 1))
    sync(product, 3 * day, (A, 100, 1), (B, 150, 1))  # equal to the low and high: neither
    sync(product, 3 * day + 60, (A, 99, 1), (B, 151, 1))  # both new
    sync(product, 3 * day + 61, (A, 98, 1), (B, 152, 1))  # still below/above: no repeat
    assert fired(low) == [3 * day + 60]
    assert fired(high) == [3 * day + 60]
    message = AlertFiring.objects.get(rule_id=low).message
    assert message == "The cheapest offer, 99 CZK, is the lowest in 7 days (the low was 100 CZK)."


def test_new_low_is_undecided_without_earlier_days(product):
    rule = make_rule(product, kind="new_low", lookback_days=7)
    cheapest_series(product, [100, 90, 80])
    assert fired(rule) == []


# --- Noise control on a price flapping around the threshold ---------------------------------

FLAPPING = [94, 96] * 10 + [94]  # below 95 at every even minute, 0 to 20


def test_flapping_fires_at_each_return_below_the_threshold(product):
    rule = make_rule(product, kind="price_below", figure="cheapest", threshold=95)
    cheapest_series(product, FLAPPING)
    assert fired(rule) == list(range(0, 21, 2))


def test_flapping_stays_quiet_while_it_holds(product):
    rule = make_rule(product, kind="price_below", figure="cheapest", threshold=95)
    cheapest_series(product, [94] * 30)
    assert fired(rule) == [0]
    state = AlertRule.objects.get(pk=rule)
    assert not state.armed and state.streak == 1  # counted up to the debounce


def test_debounce_needs_the_condition_for_that_many_syncs_in_a_row(product):
    rule = make_rule(product, kind="price_below", figure="cheapest", threshold=95, debounce=2)
    cheapest_series(product, FLAPPING)
    assert fired(rule) == []
    cheapest_series(product, [96, 94, 94, 94, 96, 94, 96, 94, 94], start=30)
    assert fired(rule) == [32, 38]


def test_cooldown_holds_a_firing_until_it_has_passed(product):
    rule = make_rule(
        product, kind="price_below", figure="cheapest", threshold=95, cooldown_minutes=5
    )
    cheapest_series(product, FLAPPING)
    # 0; at 2 and 4 the cooldown runs; 6 fires; …
    assert fired(rule) == [0, 6, 12, 18]


def test_cooldown_fires_a_run_that_started_during_it_once_it_ends(product):
    rule = make_rule(
        product, kind="price_below", figure="cheapest", threshold=95, cooldown_minutes=5
    )
    cheapest_series(product, [94, 96, 94, 94, 94, 94, 94, 94])
    assert fired(rule) == [0, 5]


def test_a_daily_cap_records_but_does_not_send_past_it(product):
    AlertSettings.objects.create(user=product.owner, daily_cap=3)
    rule = make_rule(product, kind="price_below", figure="cheapest", threshold=95)
    cheapest_series(product, FLAPPING)
    deliveries = list(
        AlertFiring.objects.filter(rule_id=rule)
        .order_by("fired_at")
        .values_list("delivery", flat=True)
    )
    assert deliveries == [AlertDelivery.SENT] * 3 + [AlertDelivery.CAPPED] * 8
    # Capped ones are not in the feed's unread count, nor emailed.
    assert AlertFiring.objects.filter(rule_id=rule, read_at__isnull=True).count() == 3
    assert not AlertFiring.objects.filter(
        delivery=AlertDelivery.CAPPED, email_due_at__isnull=False
    ).exists()


def test_the_daily_cap_counts_from_the_owners_midnight(product):
    owner = product.owner
    owner.time_zone = "America/New_York"  # UTC−5 in March before the switch
    owner.save()
    AlertSettings.objects.create(user=owner, daily_cap=1)
    rule = make_rule(product, kind="price_below", figure="cheapest", threshold=95)
    # 04:50 and 05:10 UTC: 23:50 and 00:10 in New York, two local days.
    start = datetime(2026, 3, 2, 4, 50, tzinfo=UTC)
    cheapest_series(product, [94, 96, 94, 96, 94], start=round((start - T0) / M), every=10)
    deliveries = list(
        AlertFiring.objects.filter(rule_id=rule)
        .order_by("fired_at")
        .values_list("delivery", flat=True)
    )
    # 04:50 (day 1, sent), 05:10 (day 2, sent), 05:30 (day 2, capped).
    assert deliveries == [AlertDelivery.SENT, AlertDelivery.SENT, AlertDelivery.CAPPED]


def test_quiet_hours_hold_the_email_until_they_end(product):
    owner = product.owner
    owner.time_zone = "Europe/Prague"  # UTC+1 in March
    owner.save()
    AlertSettings.objects.create(user=owner, quiet_start=22, quiet_end=7)
    rule = make_rule(product, kind="price_below", figure="cheapest", threshold=95)
    night = datetime(2026, 3, 2, 21, 30, tzinfo=UTC)  # 22:30 in Prague
    cheapest_series(product, [94, 96], start=round((night - T0) / M))
    day = datetime(2026, 3, 3, 9, tzinfo=UTC)  # 10:00 in Prague
    cheapest_series(product, [94], start=round((day - T0) / M))
    held, sent = AlertFiring.objects.filter(rule_id=rule).order_by("fired_at")
    assert held.delivery == AlertDelivery.HELD
    prague = zoneinfo.ZoneInfo("Europe/Prague")
    assert held.email_due_at == datetime(2026, 3, 3, 7, tzinfo=prague)
    assert sent.delivery == AlertDelivery.SENT and sent.email_due_at == day


def test_a_digest_user_is_emailed_at_the_digest_hour(product):
    AlertSettings.objects.create(user=product.owner, email_mode="digest", digest_hour=8)
    rule = make_rule(product, kind="price_below", figure="cheapest", threshold=95)
    cheapest_series(product, [94])  # 09:00 UTC: after today's 08:00
    firing = AlertFiring.objects.get(rule_id=rule)
    assert firing.email_due_at == datetime(2026, 3, 3, 8, tzinfo=UTC)


def test_no_email_when_the_owner_turned_it_off(product):
    AlertSettings.objects.create(user=product.owner, email_mode="off")
    rule = make_rule(product, kind="price_below", figure="cheapest", threshold=95)
    cheapest_series(product, [94])
    assert AlertFiring.objects.get(rule_id=rule).email_due_at is None


def test_a_disabled_rule_is_not_evaluated(product):
    rule = make_rule(product, kind="price_below", figure="cheapest", threshold=95, is_enabled=False)
    cheapest_series(product, [94])
    assert fired(rule) == []
    assert AlertRule.objects.get(pk=rule).streak == 0


def test_a_rule_was_evaluated_at_its_products_last_sync_since_it_changed(product):
    rule = make_rule(product, kind="price_below", figure="cheapest", threshold=95)
    info = selectors.alert_rule_get(owner=product.owner, rule_id=rule)
    assert info.evaluated_at is None
    now = timezone.now()
    sync(product, now, (A, 100, 1))
    assert selectors.alert_rule_get(owner=product.owner, rule_id=rule).evaluated_at == now
    spec = {**info.spec, "is_enabled": False}
    services.alert_rule_update(owner=product.owner, rule_id=rule, spec=spec)
    assert selectors.alert_rule_get(owner=product.owner, rule_id=rule).evaluated_at is None


def test_a_re_enabled_rule_starts_afresh(product):
    rule = make_rule(product, kind="price_below", figure="cheapest", threshold=95, debounce=2)
    cheapest_series(product, [94])
    spec = selectors.alert_rule_get(owner=product.owner, rule_id=rule).spec
    services.alert_rule_update(
        owner=product.owner, rule_id=rule, spec={**spec, "is_enabled": False}
    )
    cheapest_series(product, [96, 96], start=1)  # not evaluated: the streak would stay at 1
    services.alert_rule_update(owner=product.owner, rule_id=rule, spec=spec)
    cheapest_series(product, [94], start=3)
    assert fired(rule) == []  # one sync in a row since it came back, not two
    cheapest_series(product, [94], start=4)
    assert fired(rule) == [4]


# --- Missing data is not a change -----------------------------------------------------------


def test_an_answer_without_offers_neither_fires_nor_re_arms_a_price_rule(product):
    rule = make_rule(product, kind="price_below", figure="cheapest", threshold=95)
    cheapest_series(product, [94, None, 94, None, None, 94])
    assert fired(rule) == [0]
    assert not AlertRule.objects.get(pk=rule).armed


def test_a_failed_sync_evaluates_nothing(registered_product, offers_simulator, settings):
    settings.OFFERS_RETRIES = 0
    product = registered_product
    # True at any answer, even one without offers (as one simulated product in ten has).
    rule = make_rule(product, kind="stock_below", threshold=10**12)
    assert services.offers_sync(product_id=product.pk).result == services.SyncResult.SYNCED
    assert len(fired(rule)) == 1
    for fault in ({"error_rate": 1.0}, {"malformed_rate": 1.0}):
        offers_simulator.set_faults(**fault)
        assert services.offers_sync(product_id=product.pk).result == services.SyncResult.FAILED
        state = AlertRule.objects.get(pk=rule)
        assert not state.armed and state.streak == 1
    offers_simulator.reset()
    assert services.offers_sync(product_id=product.pk).result == services.SyncResult.SYNCED
    assert len(fired(rule)) == 1  # still true: no repeat


# --- Atomicity and cost ---------------------------------------------------------------------


def test_a_store_that_fails_after_the_evaluation_loses_and_repeats_nothing(product):
    rule = make_rule(product, kind="price_below", figure="cheapest", threshold=95)
    cheapest_series(product, [100])
    with pytest.raises(RuntimeError), transaction.atomic():
        cheapest_series(product, [94], start=1)
        assert fired(rule) == [1]
        raise RuntimeError("the batch's transaction fails after the evaluation")
    assert fired(rule) == []
    state = AlertRule.objects.get(pk=rule)
    assert state.armed and state.streak == 0
    cheapest_series(product, [94, 94], start=2)
    assert fired(rule) == [2]


SPECS = [
    {"kind": "price_below", "figure": "cheapest", "threshold": 95},
    {"kind": "price_above", "figure": "cheapest_in_stock", "min_stock": 2, "threshold": 50},
    {
        "kind": "price_move",
        "figure": "mean",
        "direction": "either",
        "change_percent": 1,
        "window": "1h",
    },
    {"kind": "new_low", "lookback_days": 30},
    {"kind": "offer_appeared"},
]


def _store_queries(products, minute) -> int:
    answers = {
        product.pk: ([OfferData(A, 90 + minute, 5), OfferData(B, 100, 5)], T0 + minute * M)
        for product in products
    }
    with CaptureQueriesContext(connection) as queries:
        services.offers_store_many(answers)
    return len(queries)


def test_the_evaluation_costs_a_constant_number_of_queries_however_many_rules(user):
    bare = [product_create(owner=user, name=f"Bare {i}") for i in range(20)]
    one = [product_create(owner=user, name="One")]
    many = [product_create(owner=user, name=f"Many {i}") for i in range(20)]
    make_rule(one[0], **SPECS[0])
    for product in many:
        for spec in SPECS:
            make_rule(product, **spec)
    for minute in range(3):
        without = _store_queries(bare, minute)
        # The rules, their conditions, the day's firings, the firings, the states that moved.
        assert _store_queries(one, minute) <= without + 5
        assert _store_queries(many, minute) <= without + 5
    assert AlertFiring.objects.filter(product__in=many).count() > 20
