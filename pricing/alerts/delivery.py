"""Delivery of firings (DESIGN §10): emails (at once, held for quiet hours, daily digests) and
signed webhooks. The evaluation decided, in the sync's transaction, how each firing is
delivered and when its email is due (pricing.alerts.noise); this module does the sending,
after that transaction committed, and never inside one of its own.

Email: a firing is emailed once, when its `email_due_at` has come; every due firing of an owner
goes in one email (a digest when there are several). Rows are claimed by setting their
`email_sent_at` before anything is sent, with a conditional UPDATE whose row count proves the
claim, so two consumers never send one firing twice; a send that fails gives the rows back for
the next run. A crash between the claim and the send loses that email rather than repeating it.

Webhooks: one JSON POST per firing and attempt, signed with HMAC-SHA256 (webhook_signature);
every attempt is recorded as a WebhookAttempt. Retries are the task's (pricing.tasks).
"""

import enum
import hashlib
import hmac
import json
import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import requests
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from pricing.alerts.services import webhook_url_check
from pricing.models import AlertDelivery, AlertFiring, AlertSettings, WebhookAttempt
from pricing.times import database_now

logger = logging.getLogger(__name__)

SUBJECT_MAX = 150


def alerts_deliver(*, firing_ids: list[int]) -> None:
    """Deliver new firings, once the store that made them has committed: a webhook task for
    each one not capped whose owner has a webhook, then the emails due now of their owners
    (pricing.alerts.noise decided which are: the immediate ones). Held and digest emails go
    later, with the periodic alert_emails_send."""
    rows = list(
        AlertFiring.objects.filter(pk__in=list(firing_ids), owner__is_active=True)
        .exclude(delivery=AlertDelivery.CAPPED)
        .order_by("pk")
        .values_list("pk", "owner_id", "owner__alert_settings__webhook_url")
    )
    # First the webhooks: enqueueing is quick, a mail server may not be.
    for firing_id, _, webhook_url in rows:
        if webhook_url:
            _enqueue_webhook(firing_id)
    owner_ids = {owner_id for _, owner_id, _ in rows}
    if owner_ids:
        alert_emails_send(now=database_now(), owner_ids=owner_ids)


# A firing whose webhook has no attempt this long after it fired lost its task (the queue was
# down when its store committed): the periodic task enqueues it again, for a day.
WEBHOOK_FORGOTTEN_AFTER = timedelta(minutes=15)
WEBHOOK_FORGOTTEN_UNTIL = timedelta(days=1)


def webhooks_resend_forgotten(*, now: datetime) -> int:
    """Enqueue the webhooks of firings that have none of their attempts yet, fired between a
    day and WEBHOOK_FORGOTTEN_AFTER before `now`; returns how many. A receiver sees the same
    X-PA-Delivery if a slow queue delivers one twice."""
    forgotten = list(
        AlertFiring.objects.filter(
            fired_at__gte=now - WEBHOOK_FORGOTTEN_UNTIL,
            fired_at__lte=now - WEBHOOK_FORGOTTEN_AFTER,
            owner__is_active=True,
            webhook_attempts__isnull=True,
        )
        .exclude(delivery=AlertDelivery.CAPPED)
        .exclude(owner__alert_settings__webhook_url="")
        .exclude(owner__alert_settings__isnull=True)
        .values_list("pk", flat=True)
    )
    for firing_id in forgotten:
        _enqueue_webhook(firing_id)
    return len(forgotten)


def _enqueue_webhook(firing_id: int) -> None:
    # The task module imports the services, which import this.
    from pricing.tasks import webhook_deliver_task

    webhook_deliver_task(firing_id)


# --- Email ---------------------------------------------------------------------------------------


def alert_emails_send(*, now: datetime, owner_ids: Iterable | None = None) -> int:
    """Email every owner (of `owner_ids`, or all) their unsent firings due at or before `now`:
    one email per owner, a digest when several are due. Capped firings have no due time and
    are never emailed; nor are inactive users. Returns the number of emails sent.

    No firing is sent twice, however many processes call this at once: an owner's rows are
    claimed (email_sent_at = `now`) before the send; if the send fails they are unclaimed, and
    the failure logged, for the next run to try again.
    """
    due = AlertFiring.objects.filter(
        email_sent_at__isnull=True, email_due_at__lte=now, owner__is_active=True
    ).exclude(delivery=AlertDelivery.CAPPED)
    if owner_ids is not None:
        due = due.filter(owner_id__in=list(owner_ids))
    by_owner: dict = defaultdict(list)
    for owner_id, firing_id in due.order_by("owner_id", "pk").values_list("owner_id", "pk"):
        by_owner[owner_id].append(firing_id)
    return sum(_owner_email_send(firing_ids, now=now) for firing_ids in by_owner.values())


