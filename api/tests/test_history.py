"""A product's trend through the API: the product page's figures, its parameters and limits."""

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from api.tests.conftest import errors

pytestmark = pytest.mark.django_db


def history(product) -> str:
    return reverse("api:product-history", kwargs={"product_id": product.pk})


@pytest.fixture
def product(make_product, store_offers):
    """Two syncs an hour apart: offers at 100 and 300, then the 100 one gone, one at 120, and the
    300 one again (the mean rises by 5 %)."""
    kept = uuid.uuid4()
    product = make_product("Mine", [(kept, 300, 1), (100, 1)], synced_ago=timedelta(hours=3))
    store_offers(product, [(120, 1), (kept, 300, 1)], at=timezone.now() - timedelta(hours=2))
    return product


def test_the_default_is_the_last_24_hours_in_the_users_zone(api, user, product):
    user.time_zone = "Europe/Prague"
    user.save()
    before = timezone.now()
    body = api.get(history(product)).json()
    start, end = datetime.fromisoformat(body["start"]), datetime.fromisoformat(body["end"])
    assert before <= end <= timezone.now()
    assert end - start == timedelta(hours=24)
    assert body["tz"] == "Europe/Prague"
    assert start.utcoffset() == ZoneInfo("Europe/Prague").utcoffset(start.replace(tzinfo=None))
    assert body["interval"] == "raw"  # two snapshots fit unbucketed
    assert [p["mean_price"] for p in body["points"]] == [200.0, 210.0]
    assert body["change"] == 5.0
    assert body["currency"] == "CZK"


def test_each_offer_has_its_prices(api, product):
    body = api.get(history(product)).json()
    lines = sorted([price["price"] for price in offer["prices"]] for offer in body["offers"])
    # The 100 offer vanished when 120 appeared; the 300 offer is in both answers.
    assert sorted(lines) == [[100], [120], [300, 300]]
    assert body["value_count"] == 4 * 2 + 4
    assert api.get(history(product), {"offers": "false"}).json()["offers"] == []


def test_the_trend_is_the_product_pages_for_the_same_period_and_zone(
    user, user_client, api, make_product, minute_history
):
    user.time_zone = "America/New_York"
    user.save()
    product = make_product("Long", [(100, 10)], synced_ago=timedelta(minutes=1))
    now = timezone.now().replace(second=0, microsecond=0)
    minute_history(product, start=now - timedelta(days=8), count=8 * 24 * 60 - 5)
    for period in ("24h", "7d", "30d", "all"):
        page = user_client.get(
            reverse("dashboard:product", kwargs={"product_id": product.pk}),
            {"period": period, "offers": "1"},
        )
        trend = page.context["trend"]
        body = api.get(
            history(product),
            {"from": trend.start.isoformat(), "to": trend.end.isoformat()},
        ).json()
        assert body["interval"] == trend.bucket.value, period
        assert body["change"] == trend.change
        assert body["value_count"] == trend.value_count
        assert [p["at"] for p in body["points"]] == [p.at.isoformat() for p in trend.points]
        assert [(p["mean_price"], p["min_price"], p["max_price"]) for p in body["points"]] == [
            (p.mean, p.min, p.max) for p in trend.points
        ]
        assert [o["id"] for o in body["offers"]] == [str(o.offer_id) for o in trend.offers]


def test_an_explicit_interval_and_zone(api, product):
    body = api.get(history(product), {"interval": "hour", "tz": "Asia/Kolkata"}).json()
    assert body["interval"] == "hour"
    assert body["tz"] == "Asia/Kolkata"
    assert all(p["at"].endswith("+05:30") for p in body["points"])


def test_an_interval_that_does_not_fit_is_refused_naming_one_that_does(
    api, make_product, minute_history
):
    product = make_product("Long", [(100, 10)])
    start = timezone.now() - timedelta(days=3)
    minute_history(product, start=start, count=3 * 24 * 60 - 5)
    response = api.get(history(product), {"interval": "minute", "from": start.isoformat()})
    assert response.status_code == 400
    assert errors(response) == {"interval": "too_many_values"}
    detail = response.json()["errors"][0]["detail"]
    assert "5,000" in detail and "bucket fits" in detail
    body = api.get(history(product), {"from": start.isoformat()}).json()
    assert body["value_count"] <= 5000
    assert body["interval"] in ("5min", "15min")


def test_minutes_beyond_the_raw_window_are_refused_hours_answered(
    api, make_product, minute_history, settings
):
    from pricing.services import history_prune

    settings.HISTORY_RAW_DAYS = 2
    product = make_product("Old", [(100, 10)])
    start = timezone.now() - timedelta(days=5)
    minute_history(product, start=start, count=4 * 24 * 60)
    history_prune(now=timezone.now())
    old = {
        "from": (start + timedelta(hours=1)).isoformat(),
        "to": (start + timedelta(hours=4)).isoformat(),
    }
    response = api.get(history(product), {**old, "interval": "minute"})
    assert response.status_code == 400
    assert errors(response) == {"interval": "interval_too_fine"}
    assert "2 days of minute history" in response.json()["errors"][0]["detail"]
    body = api.get(history(product), old).json()
    # Three hours from a time within a minute: two whole hours are left of it, by the hour.
    assert body["interval"] == "hour" and len(body["points"]) == 2


@pytest.mark.parametrize(
    ("params", "attr", "code"),
    [
        ({"from": "yesterday"}, "from", "invalid"),
        ({"from": "2026-12-01T00:00:00"}, "from", "naive"),
        ({"to": "2026-13-01T00:00:00Z"}, "to", "invalid"),
        ({"from": "0001-01-01T00:00:00+01:00"}, "from", "out_of_range"),
        ({"from": "2026-12-02T00:00:00Z", "to": "2026-12-01T00:00:00Z"}, "to", "invalid"),
        ({"from": "2026-12-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"}, "to", "invalid"),
        ({"from": "8999-01-01T00:00:00Z"}, "from", "invalid"),  # after now, `to` defaults to now
        ({"interval": "second"}, "interval", "invalid_choice"),
        ({"tz": "Mars/Olympus"}, "tz", "invalid"),
        ({"offers": "maybe"}, "offers", "invalid"),
        ({"period": "24h"}, "period", "unknown"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(api, product, params, attr, code):
    response = api.get(history(product), params)
    assert response.status_code == 400, response.json()
    assert errors(response) == {attr: code}


def test_a_plus_sign_sent_unencoded_still_reads_as_an_offset(api, product):
    start = (timezone.now() - timedelta(hours=6)).astimezone(ZoneInfo("Europe/Prague"))
    query = f"?from={start.isoformat()}"  # "+01:00" arrives as " 01:00"
    body = api.get(history(product) + query).json()
    assert datetime.fromisoformat(body["start"]) == start


def test_an_empty_period_has_no_points_and_no_change(api, product):
    body = api.get(
        history(product),
        {"from": "2020-01-01T00:00:00Z", "to": datetime(2020, 2, 1, tzinfo=UTC).isoformat()},
    ).json()
    assert (body["points"], body["offers"], body["change"]) == ([], [], None)
