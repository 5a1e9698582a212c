"""Delivery of firings (pricing.alerts.delivery): emails at once, held for quiet hours, daily
digests, never twice; signed webhooks to a real local HTTP receiver, retried with backoff.

Firings are made the real way: a rule on a product, and a sync's store whose cheapest offer is
below its threshold (the rule re-arms when a store is above it).
"""

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from smtplib import SMTPException

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection
from django.utils import timezone

from conftest import free_port
from pricing.alerts.delivery import webhook_payload
from pricing.models import AlertDelivery, AlertFiring, AlertRule, WebhookAttempt
from pricing.offers_client import OfferData
from pricing.services import (
    WebhookOutcome,
    alert_emails_send,
    alert_settings_update,
    offers_store,
    webhook_deliver,
    webhook_signature,
    webhook_signature_verify,
    webhooks_resend_forgotten,
)
from pricing.tasks import (
    WEBHOOK_ATTEMPTS,
    WEBHOOK_RETRY_BACKOFF,
    WEBHOOK_RETRY_DELAY,
    webhook_deliver_task,
)
from products.services import product_create

OFFER = uuid.uuid4()
LOCMEM = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def rule_on(product) -> AlertRule:
    return AlertRule.objects.create(
        product=product, kind="price_below", figure="cheapest", threshold=95
    )


def fire(product, at: datetime) -> AlertFiring:
    """Store an answer whose cheapest offer (90) is below the rule's 95: the one new firing."""
    before = list(AlertFiring.objects.filter(product=product).values_list("pk", flat=True))
    offers_store(product=product, offers=[OfferData(OFFER, 90, 5)], at=at)
    return AlertFiring.objects.exclude(pk__in=before).get(product=product)


def rearm(product, at: datetime) -> None:
    """Store an answer above the threshold: the condition is false, the rule armed again."""
    offers_store(product=product, offers=[OfferData(OFFER, 100, 5)], at=at)


def set_zone(user, zone: str) -> None:
    user.time_zone = zone
    user.save(update_fields=["time_zone"])


def text_and_html(message) -> tuple[str, str]:
    (html, mimetype), *_ = message.alternatives
    assert mimetype == "text/html"
    return message.body, html


@pytest.fixture
def rule(product):
    return rule_on(product)


# --- Email ---------------------------------------------------------------------------------------


def test_an_immediate_email_goes_once_the_store_commits(
    user, huey_immediate, django_capture_on_commit_callbacks, mailoutbox
):
    set_zone(user, "Europe/Prague")
    product = product_create(owner=user, name="Tea & <Cups>")
    rule_on(product)
    at = timezone.now()
    # The store's commit enqueues the delivery task, which runs inline here.
    with django_capture_on_commit_callbacks(execute=True):
        firing = fire(product, at)

    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == ["alice@example.com"]
    assert message.subject == "Tea & <Cups>: The cheapest offer is 90 CZK, below 95 CZK."
    text, html = text_and_html(message)
    local = timezone.localtime(at, user.zoneinfo)
    assert "Tea & <Cups>: Price falls below" in text
    assert "The cheapest offer is 90 CZK, below 95 CZK." in text
    assert f"{local:%H:%M} {local.tzname()}" in text  # the owner's time zone
    assert f"http://127.0.0.1:8000/products/{product.pk}/" in text  # SITE_URL's
    assert "Tea &amp; &lt;Cups&gt;" in html and "<Cups>" not in html
    assert f'href="http://127.0.0.1:8000/products/{product.pk}/"' in html
    firing.refresh_from_db()
    assert firing.delivery == AlertDelivery.SENT
    assert firing.email_sent_at is not None

    # Never twice: a later run finds nothing left to send.
    assert alert_emails_send(now=timezone.now() + timedelta(days=2)) == 0
    assert len(mailoutbox) == 1