def _claim(firing_ids: list[int], *, now: datetime) -> bool:
    """Mark these firings sent, all or none: only if every one of them was still unsent.

    A conditional UPDATE never sets a row someone else set (PostgreSQL re-checks the condition
    once a concurrent writer commits; SQLite writes one transaction at a time), so a row count
    equal to the ids' proves that each of them is ours. Short of it, another run took some:
    nothing is claimed, and the next run sees what is left."""
    with transaction.atomic():
        claimed = AlertFiring.objects.filter(pk__in=firing_ids, email_sent_at__isnull=True).update(
            email_sent_at=now
        )
        if claimed != len(firing_ids):
            transaction.set_rollback(True)
            return False
    return True


def _owner_email_send(firing_ids: list[int], *, now: datetime) -> bool:
    if not _claim(firing_ids, now=now):
        logger.info("Alert emails of firings %s taken by another run", firing_ids)
        return False
    firings = list(
        AlertFiring.objects.filter(pk__in=firing_ids)
        .select_related("product", "owner")
        .order_by("fired_at", "pk")
    )
    try:
        alert_email_message(firings).send(using="default")
    except Exception:
        # Given back: the next run (within a minute) tries again.
        AlertFiring.objects.filter(pk__in=firing_ids).update(email_sent_at=None)
        logger.exception(
            "Sending the alert email of firings %s to user %s failed; will retry",
            firing_ids,
            firings[0].owner_id if firings else "?",
        )
        return False
    return True


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _product_url(firing: AlertFiring) -> str:
    """The product page's address: SITE_URL and the page's path (an email has no request to
    take the host from)."""
    path = reverse("dashboard:product", kwargs={"product_id": firing.product_id})
    return settings.SITE_URL.rstrip("/") + path


def alert_email_message(firings: list[AlertFiring]) -> EmailMultiAlternatives:
    """The email of one owner's firings (with their product and owner loaded, oldest first):
    a plain-text and an HTML body; a digest grouped by product when there are several. Times
    are in the owner's time zone."""
    owner = firings[0].owner
    items = [
        {
            "product_name": firing.product.name,
            "product_url": _product_url(firing),
            "kind_label": firing.get_kind_display(),
            "message": firing.message,
            "fired_at": firing.fired_at,
            "held": firing.delivery == AlertDelivery.HELD,
        }
        for firing in firings
    ]
    groups: dict[str, dict] = {}
    for item in items:
        group = groups.setdefault(
            item["product_url"],
            {"name": item["product_name"], "path": item["product_url"], "firings": []},
        )
        group["firings"].append(item)
    products = sorted(groups.values(), key=lambda group: (group["name"].casefold(), group["path"]))
    context = {"firings": items, "products": products, "count": len(items)}
    if len(items) == 1:
        item = items[0]
        template = "pricing/email/alert"
        subject = f"{_one_line(item['product_name'])}: {_one_line(item['message'])}"
    else:
        template = "pricing/email/alert-digest"
        about = (
            _one_line(products[0]["name"]) if len(products) == 1 else f"{len(products)} products"
        )
        subject = f"{len(items)} alerts on {about}"
    if len(subject) > SUBJECT_MAX:
        subject = subject[: SUBJECT_MAX - 1] + "…"
    # The templates' date filter shows times in the current zone: the owner's.
    with timezone.override(owner.zoneinfo):
        text = render_to_string(f"{template}.txt", context)
        html = render_to_string(f"{template}.html", context)
    message = EmailMultiAlternatives(subject=subject, body=text, to=[owner.email])
    message.attach_alternative(html, "text/html")
    return message


# --- Webhooks ------------------------------------------------------------------------------------

WEBHOOK_CONNECT_TIMEOUT = 5.0
WEBHOOK_READ_TIMEOUT = 10.0
ERROR_MAX = 500


class WebhookOutcome(enum.Enum):
    """What webhook_deliver did. Truthy exactly when the firing is delivered, so it reads as
    the bool "delivered?"; the task retries FAILED only."""

    DELIVERED = "delivered"  # this attempt got a 2xx, or an earlier one had
    FAILED = "failed"  # an answer other than 2xx, or a network error: worth another try
    REFUSED = "refused"  # the URL is refused (or there is no secret to sign with): not retried
    SKIPPED = "skipped"  # nothing to send: no such firing, capped, no webhook, owner inactive

    def __bool__(self) -> bool:
        return self is WebhookOutcome.DELIVERED


def _body_bytes(body: bytes | str) -> bytes:
    return body.encode() if isinstance(body, str) else body


