"""Price history written straight to the database, for the read side's tests: exact times and
prices, and long histories in a second (pricing.testing). Not a test module."""

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from pricing.models import Offer, OfferObservation, ProductSnapshot

T0 = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday, midnight UTC
PRAGUE = ZoneInfo("Europe/Prague")
H = timedelta(hours=1)
M = timedelta(minutes=1)


def snapshots(product, *points, offers=1, stock=10):
    """Write snapshots: each point is (taken_at, mean) or (taken_at, mean, min, max)."""
    rows = []
    for point in points:
        at, mean, *bounds = point
        if bounds:
            low, high = bounds
        else:
            low = high = None if mean is None else round(mean)
        rows.append(
            ProductSnapshot(
                product=product,
                taken_at=at,
                offer_count=0 if mean is None else offers,
                total_stock=0 if mean is None else stock,
                min_price=low,
                max_price=high,
                mean_price=mean,
                median_price=mean,
                weighted_mean_price=mean,
            )
        )
    ProductSnapshot.objects.bulk_create(rows, batch_size=5000)


def every(step, *, start=T0, count, mean=lambda i: 100.0):
    return [(start + step * i, mean(i)) for i in range(count)]


def offer(product, *, first_seen, last_seen, changes, offer_id=None):
    """An offer with its observations: `changes` is [(observed_at, price), ...]."""
    row = Offer.objects.create(
        product=product,
        offer_id=offer_id or uuid.uuid4(),
        price=changes[-1][1],
        items_in_stock=1,
        is_current=False,
        first_seen_at=first_seen,
        last_seen_at=last_seen,
    )
    OfferObservation.objects.bulk_create(
        OfferObservation(offer=row, product=product, observed_at=at, price=p, items_in_stock=1)
        for at, p in changes
    )
    return row
