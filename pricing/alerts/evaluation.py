"""The sync's side of alerts: the rules of the products a store just wrote, evaluated in bulk
in its transaction (pricing.sync.offers_store_many).

A constant number of queries per batch, however many rules: one reads the rules with their
owners' settings, one every rule's condition at its product's new snapshot (in SQL:
pricing.alerts.conditions), one counts the day's firings of the owners that fire, then one
insert of the firings and one update of the rules whose state moved. The state moves as follows, per
rule and sync:

- condition NULL (the data cannot say): nothing changes; missing data is not a change;
- False: the rule re-arms and its streak ends;
- True: the streak grows (up to `debounce`); an armed rule whose streak has reached `debounce`
  and whose cooldown has passed fires, and is disarmed until the condition has been False
  again. Event kinds (an offer appeared) are true at the one sync that saw the change: each
  one is armed.

A failed sync stores no snapshot, so it evaluates nothing. Delivery (email, webhooks) starts
once the transaction commits.
"""

import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime

from django.db import transaction
from django.db.models import F

from pricing.alerts import messages
from pricing.alerts.conditions import Params, with_conditions
from pricing.alerts.noise import delivery_of, local_day_start
from pricing.alerts.rules import EVENT_KINDS
from pricing.bulk import bulk_update_values
from pricing.models import AlertDelivery, AlertFiring, AlertRule, AlertSettings, ProductSnapshot

# The path from a snapshot to its product's rules.
RULES = "product__alert_rules__"
SNAPSHOT_FIELDS = (
    "taken_at",
    "offer_count",
    "total_stock",
    "min_price",
    "max_price",
    "mean_price",
    "weighted_mean_price",
    "cheapest_offer_id",
    "offers_appeared",
    "offers_vanished",
    "offers_sold_out",
    "offers_restocked",
)


def conditions_at(snapshot_ids: Sequence[int], rules: Iterable[AlertRule]) -> list[dict]:
    """One row per enabled rule of the snapshots' products: the snapshot's figures, the rule's
    condition there (True, False, None), the value it watched and what it compared it to.
    `rules` are those rules: their kinds, figures and directions are the cases compiled."""
    present = {
        name: {getattr(rule, name) for rule in rules} for name in ("kind", "figure", "direction")
    }
    snapshots = ProductSnapshot.objects.filter(
        pk__in=snapshot_ids, product__alert_rules__is_enabled=True
    ).annotate(rule_id=F(f"{RULES}id"))
    return list(
        with_conditions(snapshots, Params(prefix=RULES, present=present), live=True)
        .values(
            "rule_id",
            "holds",
            "watched",
            "compared_to",
            "previous_cheapest",
            *SNAPSHOT_FIELDS,
        )
        .order_by("rule_id")
    )


def alerts_evaluate(*, snapshots: Sequence[ProductSnapshot]) -> list[AlertFiring]:
    """Evaluate the rules of the snapshots' products at those snapshots (just written, in the
    caller's transaction); returns the firings made. See the module's doc for the rules."""
    rules = {
        rule.pk: rule
        for rule in AlertRule.objects.filter(
            product_id__in=[snapshot.product_id for snapshot in snapshots], is_enabled=True
        )
        .select_related("product__owner__alert_settings")
        .order_by("pk")
    }
    if not rules:
        return []
    rows = conditions_at([snapshot.pk for snapshot in snapshots], rules.values())
    due: list[tuple[AlertRule, dict]] = []
    changed: list[AlertRule] = []
    for row in rows:
        rule = rules.get(row["rule_id"])
        if rule is None or row["holds"] is None:  # enabled since the first query; undecided
            continue
        at = row["taken_at"]
        before = (rule.armed, rule.streak, rule.last_fired_at)
        if not row["holds"]:
            rule.armed, rule.streak = True, 0
        else:
            rule.streak = min(rule.streak + 1, rule.debounce)
            if rule.kind in EVENT_KINDS:  # each change is news: nothing to re-arm from
                rule.armed = True
            cooled = rule.last_fired_at is None or at >= rule.last_fired_at + rule.cooldown
            if rule.armed and rule.streak >= rule.debounce and cooled:
                rule.armed, rule.last_fired_at = False, at
                due.append((rule, row))
        if (rule.armed, rule.streak, rule.last_fired_at) != before:
            changed.append(rule)
    firings = _firings(due)
    AlertFiring.objects.bulk_create(firings)
    # Only the rules whose state moved: most syncs move none.
    bulk_update_values(changed, ["armed", "streak", "last_fired_at"])
    if firings:
        ids = [firing.pk for firing in firings]
        transaction.on_commit(lambda: _deliver(ids))
    return firings


def _settings_of(owner) -> AlertSettings:
    try:
        return owner.alert_settings
    except AlertSettings.DoesNotExist:
        return AlertSettings(user=owner)


def _firings(due: list[tuple[AlertRule, dict]]) -> list[AlertFiring]:
    """The firings of the rules that fire, delivered by their owners' settings: the daily cap
    counts what each owner was sent (or held) since their local midnight."""
    if not due:
        return []
    owners = {rule.product.owner_id: rule.product.owner for rule, _ in due}
    day_starts: dict = {}
    for rule, row in due:
        owner = owners[rule.product.owner_id]
        day_starts.setdefault(owner.pk, local_day_start(row["taken_at"], owner.zoneinfo))
    delivered: Counter[uuid.UUID | int] = Counter()
    for owner_id, fired_at in AlertFiring.objects.filter(
        owner_id__in=list(owners),
        fired_at__gte=min(day_starts.values()),
        delivery__in=[AlertDelivery.SENT, AlertDelivery.HELD],
    ).values_list("owner_id", "fired_at"):
        if fired_at >= day_starts[owner_id]:
            delivered[owner_id] += 1
    firings = []
    for rule, row in due:
        owner = owners[rule.product.owner_id]
        at: datetime = row["taken_at"]
        delivery, email_due_at = delivery_of(
            at=at,
            zone=owner.zoneinfo,
            prefs=_settings_of(owner),
            delivered_today=delivered[owner.pk],
        )
        if delivery != AlertDelivery.CAPPED:
            delivered[owner.pk] += 1
        firings.append(
            AlertFiring(
                rule=rule,
                product_id=rule.product_id,
                owner=owner,
                kind=rule.kind,
                fired_at=at,
                message=messages.firing_message(rule, row),
                values=messages.firing_values(rule, row),
                delivery=delivery,
                # Nothing to read in the feed: it was not sent.
                read_at=at if delivery == AlertDelivery.CAPPED else None,
                email_due_at=email_due_at,
            )
        )
    return firings


def _deliver(firing_ids: list[int]) -> None:
    # The task module imports the services, which import the sync, which imports this.
    from pricing.tasks import alerts_deliver_task

    alerts_deliver_task(firing_ids)
