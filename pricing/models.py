"""The Offers side: how each product is tracked, its offers and their history, sync runs, the
shared access token and leases.

All times are stored in UTC. Prices are integers: whole units of settings.PRICE_CURRENCY.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q

from products.models import Product


class RegistrationState(models.TextChoices):
    PENDING = "pending", "Registering"
    REGISTERED = "registered", "Registered"
    FAILED = "failed", "Registration failed"


# Of products neither suspended by staff nor owned by a deactivated user (as
# Product.objects.active()): the sync and the registrations skip the rest.
TRACKING_ACTIVE = Q(product__is_suspended=False, product__owner__is_active=True)


class ProductTrackingQuerySet(models.QuerySet):
    def active(self) -> "ProductTrackingQuerySet":
        """Of active products (TRACKING_ACTIVE)."""
        return self.filter(TRACKING_ACTIVE)

    def registered(self) -> "ProductTrackingQuerySet":
        return self.filter(registration_state=RegistrationState.REGISTERED)

    def pending(self) -> "ProductTrackingQuerySet":
        return self.filter(registration_state=RegistrationState.PENDING)


class ProductTracking(models.Model):
    """How pricing follows one product: its registration with the Offers service and the state
    of its sync.

    One row per product, created with it by pricing's receiver (pricing.receivers); only
    pricing's services write it. It lives here, not on Product, because products knows nothing
    of the Offers service (DESIGN §2).
    """

    product = models.OneToOneField(
        Product, on_delete=models.CASCADE, primary_key=True, related_name="tracking"
    )
    registration_state = models.CharField(
        max_length=16, choices=RegistrationState, default=RegistrationState.PENDING
    )
    registration_error = models.TextField(blank=True)
    registration_attempts = models.PositiveIntegerField(default=0)
    registration_next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="When a failed registration is tried again (backoff)."
    )
    registered_at = models.DateTimeField(null=True, blank=True)

    last_synced_at = models.DateTimeField(
        null=True, blank=True, help_text="The last successful sync."
    )
    last_sync_error = models.TextField(blank=True)
    last_sync_error_at = models.DateTimeField(null=True, blank=True)
    sync_failures = models.PositiveIntegerField(
        default=0, help_text="Consecutive failed syncs; 0 after a success."
    )
    # The product's sync lease (pricing.sync): a batch claims many products in one statement,
    # renews them while its calls are in flight and releases them with its store. Expired, the
    # product is free again (its holder died); only the holder's token may store an answer.
    sync_lease_holder = models.CharField(max_length=32, blank=True, editable=False)
    sync_lease_expires_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ProductTrackingQuerySet.as_manager()

    class Meta:
        verbose_name = "tracking"
        verbose_name_plural = "tracking"
        indexes = [models.Index(fields=["registration_state"])]

    def __str__(self) -> str:
        return f"{self.product_id}: {self.get_registration_state_display()}"

    @property
    def is_registered(self) -> bool:
        return self.registration_state == RegistrationState.REGISTERED


class OfferQuerySet(models.QuerySet):
    def current(self) -> "OfferQuerySet":
        """The offers in the product's latest successful answer from the service."""
        return self.filter(is_current=True)


