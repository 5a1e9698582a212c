"""Reads of alerts for the interfaces (re-exported by pricing.selectors): rules, firings and
the unread count, always scoped to their owner."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Q

from pricing.alerts.rules import EVENT_KINDS, noise_describe, rule_describe, rule_spec_of
from pricing.models import AlertDelivery, AlertFiring, AlertRule, AlertSettings


@dataclass(frozen=True, slots=True)
class AlertRuleInfo:
    id: int
    product_id: uuid.UUID
    spec: dict[str, Any]  # what rule_spec_clean takes: kind, figure, threshold, …
    description: str  # "Cheapest offer below 95 CZK"
    noise: str  # "after 3 syncs in a row, at most every 60 min"; "" when none
    is_event: bool  # fires on a change seen at one sync (debounce does not apply)
    # State: armed (fires when the condition becomes true), the syncs in a row where it held
    # (counted up to the debounce), the last firing, and the last sync that evaluated it (the
    # product's last successful sync, for an enabled rule).
    armed: bool
    streak: int
    last_fired_at: datetime | None
    evaluated_at: datetime | None
    created_at: datetime
    firings: int


def _evaluated_at(rule: AlertRule) -> datetime | None:
    """Every successful sync evaluates the product's enabled rules: the last one since the rule
    changed (None: none yet, or disabled)."""
    synced = rule.product.tracking.last_synced_at
    if not rule.is_enabled or synced is None or synced < rule.updated_at:
        return None
    return synced


def _rule_info(rule: AlertRule) -> AlertRuleInfo:
    return AlertRuleInfo(
        id=rule.pk,
        product_id=rule.product_id,
        spec=rule_spec_of(rule),
        description=rule_describe(rule),
        noise=noise_describe(rule),
        is_event=rule.kind in EVENT_KINDS,
        armed=rule.armed,
        streak=rule.streak,
        last_fired_at=rule.last_fired_at,
        evaluated_at=_evaluated_at(rule),
        created_at=rule.created_at,
        firings=rule.firing_count,
    )


def _rules(owner):
    return (
        AlertRule.objects.for_owner(owner)
        .select_related("product__tracking")
        .annotate(firing_count=Count("firings"))
        # Spelt out: an aggregate's GROUP BY drops Meta.ordering.
        .order_by("created_at", "id")
    )


def alert_rules(*, owner, product_id: uuid.UUID) -> list[AlertRuleInfo]:
    """The rules of the owner's product, oldest first (none for another's product)."""
    return [_rule_info(rule) for rule in _rules(owner).filter(product_id=product_id)]


def alert_rule_get(*, owner, rule_id: int) -> AlertRuleInfo | None:
    """The owner's rule, or None (another user's rule is None too)."""
    rule = _rules(owner).filter(pk=rule_id).first()
    return None if rule is None else _rule_info(rule)


@dataclass(frozen=True, slots=True)
class AlertFiringInfo:
    id: int
    product_id: uuid.UUID
    product_name: str
    rule_id: int | None  # None once the rule is deleted
    kind: str
    kind_label: str
    fired_at: datetime
    message: str
    values: dict[str, Any]
    delivery: str  # sent, held (quiet hours: emailed with the digest), capped (not sent)
    delivery_label: str
    read_at: datetime | None
    email_due_at: datetime | None
    email_sent_at: datetime | None
    # The webhook attempts: how many, and whether one succeeded.
    webhook_attempts: int
    webhook_delivered: bool


def _firing_info(firing: AlertFiring) -> AlertFiringInfo:
    return AlertFiringInfo(
        id=firing.pk,
        product_id=firing.product_id,
        product_name=firing.product.name,
        rule_id=firing.rule_id,
        kind=firing.kind,
        kind_label=firing.get_kind_display(),
        fired_at=firing.fired_at,
        message=firing.message,
        values=firing.values,
        delivery=firing.delivery,
        delivery_label=firing.get_delivery_display(),
        read_at=firing.read_at,
        email_due_at=firing.email_due_at,
        email_sent_at=firing.email_sent_at,
        webhook_attempts=firing.attempts,
        webhook_delivered=bool(firing.delivered),
    )


class FiringList(Sequence):
    """Firings, newest first, read a page at a time: what Django's and DRF's paginators take
    (count, then a slice)."""

    def __init__(self, queryset):
        self._queryset = queryset

    def count(self) -> int:  # type: ignore[override]  # the paginators' protocol
        return self._queryset.count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [_firing_info(firing) for firing in self._queryset[index]]
        return _firing_info(self._queryset[index])


def alert_firings(
    *,
    owner,
    product_id: uuid.UUID | None = None,
    unread: bool = False,
    include_capped: bool = True,
) -> FiringList:
    """The owner's firings (of one product when given), newest first. The feed leaves out the
    capped ones (never sent) and may ask for the unread only; the product page's history shows
    every firing."""
    firings = AlertFiring.objects.for_owner(owner)
    if product_id is not None:
        firings = firings.filter(product_id=product_id)
    if unread:
        firings = firings.unread()
    if not include_capped:
        firings = firings.exclude(delivery=AlertDelivery.CAPPED)
    return FiringList(
        firings.select_related("product")
        .annotate(
            attempts=Count("webhook_attempts"),
            delivered=Count("webhook_attempts", filter=Q(webhook_attempts__succeeded=True)),
        )
        .order_by("-fired_at", "-id")  # an aggregate's GROUP BY drops Meta.ordering
    )


def alerts_unread_count(*, owner) -> int:
    """The owner's unread firings (capped ones are never unread): the header's badge."""
    return AlertFiring.objects.for_owner(owner).unread().count()


def alert_settings_of(*, user) -> AlertSettings:
    """The user's alert settings (the defaults, unsaved, until they change one)."""
    return AlertSettings.objects.filter(user=user).first() or AlertSettings(user=user)
