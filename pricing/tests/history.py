"""Price history written straight to the database, for the read side's tests: exact times and
prices, and long histories in a second (pricing.testing). Each helper also adds its rows to
the roll-ups, as the sync does. Not a test module."""

import math
import uuid
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from pricing.models import (
    ObservationRollup,
    Offer,
    OfferObservation,
    ProductSnapshot,
    SnapshotRollup,
)
from pricing.rollups import Sums, rollups_add, rollups_rebuild

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
    rows = ProductSnapshot.objects.bulk_create(rows, batch_size=5000)
    rollups_add(snapshots=rows, observations=[])


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
    observations = OfferObservation.objects.bulk_create(
        OfferObservation(offer=row, product=product, observed_at=at, price=p, items_in_stock=1)
        for at, p in changes
    )
    rollups_add(snapshots=[], observations=observations)
    return row


def rollup_state() -> tuple[dict, dict]:
    """Every roll-up row: (product, span, start) → Sums, and (offer, span, start) → (product,
    last observed at, price)."""
    snapshots = {
        (row.product_id, row.span, row.starts_at): Sums.of_row(row)
        for row in SnapshotRollup.objects.all()
    }
    observations = {
        (row.offer_id, row.span, row.starts_at): (row.product_id, row.last_at, row.price)
        for row in ObservationRollup.objects.all()
    }
    return snapshots, observations


def rollup_differences() -> list[str]:
    """How the roll-ups as kept differ from those rebuilt from the raw rows (which replaces
    them): [] when they are the same (floats to 1e-12, relative: sums in another order)."""
    kept_snapshots, kept_observations = rollup_state()
    rollups_rebuild()
    rebuilt_snapshots, rebuilt_observations = rollup_state()
    differences = [
        f"snapshot roll-up {key}: kept {'no row' if key not in kept_snapshots else 'a row'}, "
        f"rebuilt {'no row' if key not in rebuilt_snapshots else 'a row'}"
        for key in kept_snapshots.keys() ^ rebuilt_snapshots.keys()
    ]
    for key in kept_snapshots.keys() & rebuilt_snapshots.keys():
        kept, rebuilt = kept_snapshots[key], rebuilt_snapshots[key]
        for field in fields(Sums):
            a, b = getattr(kept, field.name), getattr(rebuilt, field.name)
            same = (
                math.isclose(a, b, rel_tol=1e-12)
                if isinstance(a, float) and isinstance(b, float)
                else a == b
            )
            if not same:
                differences.append(f"snapshot roll-up {key}: {field.name} kept {a}, rebuilt {b}")
    differences += [
        f"observation roll-up {key}: kept {kept_observations.get(key)}, rebuilt "
        f"{rebuilt_observations.get(key)}"
        for key in kept_observations.keys() | rebuilt_observations.keys()
        if kept_observations.get(key) != rebuilt_observations.get(key)
    ]
    return differences