class Offer(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="offers")
    # The service's id. The same id under another product is another offer.
    offer_id = models.UUIDField()
    price = models.PositiveBigIntegerField()
    items_in_stock = models.PositiveIntegerField()
    is_current = models.BooleanField(
        default=True, help_text="In the latest successful answer; otherwise sold out."
    )
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()

    objects = OfferQuerySet.as_manager()

    class Meta:
        ordering = ["price", "offer_id"]
        constraints = [
            models.UniqueConstraint(fields=["product", "offer_id"], name="pricing_offer_unique_id"),
        ]
        indexes = [
            models.Index(fields=["product", "is_current", "price"]),
            # Trends ask for the offers seen in a period.
            models.Index(fields=["product", "last_seen_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.offer_id} ({self.price} × {self.items_in_stock})"


class OfferObservation(models.Model):
    """An offer's price and stock, written when either changed (and when first seen), and a
    vanish marker when the offer left the answers.

    A price holds from its observation until the offer's next observation. When a sync finds a
    current offer missing from its answer, it writes a marker at the answer's time with the
    offer's last price and stock and vanished=True: the price held until then, not after. A
    marker repeats the last price, so a line that carries prices forward is unchanged by it;
    it is never a new price (no price change counts it).
    """

    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="observations")
    # Denormalised from the offer so that history reads by (product, time) use one index.
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    observed_at = models.DateTimeField()
    price = models.PositiveBigIntegerField()
    items_in_stock = models.PositiveIntegerField()
    vanished = models.BooleanField(
        default=False,
        help_text="A vanish marker: the offer left the answers here, at its last price.",
    )

    class Meta:
        ordering = ["observed_at", "id"]
        indexes = [
            models.Index(fields=["product", "observed_at"]),
            models.Index(fields=["offer", "observed_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.price} × {self.items_in_stock} at {self.observed_at:%Y-%m-%d %H:%M:%S}"


class ProductSnapshot(models.Model):
    """The product's statistics at one successful sync. Undefined figures are NULL, never 0."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="snapshots")
    taken_at = models.DateTimeField()
    offer_count = models.PositiveIntegerField()
    total_stock = models.PositiveBigIntegerField()
    min_price = models.PositiveBigIntegerField(null=True)
    max_price = models.PositiveBigIntegerField(null=True)
    mean_price = models.FloatField(null=True)
    median_price = models.FloatField(null=True)
    weighted_mean_price = models.FloatField(
        null=True, help_text="Σ price·stock / Σ stock; undefined when the total stock is 0."
    )
    # What changed since the product's previous successful sync, for alerts and their
    # back-tests (pricing.alerts). NULL at the first sync, which has nothing to compare to.
    cheapest_offer_id = models.UUIDField(null=True, help_text="The service's id; ties: lowest id.")
    offers_appeared = models.PositiveIntegerField(null=True, help_text="New or returning offers.")
    offers_vanished = models.PositiveIntegerField(null=True)
    offers_sold_out = models.PositiveIntegerField(
        null=True, help_text="Offers that had stock and now have none or vanished."
    )
    offers_restocked = models.PositiveIntegerField(
        null=True, help_text="Offers without stock (or gone) that now have stock."
    )
    # Current offers whose price went up or down since the previous successful sync (a
    # returning offer compares to its last price).
    price_rises = models.PositiveIntegerField(null=True)
    price_drops = models.PositiveIntegerField(null=True)

    class Meta:
        ordering = ["taken_at", "id"]
        get_latest_by = "taken_at"
        indexes = [models.Index(fields=["product", "taken_at"])]

    def __str__(self) -> str:
        return f"{self.product_id} at {self.taken_at:%Y-%m-%d %H:%M:%S}"


class RollupSpan(models.TextChoices):
    """The time a roll-up row covers: an hour or a day, cut in UTC."""

    HOUR = "hour", "Hour"
    DAY = "day", "Day"


class SnapshotRollup(models.Model):
    """The product's snapshots of one UTC hour or day, summed (pricing.rollups).

    Sums and counts, never averages, so that rows combine exactly into any coarser bucket: a
    bucket's mean is Σ mean_sum / Σ mean_count over its rows, as it is over its snapshots. Kept
    up to date by the sync in the transaction that writes the snapshots, and kept after the raw
    snapshots are pruned (pricing.retention): the history of every hour, for ever.
    """

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    span = models.CharField(max_length=4, choices=RollupSpan)
    starts_at = models.DateTimeField()
    snapshots = models.PositiveIntegerField()
    # Σ and count of the defined means (NULL ones, from answers without offers, are left out).
    mean_sum = models.FloatField(default=0.0)
    mean_count = models.PositiveIntegerField(default=0)
    weighted_mean_sum = models.FloatField(default=0.0)
    weighted_mean_count = models.PositiveIntegerField(default=0)
    min_price = models.PositiveBigIntegerField(null=True)
    max_price = models.PositiveBigIntegerField(null=True)
    # The highest cheapest price of the span (max of the snapshots' min_price): with min_price,
    # the extremes of the cheapest offer's price (max_price is the dearest offer's).
    max_min_price = models.PositiveBigIntegerField(null=True)
    offer_count_sum = models.PositiveBigIntegerField()
    total_stock_sum = models.PositiveBigIntegerField()
    # Σ mean², with mean_sum and mean_count: the standard deviation of the means.
    mean_sq_sum = models.FloatField(default=0.0)
    # The snapshots' change counts summed (NULL, at a first sync, counts as 0).
    price_rises = models.PositiveBigIntegerField(default=0)
    price_drops = models.PositiveBigIntegerField(default=0)
    offers_appeared = models.PositiveBigIntegerField(default=0)
    offers_vanished = models.PositiveBigIntegerField(default=0)
    offers_sold_out = models.PositiveBigIntegerField(default=0)
    offers_restocked = models.PositiveBigIntegerField(default=0)
    # Time-weighted means: each snapshot's mean and min price held from its taken_at until the
    # product's next snapshot; that interval (seconds) and interval × value are added to the
    # span of the NEXT snapshot (the one that ends it), when the held mean is defined. The
    # interval still open after the latest snapshot is the reader's to add.
    held_seconds = models.FloatField(default=0.0)
    held_mean_sum = models.FloatField(default=0.0)
    held_min_sum = models.FloatField(default=0.0)
    # The first and last snapshot of the span and their means: the percentage change starts
    # and ends at snapshots, and these are the ones left once the raw rows are pruned.
    first_at = models.DateTimeField()
    first_mean = models.FloatField(null=True)
    last_at = models.DateTimeField()
    last_mean = models.FloatField(null=True)
    # The last snapshot's min price: with last_at and last_mean, the values that hold after the
    # span (the next snapshot's held sums, a window's clipped start). NULL on rows from before
    # pricing.0011 (and when the last snapshot had no offers).
    last_min = models.PositiveBigIntegerField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["product", "span", "starts_at"], name="pricing_snapshotrollup_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product_id}: {self.span} of {self.starts_at:%Y-%m-%d %H:%M}"


class ObservationRollup(models.Model):
    """An offer's last observed price in one UTC hour or day (pricing.rollups): what a per-offer
    line draws at any bucket of an hour or more, once the raw observations are pruned."""

    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    span = models.CharField(max_length=4, choices=RollupSpan)
    starts_at = models.DateTimeField()
    last_at = models.DateTimeField()
    price = models.PositiveBigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["offer", "span", "starts_at"], name="pricing_observationrollup_unique"
            ),
        ]
        indexes = [models.Index(fields=["product", "span", "starts_at"])]

    def __str__(self) -> str:
        return (
            f"{self.offer_id}: {self.price} in the {self.span} of {self.starts_at:%Y-%m-%d %H:%M}"
        )


class RawHistoryHorizon(models.Model):
    """Since when the raw history (snapshots, observations) is whole: pricing.retention prunes
    what is older and moves this forward. A single row (pk=1); none until the first pruning.

    Before it, only the roll-ups know the history (hours and days); the trend engine reads them
    there, and buckets finer than an hour are not offered.
    """

    SINGLETON_PK = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON_PK)
    raw_since = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="pricing_rawhistoryhorizon_singleton")
        ]

    def __str__(self) -> str:
        return f"Raw history since {self.raw_since:%Y-%m-%d %H:%M}"


class SyncRun(models.Model):
    """One periodic run: how many products it enqueued (in batches) and how their syncs went."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    products_total = models.PositiveIntegerField(default=0)
    products_synced = models.PositiveIntegerField(default=0)
    products_failed = models.PositiveIntegerField(default=0)
    products_skipped = models.PositiveIntegerField(
        default=0,
        help_text="Already being synced (Sync now), suspended or deleted when reached.",
    )
    # {"<product id>": "<message>"} for the products whose sync failed in this run.
    errors = models.JSONField(default=dict, blank=True)
    # The run holds the "offers-sync-run" lease until its last product is done, or until the
    # lease expires: a run unfinished by then is stalled (a worker died), and the next may start.
    lease_holder = models.CharField(max_length=64, blank=True, editable=False)
    lease_expires_at = models.DateTimeField(editable=False)
    # False while the scheduler is still enqueueing the run's batches (products_total grows):
    # the run cannot finish before it knows how many products it has.
    is_planned = models.BooleanField(default=True, editable=False)

    class Meta:
        ordering = ["-started_at"]
        get_latest_by = "started_at"
        indexes = [models.Index(fields=["-started_at"])]

    def __str__(self) -> str:
        return f"Sync run {self.started_at:%Y-%m-%d %H:%M:%S}"

    @property
    def is_finished(self) -> bool:
        return self.finished_at is not None

    @property
    def products_done(self) -> int:
        """Products with an outcome so far."""
        return self.products_synced + self.products_failed + self.products_skipped

    def is_stalled(self, *, now: datetime) -> bool:
        """Unfinished when its lease ran out: whatever ran it is gone, and its products are
        synced again by the next run. The same rule as the lease, so the two cannot disagree."""
        return self.finished_at is None and now >= self.lease_expires_at


class OffersAccessToken(models.Model):
    """The one Offers access token every process (web, worker, shell) shares.

    A single row (pk=1). The service refuses a new token while another is valid, so a process
    that lost its token would be locked out: the token is kept here, with its expiry counted from
    when the 201 arrived, and used until it expires or a call answers 401.
    """

    SINGLETON_PK = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON_PK)
    # What the token was obtained from: a client with another base URL or refresh token does not
    # use it (pricing.offers_client.tokens.TokenBinding). A hash, never the refresh token.
    base_url = models.TextField(blank=True)
    refresh_token_fingerprint = models.CharField(max_length=64, blank=True)
    token = models.TextField(blank=True)
    obtained_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # Shown to staff; the client decides by asking the service, not by this.
    locked_out_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="The service refused a new token (400) while none was stored here: calls "
        "fail until this time at the latest. Cleared when a new token is stored.",
    )

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="pricing_token_singleton")]

    def __str__(self) -> str:
        return f"Offers access token (expires {self.expires_at})"


class Lease(models.Model):
    """A named, expiring claim: who may refresh the token, run the sync, sync one product.

    Claimed with a conditional UPDATE (works on SQLite, where select_for_update does nothing),
    and it expires, so a killed worker cannot hold it forever.
    """

    name = models.CharField(max_length=100, primary_key=True)
    holder = models.CharField(max_length=100, blank=True)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder or '—'} until {self.expires_at}"


