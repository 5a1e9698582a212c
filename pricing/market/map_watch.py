"""MAP monitoring: offers advertised below the owner's minimum advertised price, with dated
evidence, computed in the database from the per-offer observations."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db.models import (
    Case,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    Max,
    Min,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Least

from pricing.models import Offer, OfferObservation
from pricing.times import utc


@dataclass(frozen=True, slots=True)
class MapViolation:
    """One offer's time below its product's MAP within a period [start, end).

    A price holds from its observation until the offer's next observation, until the sync
    that found the offer gone (it vanished), or until the period's end, whichever is first
    (the current price of a current offer holds until `end`). seconds_below: the time its
    price was strictly below map_price inside the period; minutes_below the same in minutes
    (float). lowest_price: its lowest price below the MAP in the period. below_from: when its
    first stretch below the MAP in the period began (the period's start if it was below
    then); below_until: when its last stretch ended (`end` if it is still below, `is_below_now`).
    current_price: its current price, None if it is no longer a current offer. All times aware,
    UTC; prices whole units of PRICE_CURRENCY.
    """

    product_id: uuid.UUID
    product_name: str
    map_price: int
    offer_id: uuid.UUID
    seconds_below: float
    lowest_price: int
    below_from: datetime
    below_until: datetime
    is_below_now: bool
    current_price: int | None

    @property
    def minutes_below(self) -> float:
        return self.seconds_below / 60

    @property
    def undercut_percent(self) -> float:
        """How far the lowest price went below the MAP, in percent of the MAP (two decimals)."""
        return round((self.map_price - self.lowest_price) * 100 / self.map_price, 2)


def map_violations(
    *, owner, start: datetime, end: datetime, product_id: uuid.UUID | None = None
) -> list[MapViolation]:
    """The owner's offers (of one product when product_id is given) that were below their
    product's MAP at some time in [start, end), ranked by time below (longest first), then
    lowest price, product name and offer id. Products without a MAP have no violations; the
    MAP is today's (a changed MAP applies to the whole period).

    Three queries whatever the number of products and observations: the stretches that begin
    inside the period, summed per offer in the database; per offer seen in the period, the
    price it had when the period began (its last observation before), cut at its first
    observation inside; and the offers found, with their products. Raises ValueError when
    end <= start or a time is naive.
    """
    start, end = utc(start, "start"), utc(end, "end")
    if end <= start:
        raise ValueError(f"end ({end}) must be after start ({start})")
    # Seen in the period, or current: a current offer's price holds while its product's syncs
    # fail (a failed fetch changes nothing).
    offers = Offer.objects.filter(
        Q(last_seen_at__gte=start) | Q(is_current=True),
        product__owner=owner,
        product__map_price__isnull=False,
        first_seen_at__lt=end,
    )
    if product_id is not None:
        offers = offers.filter(product_id=product_id)
    found: dict[int, _Found] = {}

    # Stretches that begin inside the period: one per observation below the MAP.
    next_observed = (
        OfferObservation.objects.filter(
            offer=OuterRef("offer"), observed_at__gt=OuterRef("observed_at")
        )
        .order_by("observed_at", "id")
        .values("observed_at")[:1]
    )
    inside = (
        OfferObservation.objects.filter(
            offer__in=offers.values("pk"),
            observed_at__gte=start,
            observed_at__lt=end,
            vanished=False,
            price__lt=F("product__map_price"),
        )
        .annotate(until=_held_until(Subquery(next_observed), end))
        .values("offer")
        .order_by()
        .annotate(
            held=Sum(
                ExpressionWrapper(F("until") - F("observed_at"), output_field=DurationField())
            ),
            lowest=Min("price"),
            since=Min("observed_at"),
            last=Max("until"),
        )
        .values_list("offer", "held", "lowest", "since", "last")
    )
    for offer, held, lowest, since, last in inside:
        found[offer] = _Found(held.total_seconds(), lowest, since, last)

    # The stretch running when the period began.
    before = OfferObservation.objects.filter(offer=OuterRef("pk"), observed_at__lt=start).order_by(
        "-observed_at", "-id"
    )
    first_inside = (
        OfferObservation.objects.filter(offer=OuterRef("pk"), observed_at__gte=start)
        .order_by("observed_at", "id")
        .values("observed_at")[:1]
    )
    running = (
        offers.filter(first_seen_at__lt=start)
        .annotate(
            price_then=Subquery(before.values("price")[:1]),
            gone_then=Subquery(before.values("vanished")[:1]),
        )
        .filter(price_then__lt=F("product__map_price"), gone_then=False)
        .annotate(until=_held_until(Subquery(first_inside), end, offer=""))
        .values_list("pk", "price_then", "until")
    )
    for offer, price, until in running:
        head = _Found((until - start).total_seconds(), price, start, until)
        found[offer] = head.merge(found[offer]) if offer in found else head

    details = Offer.objects.filter(pk__in=found).values_list(
        "pk", "product_id", "product__name", "product__map_price", "offer_id", "is_current", "price"
    )
    violations = [
        MapViolation(
            product_id=product,
            product_name=name,
            map_price=map_price,
            offer_id=offer_id,
            seconds_below=found[pk].seconds,
            lowest_price=found[pk].lowest,
            below_from=found[pk].since,
            below_until=found[pk].until,
            is_below_now=is_current and price < map_price,
            current_price=price if is_current else None,
        )
        for pk, product, name, map_price, offer_id, is_current, price in details
        if found[pk].seconds > 0
    ]
    violations.sort(
        key=lambda v: (-v.seconds_below, v.lowest_price, v.product_name, v.offer_id.int)
    )
    return violations


@dataclass(frozen=True, slots=True)
class _Found:
    """An offer's stretches below the MAP found so far: their length, lowest price, span."""

    seconds: float
    lowest: int
    since: datetime
    until: datetime

    def merge(self, other: _Found) -> _Found:
        return _Found(
            self.seconds + other.seconds,
            min(self.lowest, other.lowest),
            min(self.since, other.since),
            max(self.until, other.until),
        )


def _held_until(next_observed: Subquery, end: datetime, *, offer: str = "offer__"):
    """Until when a price holds: the offer's next observation; without one, the period's end
    for a current offer and the time it was last seen for one that is gone; never past `end`.
    `offer`: the path from the queryset's rows to their Offer ("" on Offer itself)."""
    end_value = Value(end, output_field=DateTimeField())
    unobserved = Case(
        When(**{f"{offer}is_current": True}, then=end_value),
        default=F(f"{offer}last_seen_at"),
        output_field=DateTimeField(),
    )
    return Least(Coalesce(next_observed, unobserved), end_value)