def test_quiet_hours_hold_emails_until_their_end_then_send_one_digest(user, product, mailoutbox):
    set_zone(user, "Europe/Prague")  # UTC+1 in January
    alert_settings_update(user=user, changes={"quiet_start": 22, "quiet_end": 7})
    grinder = product_create(owner=user, name="Grinder")
    rule_on(product)
    rule_on(grinder)

    before = fire(product, utc(2026, 1, 15, 20, 0))  # 21:00 local: not quiet
    rearm(product, utc(2026, 1, 15, 20, 30))
    late = fire(product, utc(2026, 1, 15, 22, 30))  # 23:30 local
    night = fire(grinder, utc(2026, 1, 15, 23, 0))  # 00:00 local

    assert before.delivery == AlertDelivery.SENT
    assert before.email_due_at == utc(2026, 1, 15, 20, 0)
    for held in (late, night):
        assert held.delivery == AlertDelivery.HELD
        assert held.email_due_at == utc(2026, 1, 16, 6, 0)  # 07:00 local

    assert alert_emails_send(now=utc(2026, 1, 15, 20, 1)) == 1
    assert mailoutbox[0].subject.startswith("Espresso machine: ")
    assert alert_emails_send(now=utc(2026, 1, 16, 5, 59)) == 0
    assert len(mailoutbox) == 1

    assert alert_emails_send(now=utc(2026, 1, 16, 6, 0)) == 1
    digest = mailoutbox[1]
    assert digest.subject == "2 alerts on 2 products"
    text, html = text_and_html(digest)
    # Grouped by product (by name), each firing at its local time.
    assert text.index("Espresso machine") < text.index("Grinder")
    assert "15 Jan 2026, 23:30 CET" in text
    assert "16 Jan 2026, 00:00 CET" in text
    assert f"/products/{product.pk}/" in text and f"/products/{grinder.pk}/" in text
    assert html.count("<h2") == 2
    assert set(AlertFiring.objects.values_list("email_sent_at", flat=True)) == {
        utc(2026, 1, 15, 20, 1),
        utc(2026, 1, 16, 6, 0),
    }


def test_a_daily_digest_goes_at_the_chosen_hour_in_the_owners_time_zone(
    user, product, rule, mailoutbox
):
    set_zone(user, "America/New_York")  # UTC-5 in January
    alert_settings_update(user=user, changes={"email_mode": "digest", "digest_hour": 8})
    morning = fire(product, utc(2026, 1, 15, 14, 0))  # 09:00 local: after today's digest
    rearm(product, utc(2026, 1, 15, 15, 0))
    evening = fire(product, utc(2026, 1, 16, 3, 0))  # 22:00 local, still the 15th

    for firing in (morning, evening):
        assert firing.delivery == AlertDelivery.SENT
        assert firing.email_due_at == utc(2026, 1, 16, 13, 0)  # 08:00 local on the 16th
    assert alert_emails_send(now=utc(2026, 1, 16, 8, 0)) == 0  # 08:00 in UTC is not theirs
    assert alert_emails_send(now=utc(2026, 1, 16, 12, 59)) == 0
    assert mailoutbox == []

    assert alert_emails_send(now=utc(2026, 1, 16, 13, 0)) == 1
    (digest,) = mailoutbox
    assert digest.subject == "2 alerts on Espresso machine"
    assert "15 Jan 2026, 09:00 EST" in digest.body
    assert "15 Jan 2026, 22:00 EST" in digest.body
    assert alert_emails_send(now=utc(2026, 1, 17, 13, 0)) == 0


def test_capped_firings_are_never_emailed(user, product, rule, mailoutbox):
    alert_settings_update(user=user, changes={"daily_cap": 1})
    sent = fire(product, utc(2026, 1, 15, 10, 0))
    rearm(product, utc(2026, 1, 15, 10, 5))
    capped = fire(product, utc(2026, 1, 15, 10, 10))

    assert capped.delivery == AlertDelivery.CAPPED
    assert capped.email_due_at is None
    assert alert_emails_send(now=utc(2026, 1, 20)) == 1
    (message,) = mailoutbox
    assert "10:00" in message.body and "10:10" not in message.body
    sent.refresh_from_db()
    capped.refresh_from_db()
    assert sent.email_sent_at == utc(2026, 1, 20)
    assert capped.email_sent_at is None


def test_email_mode_off_sends_nothing(user, product, rule, mailoutbox):
    alert_settings_update(user=user, changes={"email_mode": "off"})
    firing = fire(product, utc(2026, 1, 15, 10, 0))

    assert firing.delivery == AlertDelivery.SENT  # in the feed, and to webhooks
    assert firing.email_due_at is None
    assert alert_emails_send(now=utc(2026, 1, 20)) == 0
    assert mailoutbox == []


def test_only_the_given_owners_are_emailed(user, other_user, product, rule, mailoutbox):
    theirs = product_create(owner=other_user, name="Kettle")
    rule_on(theirs)
    fire(product, utc(2026, 1, 15, 10, 0))
    fire(theirs, utc(2026, 1, 15, 10, 0))

    assert alert_emails_send(now=utc(2026, 1, 15, 11, 0), owner_ids=[other_user.pk]) == 1
    assert [message.to for message in mailoutbox] == [["bob@example.com"]]
    assert alert_emails_send(now=utc(2026, 1, 15, 11, 0)) == 1
    assert mailoutbox[1].to == ["alice@example.com"]