class Heartbeat(models.Model):
    """When a process that must keep running last showed it was alive: one row per process.

    The scheduler (the one Huey consumer running the periodic task) beats every minute. Without
    it nothing is synced and no sync records a failure, so only its silence can tell.
    """

    SCHEDULER = "scheduler"

    name = models.CharField(max_length=50, primary_key=True)
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} beat at {self.beat_at:%Y-%m-%d %H:%M:%S}"


# --- Alerts (pricing.alerts) ---------------------------------------------------------------------


class AlertKind(models.TextChoices):
    """What a rule watches. States (a price under a threshold, no stock) hold for as long as
    they are true; events (an offer appears) are true at the one sync that saw them."""

    PRICE_BELOW = "price_below", "Price falls below"
    PRICE_ABOVE = "price_above", "Price rises above"
    PRICE_MOVE = "price_move", "Price moves within a window"
    CHEAPEST_CHANGED = "cheapest_changed", "Cheapest offer changes hands"
    OUT_OF_STOCK = "out_of_stock", "Product goes out of stock"
    BACK_IN_STOCK = "back_in_stock", "Product is back in stock"
    STOCK_BELOW = "stock_below", "Total stock falls below"
    OFFER_OUT_OF_STOCK = "offer_out_of_stock", "An offer sells out"
    OFFER_BACK_IN_STOCK = "offer_back_in_stock", "An offer is back in stock"
    OFFER_APPEARED = "offer_appeared", "A new offer appears"
    OFFER_VANISHED = "offer_vanished", "An offer vanishes"
    NEW_LOW = "new_low", "Lowest price in N days"
    NEW_HIGH = "new_high", "Highest price in N days"