def webhook_signature(secret: str, timestamp: int | str, body: bytes | str) -> str:
    """The X-PA-Signature header of a webhook: "sha256=" and the hex HMAC-SHA256, keyed by the
    secret's text (UTF-8, as shown in the settings; not hex-decoded), of
    f"{timestamp}.{body}" where timestamp is X-PA-Timestamp's text and body the request's raw
    bytes, exactly as received (never the JSON parsed and dumped again)."""
    message = f"{timestamp}.".encode() + _body_bytes(body)
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def webhook_signature_verify(
    secret: str,
    timestamp: int | str,
    body: bytes | str,
    signature: str,
    *,
    now: float | None = None,
    tolerance: float = 300,
) -> bool:
    """What a receiver checks: the signature matches (compared in constant time) and the
    timestamp is within `tolerance` seconds of `now` (unix seconds; default the clock), so a
    recorded request cannot be replayed later."""
    try:
        age = abs((time.time() if now is None else now) - int(timestamp))
    except (TypeError, ValueError):
        return False
    expected = webhook_signature(secret, timestamp, body)
    return age <= tolerance and hmac.compare_digest(expected, signature)


def webhook_payload(firing: AlertFiring) -> dict:
    """The JSON a webhook receives for a firing (its product loaded)."""
    return {
        "id": firing.pk,
        "kind": firing.kind,
        "product_id": str(firing.product_id),
        "product_name": firing.product.name,
        "fired_at": firing.fired_at.astimezone(UTC).isoformat(),
        "message": firing.message,
        "values": firing.values,
        "rule_id": firing.rule_id,
    }


def _record(firing: AlertFiring, attempt: int, **fields) -> WebhookAttempt:
    """Record an attempt as number `attempt`, or the next free one if a concurrent delivery of
    the same firing took that number."""
    for _ in range(5):
        try:
            with transaction.atomic():
                return WebhookAttempt.objects.create(firing=firing, attempt=attempt, **fields)
        except IntegrityError:
            attempt = _next_attempt(firing.pk, attempt)
    raise RuntimeError(f"Could not record a webhook attempt of firing {firing.pk}")


def _next_attempt(firing_id: int, at_least: int) -> int:
    last = WebhookAttempt.objects.filter(firing_id=firing_id).aggregate(last=Max("attempt"))
    return max(at_least, (last["last"] or 0) + 1)


def webhook_deliver(*, firing_id: int, attempt: int = 1) -> WebhookOutcome:
    """POST the firing to its owner's webhook once and record the attempt (WebhookAttempt).

    `attempt` is the least number to record: the one after those already recorded is used when
    it is higher, since a retried task runs again with its first arguments. A firing that was
    delivered already is not posted again. The URL is checked again first (webhook_url_check:
    DNS may have changed); a refused one is recorded as a failed attempt, without a request.
    The request has a 5 s connect and 10 s read timeout and follows no redirect; a 2xx answer
    is a success, anything else or a network error a failure.
    """
    firing = (
        AlertFiring.objects.filter(pk=firing_id)
        .select_related("product", "owner__alert_settings")
        .first()
    )
    if firing is None or firing.delivery == AlertDelivery.CAPPED or not firing.owner.is_active:
        return WebhookOutcome.SKIPPED
    if firing.webhook_attempts.filter(succeeded=True).exists():
        return WebhookOutcome.DELIVERED
    try:
        prefs = firing.owner.alert_settings
    except AlertSettings.DoesNotExist:
        return WebhookOutcome.SKIPPED
    url = prefs.webhook_url
    if not url:
        return WebhookOutcome.SKIPPED
    number = _next_attempt(firing.pk, attempt)
    problem = webhook_url_check(url) or ("" if prefs.webhook_secret else "No signing secret.")
    if problem:
        _record(firing, number, attempted_at=timezone.now(), url=url, error=problem)
        logger.warning("Webhook of firing %s refused: %s", firing.pk, problem)
        return WebhookOutcome.REFUSED

    body = json.dumps(webhook_payload(firing), cls=DjangoJSONEncoder, separators=(",", ":"))
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "product-aggregator-webhooks",
        "X-PA-Timestamp": str(timestamp),
        "X-PA-Signature": webhook_signature(prefs.webhook_secret, timestamp, body),
        "X-PA-Delivery": str(firing.pk),
        "X-PA-Attempt": str(number),
    }
    attempted_at, started = timezone.now(), time.monotonic()
    status_code, error = None, ""
    try:
        # No proxies or .netrc from the environment: the request goes where the URL was checked
        # to go, and carries no credentials of ours.
        with requests.Session() as session:
            session.trust_env = False
            response = session.post(
                url,
                data=body.encode(),
                headers=headers,
                timeout=(WEBHOOK_CONNECT_TIMEOUT, WEBHOOK_READ_TIMEOUT),
                allow_redirects=False,
                stream=True,  # the answer's body is never read
            )
            response.close()
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code} {response.reason or ''}".strip()
            if response.is_redirect:
                error += " (redirects are not followed)"
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}: {exc}"
    succeeded = not error
    _record(
        firing,
        number,
        attempted_at=attempted_at,
        url=url,
        status_code=status_code,
        error=error[:ERROR_MAX],
        succeeded=succeeded,
        duration_ms=round((time.monotonic() - started) * 1000),
    )
    if succeeded:
        return WebhookOutcome.DELIVERED
    logger.warning("Webhook attempt %d of firing %s failed: %s", number, firing.pk, error)
    return WebhookOutcome.FAILED
