"""The back-test (pricing.alerts.backtest) against the live evaluation: over the same history, a
rule is back-tested to fire exactly when the sync fired it."""

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from pricing import selectors, services
from pricing.models import AlertFiring, AlertSettings
from pricing.offers_client import OfferData

T0 = datetime(2026, 3, 2, tzinfo=UTC)
OFFER_IDS = [uuid.UUID(int=n) for n in range(1, 5)]

SPECS = [
    {"kind": "price_below", "figure": "cheapest", "threshold": 96},
    {"kind": "price_below", "figure": "cheapest", "threshold": 96, "debounce": 3},
    {"kind": "price_below", "figure": "cheapest", "threshold": 96, "cooldown_minutes": 45},
    {
        "kind": "price_below",
        "figure": "cheapest",
        "threshold": 96,
        "debounce": 2,
        "cooldown_minutes": 90,
    },
    {"kind": "price_above", "figure": "mean", "threshold": 103},
    {"kind": "price_below", "figure": "weighted_mean", "threshold": 100, "debounce": 2},
    {
        "kind": "price_move",
        "figure": "mean",
        "direction": "either",
        "change_percent": 3,
        "window": "1h",
    },
    {
        "kind": "price_move",
        "figure": "cheapest",
        "direction": "down",
        "change_amount": 4,
        "window": "24h",
        "cooldown_minutes": 120,
    },
    {
        "kind": "price_move",
        "figure": "weighted_mean",
        "direction": "up",
        "change_percent": 2,
        "window": "1h",
        "debounce": 2,
    },
    {"kind": "cheapest_changed"},
    {"kind": "cheapest_changed", "cooldown_minutes": 60},
    {"kind": "out_of_stock"},
    {"kind": "back_in_stock", "debounce": 2},
    {"kind": "stock_below", "threshold": 6},
    {"kind": "offer_out_of_stock"},
    {"kind": "offer_back_in_stock", "cooldown_minutes": 30},
    {"kind": "offer_appeared"},
    {"kind": "offer_vanished"},
    {"kind": "new_low", "lookback_days": 7},
    {"kind": "new_high", "lookback_days": 7, "debounce": 2},
]


def random_history(product, *, seed: int, days: int = 2, every: timedelta = timedelta(minutes=15)):
    """Syncs every `every` for `days` days: prices wandering around 100, stock going to 0 and
    back, offers vanishing and returning, now and then an answer without offers. Returns the
    last sync's time."""
    rng = random.Random(seed)
    prices = {offer_id: 100 for offer_id in OFFER_IDS}
    at = T0
    while at < T0 + timedelta(days=days):
        offers = []
        if rng.random() > 0.04:
            for offer_id in OFFER_IDS:
                prices[offer_id] = max(80, min(120, prices[offer_id] + rng.randint(-3, 3)))
                if rng.random() < 0.85:
                    stock = rng.choice([0, 0, 1, 2, 3, 5, 8])
                    offers.append(OfferData(offer_id, prices[offer_id], stock))
        services.offers_store(product=product, offers=offers, at=at)
        last, at = at, at + every
    return last


@pytest.mark.parametrize("seed", [1, 2])
def test_the_back_test_fires_when_the_evaluation_fired(product, seed):
    owner = product.owner
    rules = [
        services.alert_rule_create(owner=owner, product_id=product.pk, spec=spec).id
        for spec in SPECS
    ]
    end = random_history(product, seed=seed)
    checked = 0
    for rule_id, spec in zip(rules, SPECS, strict=True):
        live = list(
            AlertFiring.objects.filter(rule_id=rule_id)
            .order_by("fired_at")
            .values_list("fired_at", flat=True)
        )
        result = selectors.alert_backtest(owner=owner, product_id=product.pk, spec=spec, now=end)
        assert result.available, spec
        assert result.fired_at == live, spec
        assert result.fired == len(live)
        checked += bool(live)
    # The history is rich enough that most rules fired, several times.
    assert checked >= len(SPECS) - 2


def test_the_back_test_counts_syncs_days_quiet_hours_and_capped_days(product):
    owner = product.owner
    AlertSettings.objects.create(user=owner, quiet_start=0, quiet_end=6, daily_cap=2)
    spec = {"kind": "price_below", "figure": "cheapest", "threshold": 95}
    at = T0  # a sync an hour, flapping: below at even hours
    for hour in range(48):
        price = 94 if hour % 2 == 0 else 96
        services.offers_store(
            product=product,
            offers=[OfferData(OFFER_IDS[0], price, 1)],
            at=at + hour * timedelta(hours=1),
        )
    end = T0 + timedelta(hours=47)
    result = selectors.alert_backtest(owner=owner, product_id=product.pk, spec=spec, now=end)
    assert result.syncs == 48 and result.fired == 24
    assert result.held == 6  # 00:00, 02:00 and 04:00 UTC (the owner's zone), two days
    assert result.capped_days == 2  # 12 a day, over the cap of 2
    assert len(result.per_day) == 31 and sum(count for _, count in result.per_day) == 24
    assert result.since == end - timedelta(days=30) and result.until == end


def test_the_back_test_says_when_it_cannot_tell(product):
    owner = product.owner
    none_yet = selectors.alert_backtest(
        owner=owner, product_id=product.pk, spec={"kind": "out_of_stock"}
    )
    assert not none_yet.available and none_yet.reason == "No sync in the period yet."
    services.offers_store(product=product, offers=[OfferData(OFFER_IDS[0], 90, 1)], at=T0)
    per_stock = selectors.alert_backtest(
        owner=owner,
        product_id=product.pk,
        spec={"kind": "price_below", "figure": "cheapest_in_stock", "min_stock": 2, "threshold": 9},
        now=T0,
    )
    assert not per_stock.available and "cannot be back-tested" in per_stock.reason


def test_the_back_test_validates_the_rule_and_its_owner(product, other_user):
    with pytest.raises(ValidationError) as error:
        selectors.alert_backtest(
            owner=product.owner, product_id=product.pk, spec={"kind": "price_below"}
        )
    assert set(error.value.message_dict) == {"figure", "threshold"}
    with pytest.raises(services.AlertRuleNotFound):
        selectors.alert_backtest(
            owner=other_user, product_id=product.pk, spec={"kind": "out_of_stock"}
        )