class AlertFigure(models.TextChoices):
    """The price a price rule watches."""

    CHEAPEST = "cheapest", "Cheapest offer"
    MEAN = "mean", "Mean price"
    WEIGHTED_MEAN = "weighted_mean", "Stock-weighted mean"
    CHEAPEST_IN_STOCK = "cheapest_in_stock", "Cheapest offer with at least N in stock"


class AlertDirection(models.TextChoices):
    DOWN = "down", "Down"
    UP = "up", "Up"
    EITHER = "either", "Either way"


class AlertRuleQuerySet(models.QuerySet):
    def for_owner(self, owner) -> "AlertRuleQuerySet":
        return self.filter(product__owner=owner)


class AlertRule(models.Model):
    """A user's rule on one of their products, with its noise controls and its state.

    The state (armed, streak, last_fired_at) is written only by the evaluation, in the sync's
    store transaction (pricing.alerts.evaluation): a crash loses or repeats no firing.
    Parameters are checked by pricing.alerts.rules (the one validation, for pages and API).
    """

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="alert_rules")
    kind = models.CharField(max_length=24, choices=AlertKind)
    figure = models.CharField(max_length=24, choices=AlertFigure, blank=True)
    # Price thresholds in whole currency units; for stock_below, items.
    threshold = models.PositiveBigIntegerField(null=True, blank=True)
    # cheapest_in_stock: the least items an offer must have in stock to count.
    min_stock = models.PositiveIntegerField(null=True, blank=True)
    direction = models.CharField(max_length=8, choices=AlertDirection, blank=True)
    # price_move: at least this percentage or this amount, from the figure `window` ago.
    change_percent = models.FloatField(null=True, blank=True)
    change_amount = models.PositiveBigIntegerField(null=True, blank=True)
    window = models.DurationField(null=True, blank=True)
    # new_low / new_high: the whole UTC days before the sync's day that the price is compared to.
    lookback = models.DurationField(null=True, blank=True)

    # Noise control.
    debounce = models.PositiveSmallIntegerField(
        default=1, help_text="Consecutive syncs the condition must hold before it fires."
    )
    cooldown = models.DurationField(default=timedelta(0))
    is_enabled = models.BooleanField(default=True)

    # State, written by the evaluation only.
    armed = models.BooleanField(default=True, editable=False)
    # Consecutive syncs where the condition held, counted up to `debounce` (past it, nothing
    # changes, so a rule that keeps holding costs the store no write).
    streak = models.PositiveIntegerField(default=0, editable=False)
    last_fired_at = models.DateTimeField(null=True, blank=True, editable=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AlertRuleQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["product", "is_enabled"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.product_id}"


class AlertDelivery(models.TextChoices):
    """What became of a firing, decided when it fired."""

    SENT = "sent", "Sent"
    HELD = "held", "Held for the digest (quiet hours)"
    CAPPED = "capped", "Not sent (daily cap reached)"


class AlertFiringQuerySet(models.QuerySet):
    def for_owner(self, owner) -> "AlertFiringQuerySet":
        return self.filter(owner=owner)

    def unread(self) -> "AlertFiringQuerySet":
        return self.filter(read_at__isnull=True)


class AlertFiring(models.Model):
    """One firing of a rule: what it saw, and how it was delivered. Kept when the rule is
    deleted (its kind and message say what it was)."""

    rule = models.ForeignKey(
        AlertRule, on_delete=models.SET_NULL, null=True, blank=True, related_name="firings"
    )
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="alert_firings")
    # The product's owner, so that the feed reads by (owner, time) with one index.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_firings"
    )
    kind = models.CharField(max_length=24, choices=AlertKind)
    # When the sync that decided it took its snapshot (the answer's arrival).
    fired_at = models.DateTimeField()
    message = models.TextField()
    # The figures that triggered it: {"value": ..., "threshold": ..., "reference": ...}.
    values = models.JSONField(default=dict)
    delivery = models.CharField(max_length=8, choices=AlertDelivery, default=AlertDelivery.SENT)
    read_at = models.DateTimeField(null=True, blank=True)
    # Email: when it is due (None: not emailed), and when it went, alone or in a digest.
    email_due_at = models.DateTimeField(null=True, blank=True)
    email_sent_at = models.DateTimeField(null=True, blank=True)

    objects = AlertFiringQuerySet.as_manager()

    class Meta:
        ordering = ["-fired_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "-fired_at"]),
            models.Index(fields=["product", "-fired_at"]),
            models.Index(
                fields=["email_due_at"],
                condition=Q(email_sent_at__isnull=True, email_due_at__isnull=False),
                name="pricing_alertfiring_email_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.fired_at:%Y-%m-%d %H:%M:%S}"


class WebhookAttempt(models.Model):
    """One attempt to POST a firing to its owner's webhook, with what came of it."""

    firing = models.ForeignKey(
        AlertFiring, on_delete=models.CASCADE, related_name="webhook_attempts"
    )
    attempt = models.PositiveSmallIntegerField()
    attempted_at = models.DateTimeField()
    url = models.URLField(max_length=2000)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    succeeded = models.BooleanField(default=False)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["firing", "attempt"]
        constraints = [
            models.UniqueConstraint(
                fields=["firing", "attempt"], name="pricing_webhookattempt_unique"
            )
        ]

    def __str__(self) -> str:
        return (
            f"Attempt {self.attempt} of firing {self.firing_id}: {self.status_code or self.error}"
        )


class AlertEmailMode(models.TextChoices):
    OFF = "off", "No email"
    IMMEDIATE = "immediate", "At once"
    DIGEST = "digest", "A daily digest"


class AlertSettings(models.Model):
    """How a user's alerts reach them. One row per user, made on first use
    (pricing.alerts.selectors.alert_settings_of)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="alert_settings",
    )
    email_mode = models.CharField(
        max_length=12, choices=AlertEmailMode, default=AlertEmailMode.IMMEDIATE
    )
    # Local hours (the user's time zone), 0–23.
    digest_hour = models.PositiveSmallIntegerField(default=8)
    # Quiet from quiet_start up to quiet_end (it may wrap midnight); both None: never quiet.
    quiet_start = models.PositiveSmallIntegerField(null=True, blank=True)
    quiet_end = models.PositiveSmallIntegerField(null=True, blank=True)
    daily_cap = models.PositiveIntegerField(
        default=50, help_text="Firings delivered per local day; the rest are only recorded."
    )
    webhook_url = models.URLField(max_length=2000, blank=True)
    # The key of the webhooks' HMAC-SHA256 signature.
    webhook_secret = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name_plural = "alert settings"

    def __str__(self) -> str:
        return f"Alert settings of {self.user_id}"
