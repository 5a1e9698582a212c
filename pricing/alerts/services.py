"""Writes of alerts for the interfaces (re-exported by pricing.services): rules, reading the
feed, the user's alert settings. Rule state is the evaluation's alone (pricing.alerts.evaluation);
a change of a rule's condition starts its state afresh.

Validation errors are django.core.exceptions.ValidationError with a message per field; a rule
that is not the owner's raises AlertRuleNotFound, as a missing one does.
"""

import ipaddress
import secrets
import socket
import uuid
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone

from pricing.alerts.rules import (
    RULES_PER_PRODUCT_MAX,
    STARTS_DISARMED,
    AlertRuleNotFound,
    rule_spec_clean,
)
from pricing.alerts.selectors import AlertRuleInfo, alert_rule_get
from pricing.models import AlertEmailMode, AlertFiring, AlertRule, AlertSettings
from products.models import Product

# What decides a rule's condition: changing any of these starts its state afresh.
CONDITION_FIELDS = (
    "kind",
    "figure",
    "threshold",
    "min_stock",
    "direction",
    "change_percent",
    "change_amount",
    "window",
    "lookback",
    "debounce",
)


def _locked_product(owner, product_id: uuid.UUID) -> Product:
    """The owner's product, locked as the sync's store locks it (pricing.sync._fence): a rule
    changes between two evaluations, never during one."""
    product = (
        Product.objects.select_for_update(of=("self",)).filter(pk=product_id, owner=owner).first()
    )
    if product is None:
        raise AlertRuleNotFound(product_id)
    if product.is_suspended:
        raise ValidationError("This product is suspended by staff: its alerts cannot change.")
    return product


def alert_rule_create(*, owner, product_id: uuid.UUID, spec: Mapping[str, Any]) -> AlertRuleInfo:
    """A new rule on the owner's product (AlertRuleNotFound when it is not theirs). It starts
    armed, except the kinds that need their condition false first ("back in stock")."""
    fields = rule_spec_clean(spec)
    with transaction.atomic():
        product = _locked_product(owner, product_id)
        if AlertRule.objects.filter(product=product).count() >= RULES_PER_PRODUCT_MAX:
            raise ValidationError(
                f"A product has at most {RULES_PER_PRODUCT_MAX} rules: delete one first."
            )
        rule = AlertRule.objects.create(
            product=product, armed=fields["kind"] not in STARTS_DISARMED, **fields
        )
    return alert_rule_get(owner=owner, rule_id=rule.pk)


def alert_rule_update(*, owner, rule_id: int, spec: Mapping[str, Any]) -> AlertRuleInfo:
    """Replace the rule's spec (the interfaces merge a partial change into rule_spec_of's)."""
    fields = rule_spec_clean(spec)
    with transaction.atomic():
        rule = AlertRule.objects.for_owner(owner).filter(pk=rule_id).first()
        if rule is None:
            raise AlertRuleNotFound(rule_id)
        _locked_product(owner, rule.product_id)
        rule.refresh_from_db()
        # A new condition, or one that was not evaluated for a while (disabled), starts afresh.
        reenabled = fields["is_enabled"] and not rule.is_enabled
        if reenabled or any(getattr(rule, name) != fields[name] for name in CONDITION_FIELDS):
            rule.armed, rule.streak = fields["kind"] not in STARTS_DISARMED, 0
        for name, value in fields.items():
            setattr(rule, name, value)
        rule.save()
    return alert_rule_get(owner=owner, rule_id=rule.pk)


def alert_rule_delete(*, owner, rule_id: int) -> None:
    """Delete the rule; its firings stay in the history (without their rule)."""
    with transaction.atomic():
        rule = AlertRule.objects.for_owner(owner).filter(pk=rule_id).first()
        if rule is None:
            raise AlertRuleNotFound(rule_id)
        _locked_product(owner, rule.product_id)
        rule.delete()


def alert_firings_mark_read(*, owner, firing_ids: Iterable[int] | None = None) -> int:
    """Mark the owner's unread firings read (those of `firing_ids`, or all); how many were."""
    firings = AlertFiring.objects.for_owner(owner).unread()
    if firing_ids is not None:
        firings = firings.filter(pk__in=list(firing_ids))
    return firings.update(read_at=timezone.now())


SETTINGS_FIELDS = (
    "email_mode",
    "digest_hour",
    "quiet_start",
    "quiet_end",
    "daily_cap",
    "webhook_url",
)
DAILY_CAP_MAX = 1000


def webhook_url_check(url: str) -> str | None:
    """Why the webhook URL cannot be used (None: it can): http(s) only, and, unless
    ALERT_WEBHOOKS_ALLOW_PRIVATE, a host resolving to public addresses only, so that nobody
    makes the server post to its own network. Delivery checks it again, as DNS may change."""
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        return "Enter an http:// or https:// URL."
    if settings.ALERT_WEBHOOKS_ALLOW_PRIVATE:
        return None
    host = urlsplit(url).hostname or ""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except (OSError, UnicodeError):  # UnicodeError: a name IDNA cannot encode
        return f"{host} cannot be resolved."
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if not ip.is_global:
            return "The URL must reach a public address, not a private or local one."
    return None


def alert_settings_update(*, user, changes: Mapping[str, Any]) -> AlertSettings:
    """Change some of the user's alert settings; a webhook URL set for the first time gets a
    signing secret. ValidationError names each wrong field."""
    unknown = set(changes) - set(SETTINGS_FIELDS)
    if unknown:
        raise ValidationError({name: "Unknown field." for name in sorted(unknown)})
    # Resolved before the transaction: no network wait while the row is locked.
    url = changes.get("webhook_url")
    url_problem = webhook_url_check(url.strip()) if isinstance(url, str) and url.strip() else None
    with transaction.atomic():
        prefs, _ = AlertSettings.objects.select_for_update().get_or_create(user=user)
        for name, value in changes.items():
            setattr(prefs, name, value)
        errors: dict[str, str] = {}
        if prefs.email_mode not in AlertEmailMode.values:
            errors["email_mode"] = f"Choose one of: {', '.join(AlertEmailMode.values)}."
        for name in ("digest_hour", "quiet_start", "quiet_end"):
            value = getattr(prefs, name)
            if value is None and name == "digest_hour":
                errors[name] = "Choose an hour."
            elif value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 23
            ):
                errors[name] = "Enter an hour from 0 to 23."
        if (prefs.quiet_start is None) != (prefs.quiet_end is None):
            errors["quiet_end"] = "Give both ends of the quiet hours, or neither."
        cap = prefs.daily_cap
        if isinstance(cap, bool) or not isinstance(cap, int) or not 1 <= cap <= DAILY_CAP_MAX:
            errors["daily_cap"] = f"Enter a number from 1 to {DAILY_CAP_MAX}."
        if not isinstance(prefs.webhook_url, str):
            errors["webhook_url"] = "Enter an http:// or https:// URL."
        else:
            prefs.webhook_url = prefs.webhook_url.strip()
            if url_problem:
                errors["webhook_url"] = url_problem
        if errors:
            raise ValidationError(errors)
        if prefs.webhook_url and not prefs.webhook_secret:
            prefs.webhook_secret = secrets.token_hex(32)
        prefs.save()
    return prefs


def alert_webhook_secret_rotate(*, user) -> str:
    """A new signing secret for the user's webhooks (the old one stops working at once)."""
    with transaction.atomic():
        prefs, _ = AlertSettings.objects.select_for_update().get_or_create(user=user)
        prefs.webhook_secret = secrets.token_hex(32)
        prefs.save(update_fields=["webhook_secret"])
    return prefs.webhook_secret