class RefusingBackend(BaseEmailBackend):
    """A mail server that refuses: the one fault the locmem backend cannot produce."""

    def send_messages(self, messages):
        raise SMTPException("421 Service not available, try again later")


def test_a_failed_send_gives_the_firings_back_for_the_next_run(
    user, product, rule, mailoutbox, settings, caplog
):
    firing = fire(product, utc(2026, 1, 15, 10, 0))
    settings.MAILERS = {"default": {"BACKEND": f"{__name__}.RefusingBackend"}}

    assert alert_emails_send(now=utc(2026, 1, 15, 10, 1)) == 0
    firing.refresh_from_db()
    assert firing.email_sent_at is None
    assert "421 Service not available" in caplog.text

    settings.MAILERS = LOCMEM
    assert alert_emails_send(now=utc(2026, 1, 15, 10, 2)) == 1
    assert len(mailoutbox) == 1
    firing.refresh_from_db()
    assert firing.email_sent_at == utc(2026, 1, 15, 10, 2)


def test_concurrent_runs_never_send_a_firing_twice(transactional_db, django_user_model):
    owners = []
    for index in range(12):
        owner = django_user_model.objects.create_user(
            email=f"owner{index}@example.com", password="x", email_verified=True
        )
        product = product_create(owner=owner, name=f"Product {index}")
        rule_on(product)
        fire(product, utc(2026, 1, 15, 10, 0))
        rearm(product, utc(2026, 1, 15, 10, 1))
        fire(product, utc(2026, 1, 15, 10, 2))
        owners.append(owner)
    mail.outbox = []
    runs = 6
    barrier = threading.Barrier(runs)
    sent: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            sent.append(alert_emails_send(now=utc(2026, 1, 15, 11, 0)))
        except BaseException as exc:  # surfaced below, not lost in the thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sum(sent) <= len(owners)
    # A run that lost an owner's claim leaves it; whatever is left goes in the next run.
    alert_emails_send(now=utc(2026, 1, 15, 11, 1))
    assert sorted(message.to[0] for message in mail.outbox) == sorted(o.email for o in owners)
    assert all(message.subject.startswith("2 alerts") for message in mail.outbox)
    assert not AlertFiring.objects.filter(email_sent_at__isnull=True).exists()


# --- Webhooks ------------------------------------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool
    at: float


