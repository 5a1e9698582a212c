"""Retention: raw minute history is kept HISTORY_RAW_DAYS days, the roll-ups for ever.

history_prune moves the raw history's horizon (RawHistoryHorizon) to the UTC midnight
HISTORY_RAW_DAYS days back, then deletes the older snapshots and observations. The horizon moves
first, in its own transaction: from then on readers take the history before it from the
roll-ups (pricing.rollups), which hold all of it, so a deletion in progress changes nothing
they show. Deleting goes a page of products at a time (their (product, time) indexes), at most
HISTORY_PRUNE_CHUNK rows per transaction, at most HISTORY_PRUNE_MAX_ROWS per call, so the sync's
transactions never wait long behind it; the next call goes on where this one stopped.

Two kinds of old rows stay, because pages read them as "the latest": each product's latest
snapshot (its current figures, even when it has not been synced for months) and the two latest
observations of each current offer (its price and the change from the one before).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import batched

from django.conf import settings
from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery

from pricing.models import (
    Offer,
    OfferObservation,
    ProductSnapshot,
    RawHistoryHorizon,
    RollupSpan,
)
from pricing.rollups import span_start
from products.models import Product

PRODUCTS_PER_PAGE = 100


def raw_history_since() -> datetime | None:
    """Since when the raw history is whole (aware, UTC); None before the first pruning. One
    query."""
    return (
        RawHistoryHorizon.objects.filter(pk=RawHistoryHorizon.SINGLETON_PK)
        .values_list("raw_since", flat=True)
        .first()
    )


def raw_history_cutoff(*, now: datetime) -> datetime | None:
    """Where pruning at `now` moves the horizon: the UTC midnight HISTORY_RAW_DAYS days back;
    None when raw history is kept for ever (HISTORY_RAW_DAYS = 0)."""
    days = settings.HISTORY_RAW_DAYS
    if days <= 0:
        return None
    return span_start(RollupSpan.DAY, now - timedelta(days=days))


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What one history_prune call did. `done` is False when it stopped at its row limit: the
    next call goes on."""

    horizon: datetime | None
    snapshots: int
    observations: int
    done: bool


def history_prune(
    *,
    now: datetime,
    max_rows: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> PruneResult:
    """Delete the raw history older than the retention window (see the module's docstring).

    `max_rows`: at most this many rows deleted by this call (HISTORY_PRUNE_MAX_ROWS by
    default); `progress(n)` is called after each page of products with the rows it deleted.
    """
    cutoff = raw_history_cutoff(now=now)
    if cutoff is None:
        return PruneResult(None, 0, 0, True)
    budget = settings.HISTORY_PRUNE_MAX_ROWS if max_rows is None else max_rows
    current = raw_history_since()
    if current is None or current < cutoff:
        RawHistoryHorizon.objects.update_or_create(
            pk=RawHistoryHorizon.SINGLETON_PK, defaults={"raw_since": cutoff}
        )
    else:
        cutoff = current  # never backwards: what was pruned is gone
    snapshots = observations = 0
    last_pk = None
    while True:
        page = Product.objects.order_by("pk")
        if last_pk is not None:
            page = page.filter(pk__gt=last_pk)
        product_ids = list(page.values_list("pk", flat=True)[:PRODUCTS_PER_PAGE])
        if not product_ids:
            return PruneResult(cutoff, snapshots, observations, True)
        last_pk = product_ids[-1]
        deleted = _prune_snapshots(product_ids, cutoff, budget)
        snapshots += deleted
        budget -= deleted
        deleted_observations = _prune_observations(product_ids, cutoff, budget)
        observations += deleted_observations
        budget -= deleted_observations
        if progress:
            progress(deleted + deleted_observations)
        if budget <= 0:
            return PruneResult(cutoff, snapshots, observations, False)


def _prune_snapshots(product_ids: Sequence[uuid.UUID], cutoff: datetime, budget: int) -> int:
    latest = ProductSnapshot.objects.filter(product=OuterRef("pk")).order_by("-taken_at", "-id")
    kept = [
        pk
        for pk in Product.objects.filter(pk__in=product_ids)
        .order_by()
        .annotate(latest=Subquery(latest.values("id")[:1]))
        .values_list("latest", flat=True)
        if pk is not None
    ]
    old = ProductSnapshot.objects.filter(product_id__in=product_ids, taken_at__lt=cutoff)
    return _delete_in_chunks(old.exclude(pk__in=kept), budget)


def _prune_observations(product_ids: Sequence[uuid.UUID], cutoff: datetime, budget: int) -> int:
    newest = OfferObservation.objects.filter(offer=OuterRef("pk")).order_by("-observed_at", "-id")
    kept = []
    for first, second in (
        Offer.objects.current()
        .filter(product_id__in=product_ids)
        .order_by()
        .annotate(
            first=Subquery(newest.values("id")[:1]), second=Subquery(newest.values("id")[1:2])
        )
        .values_list("first", "second")
    ):
        kept += [pk for pk in (first, second) if pk is not None]
    old = OfferObservation.objects.filter(product_id__in=product_ids, observed_at__lt=cutoff)
    for chunk in batched(kept, 500):
        old = old.exclude(pk__in=chunk)
    return _delete_in_chunks(old, budget)


def _delete_in_chunks(rows: QuerySet, budget: int) -> int:
    """Delete `rows` HISTORY_PRUNE_CHUNK at a time, each chunk its own transaction, until none
    are left or `budget` rows are gone."""
    deleted = 0
    while deleted < budget:
        size = min(settings.HISTORY_PRUNE_CHUNK, budget - deleted)
        with transaction.atomic():
            chunk = list(rows.order_by().values_list("pk", flat=True)[:size])
            if not chunk:
                break
            # Nothing refers to these rows, and no signal listens: one plain DELETE.
            count, _ = rows.model.objects.filter(pk__in=chunk).delete()
        deleted += count
        if len(chunk) < size:
            break
    return deleted