@dataclass
class Receiver:
    """A webhook receiver on a loopback port: checks the signature with `secret` (401 when it
    does not verify), answers 500 `failures` times, then 200, and records every request."""

    url: str = ""
    secret: str = ""
    failures: int = 0
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What a receiver does, as the README shows it (not our own helper)."""
    timestamp = headers["x-pa-timestamp"]
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    fresh = abs(time.time() - int(timestamp)) < 300
    return fresh and hmac.compare_digest(
        "sha256=" + expected.hexdigest(), headers["x-pa-signature"]
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            headers = {name.lower(): value for name, value in self.headers.items()}
            verified = verify(state.secret, headers, body)
            with state.lock:
                state.requests.append(Received(headers, body, verified, time.monotonic()))
                failing = state.failures > 0
                state.failures -= failing
            status = 401 if not verified else 500 if failing else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):  # quiet
            pass

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{port}/hooks/alerts"
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def webhook(user, receiver, settings):
    """The user's webhook points at the receiver, which knows the user's secret."""
    settings.ALERT_WEBHOOKS_ALLOW_PRIVATE = True
    prefs = alert_settings_update(user=user, changes={"webhook_url": receiver.url})
    receiver.secret = prefs.webhook_secret
    return receiver


def attempts_of(firing) -> list[tuple]:
    return list(
        WebhookAttempt.objects.filter(firing=firing)
        .order_by("attempt")
        .values_list("attempt", "status_code", "succeeded")
    )


def test_a_webhook_is_signed_with_the_owners_secret(webhook, product, rule):
    firing = fire(product, timezone.now())

    outcome = webhook_deliver(firing_id=firing.pk, attempt=1)

    assert outcome is WebhookOutcome.DELIVERED and outcome
    (request,) = webhook.requests
    assert request.verified
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-pa-delivery"] == str(firing.pk)
    assert request.headers["x-pa-attempt"] == "1"
    assert abs(int(request.headers["x-pa-timestamp"]) - time.time()) < 10
    assert json.loads(request.body) == {
        "id": firing.pk,
        "kind": "price_below",
        "product_id": str(product.pk),
        "product_name": "Espresso machine",
        "fired_at": firing.fired_at.astimezone(UTC).isoformat(),
        "message": "The cheapest offer is 90 CZK, below 95 CZK.",
        "values": firing.values,
        "rule_id": rule.pk,
    }
    timestamp, signature = request.headers["x-pa-timestamp"], request.headers["x-pa-signature"]
    assert webhook_signature(webhook.secret, timestamp, request.body) == signature
    assert webhook_signature_verify(webhook.secret, timestamp, request.body, signature)
    assert not webhook_signature_verify("another secret", timestamp, request.body, signature)
    assert not webhook_signature_verify(webhook.secret, timestamp, request.body + b" ", signature)
    # Replayed ten minutes later: stale.
    assert not webhook_signature_verify(
        webhook.secret, timestamp, request.body, signature, now=int(timestamp) + 600
    )

    attempt = WebhookAttempt.objects.get(firing=firing)
    assert (attempt.attempt, attempt.status_code, attempt.succeeded, attempt.error) == (
        1,
        200,
        True,
        "",
    )
    assert attempt.url == webhook.url
    assert attempt.duration_ms >= 0
    # Delivered: never posted again.
    assert webhook_deliver(firing_id=firing.pk, attempt=2) is WebhookOutcome.DELIVERED
    assert len(webhook.requests) == 1


def test_a_receiver_that_knows_another_secret_rejects_the_request(webhook, product, rule):
    webhook.secret = "not the owner's secret"
    firing = fire(product, timezone.now())

    assert webhook_deliver(firing_id=firing.pk, attempt=1) is WebhookOutcome.FAILED
    (request,) = webhook.requests
    assert not request.verified
    attempt = WebhookAttempt.objects.get(firing=firing)
    assert (attempt.status_code, attempt.succeeded) == (401, False)
    assert attempt.error == "HTTP 401 Unauthorized"


def test_failed_attempts_are_recorded_and_numbered_until_one_succeeds(webhook, product, rule):
    webhook.failures = 2
    firing = fire(product, timezone.now())

    # As Huey retries: the same arguments each time.
    outcomes = [webhook_deliver(firing_id=firing.pk, attempt=1) for _ in range(3)]

    assert outcomes == [WebhookOutcome.FAILED, WebhookOutcome.FAILED, WebhookOutcome.DELIVERED]
    assert [request.headers["x-pa-attempt"] for request in webhook.requests] == ["1", "2", "3"]
    assert all(request.verified for request in webhook.requests)
    assert attempts_of(firing) == [(1, 500, False), (2, 500, False), (3, 200, True)]
    assert WebhookAttempt.objects.get(firing=firing, attempt=1).error.startswith("HTTP 500")


def test_a_network_error_is_a_failed_attempt(user, product, rule, settings):
    settings.ALERT_WEBHOOKS_ALLOW_PRIVATE = True
    nobody = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    alert_settings_update(user=user, changes={"webhook_url": nobody})
    firing = fire(product, timezone.now())

    assert webhook_deliver(firing_id=firing.pk, attempt=1) is WebhookOutcome.FAILED
    attempt = WebhookAttempt.objects.get(firing=firing)
    assert attempt.status_code is None and not attempt.succeeded
    assert attempt.error.startswith("ConnectionError")


def test_the_webhook_task_retries_about_six_times_over_an_hour_with_backoff(
    webhook, product, rule, huey_immediate
):
    assert webhook_deliver_task.task_class.default_retries == WEBHOOK_ATTEMPTS - 1 == 5
    webhook.failures = 100
    firing = fire(product, timezone.now())
    started = huey_immediate._get_timestamp()

    webhook_deliver_task(firing.pk)  # runs inline, fails, and is scheduled again
    # Run each retry now, telling Huey its time has come: each delay then counts from now.
    delays = []
    while huey_immediate.scheduled_count():
        (task,) = huey_immediate.read_schedule(datetime.max)
        delays.append((task.eta - started).total_seconds())
        huey_immediate.execute(task, timestamp=task.eta)

    expected = [WEBHOOK_RETRY_DELAY * WEBHOOK_RETRY_BACKOFF**n for n in range(WEBHOOK_ATTEMPTS - 1)]
    assert expected == [120, 240, 480, 960, 1920]
    assert delays == pytest.approx(expected, abs=10)
    assert 55 * 60 < sum(expected) < 70 * 60  # the last try about an hour after the first
    assert attempts_of(firing) == [(n, 500, False) for n in range(1, WEBHOOK_ATTEMPTS + 1)]
    assert [request.headers["x-pa-attempt"] for request in webhook.requests] == [
        str(n) for n in range(1, WEBHOOK_ATTEMPTS + 1)
    ]


def test_a_refused_private_url_is_a_failed_attempt_without_a_request_and_no_retry(
    webhook, product, rule, settings, huey_immediate
):
    firing = fire(product, timezone.now())
    settings.ALERT_WEBHOOKS_ALLOW_PRIVATE = False  # as in production: 127.0.0.1 is refused

    webhook_deliver_task(firing.pk)

    assert webhook.requests == []
    attempt = WebhookAttempt.objects.get(firing=firing)
    assert (attempt.attempt, attempt.status_code, attempt.succeeded) == (1, None, False)
    assert "public address" in attempt.error
    assert huey_immediate.scheduled_count() == 0


def test_delivery_posts_webhooks_for_sent_and_held_firings_but_not_capped(
    user, webhook, product, rule, huey_immediate, django_capture_on_commit_callbacks, mailoutbox
):
    # Tomorrow at 10:00 in the owner's zone, quiet from 10 to 12: the firing is held, its email
    # waits until 12:00 (after now, whenever the test runs); the next, that day, is capped.
    local = timezone.localtime(timezone.now(), user.zoneinfo) + timedelta(days=1)
    ten = local.replace(hour=10, minute=0, second=0, microsecond=0)
    alert_settings_update(user=user, changes={"quiet_start": 10, "quiet_end": 12, "daily_cap": 1})
    with django_capture_on_commit_callbacks(execute=True):
        held = fire(product, ten)
    with django_capture_on_commit_callbacks(execute=True):
        rearm(product, ten + timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        capped = fire(product, ten + timedelta(minutes=2))

    assert (held.delivery, capped.delivery) == (AlertDelivery.HELD, AlertDelivery.CAPPED)
    assert [json.loads(request.body)["id"] for request in webhook.requests] == [held.pk]
    assert attempts_of(held) == [(1, 200, True)]
    assert attempts_of(capped) == []
    assert mailoutbox == []
    held.refresh_from_db()
    assert held.email_sent_at is None and held.email_due_at == ten + timedelta(hours=2)


def test_a_webhook_whose_task_was_lost_is_sent_by_the_periodic_task(
    webhook, product, rule, huey_immediate
):
    # Stored without running its on-commit delivery: as if the queue was down at the commit.
    now = timezone.now()
    lost = fire(product, now - timedelta(minutes=20))
    rearm(product, now - timedelta(minutes=19))
    recent = fire(product, now - timedelta(minutes=2))  # its task may still be queued
    assert webhooks_resend_forgotten(now=now) == 1
    assert [json.loads(request.body)["id"] for request in webhook.requests] == [lost.pk]
    assert attempts_of(lost) == [(1, 200, True)] and attempts_of(recent) == []
    assert webhooks_resend_forgotten(now=now) == 0  # it has its attempt now


def test_the_payload_is_what_the_docs_say(product, rule):
    firing = fire(product, utc(2026, 1, 15, 10, 0))
    assert webhook_payload(firing)["fired_at"] == "2026-01-15T10:00:00+00:00"


@pytest.mark.slow
def test_a_real_consumer_retries_a_failing_webhook_with_growing_delays(
    webhook, product, rule, huey_consumer, wait_until
):
    from huey.contrib.djhuey import HUEY

    webhook.failures = 2
    firing = fire(product, timezone.now())  # committed: its delivery task is queued...
    HUEY.flush()  # ...and dropped: this test enqueues its own, with short delays
    # The task's own schedule (2, 4, 8... minutes) in seconds instead.
    HUEY.enqueue(webhook_deliver_task.s(firing.pk, retry_delay=2, retry_backoff=2))
    huey_consumer("--no-periodic")

    wait_until(
        lambda: WebhookAttempt.objects.filter(firing=firing, succeeded=True).exists(),
        timeout=45,
        message=lambda: f"the third attempt succeeds\n{huey_consumer.logs()}",
    )
    assert attempts_of(firing) == [(1, 500, False), (2, 500, False), (3, 200, True)]
    first, second, third = (request.at for request in webhook.requests)
    assert second - first >= 1.9
    assert third - second >= 3.9  # the delay doubled
