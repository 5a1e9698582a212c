"""What the API reads and writes. Serializers validate and shape data; they never write: the
views hand validated data to the services (accounts, products, pricing).

Input is strict: a name the serializer does not know is refused (a typo must not pass silently),
and text fields take strings only (DRF would turn 42 into "42").
"""

import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail, ValidationError

from accounts.models import User, normalize_email_address
from accounts.services import user_signup_hides_accounts
from pricing.selectors import (
    LOOKBACK_DAYS,
    WINDOWS,
    AlertDelivery,
    AlertDirection,
    AlertEmailMode,
    AlertFigure,
    AlertKind,
    Bucket,
    CurrentStatistics,
    MemoryWindow,
    Movement,
    PricePosition,
    ProductOrder,
    ProductSyncStatus,
    RegistrationState,
    SyncState,
)
from products.models import (
    DESCRIPTION_MAX_LENGTH,
    NAME_MAX_LENGTH,
    REFERENCE_PRICE_MAX,
    Product,
)

# --- Strict input ----------------------------------------------------------------------------


class StrictSerializer(serializers.Serializer):
    """Refuses names it does not know. The names of the answer's read-only fields (`answer_fields`)
    are known and ignored, so that an answer can be sent back with changes."""

    answer_fields: frozenset[str] = frozenset()

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            known = self.fields.keys() | self.answer_fields
            unknown = sorted(str(name) for name in data if name not in known)
            if unknown:
                raise ValidationError(
                    {name: [ErrorDetail("Unknown field.", code="unknown")] for name in unknown}
                )
        return super().to_internal_value(data)


class TextField(serializers.CharField):
    """A string, and only a string (DRF's CharField would take numbers). NUL is refused too
    (CharField's own validator): PostgreSQL cannot store it. max_length counts what was sent,
    as the schema's maxLength does, not what is left once trimmed."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        if self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)


class EmailAddressField(TextField, serializers.EmailField):
    pass


@extend_schema_field(OpenApiTypes.DATETIME)
class TimeField(serializers.Field):
    """An aware time, written ISO 8601 with the offset it carries (UTC for stored times, the
    asked-for zone in a trend) rather than DRF's active time zone, which differs between
    session and token requests."""

    def to_representation(self, value: datetime) -> str:
        return value.isoformat()


class WholeNumberField(serializers.IntegerField):
    """A JSON integer, and only that (DRF's IntegerField takes "12", 12.0 and true)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


TIME_ZONES = sorted(zoneinfo.available_timezones())


class TimeZoneField(serializers.Field):
    """An IANA time zone name, as the profile page's menu lists them (the schema too: the
    `TimeZone` component, api.schema)."""

    def to_internal_value(self, data) -> str:
        if data not in TIME_ZONES:
            raise ValidationError(
                "Not a time zone: use an IANA name such as Europe/Prague.", "invalid"
            )
        return data

    def to_representation(self, value: str) -> str:
        return value


# --- Users and tokens --------------------------------------------------------------------------


def _free_email(value: str, *, user: User | None = None) -> str:
    """The address in its stored spelling, refused when another account has it in any case."""
    try:
        email = normalize_email_address(value)
    except ValueError as error:
        raise ValidationError(str(error), "invalid") from None
    taken = User.objects.filter(email__iexact=email)
    if user is not None:
        taken = taken.exclude(pk=user.pk)
    if taken.exists():
        raise ValidationError("A user with this email address already exists.", "unique")
    return email


def _check_password(password: str, user: User) -> None:
    try:
        validate_password(password, user=user)
    except DjangoValidationError as error:
        raise ValidationError({"password": list(error.messages)}) from None


class UserSerializer(serializers.ModelSerializer):
    """An account as its owner sees it (never the password)."""

    date_joined = TimeField(read_only=True)
    email_verified = serializers.SerializerMethodField(
        help_text="Whether the address is confirmed (the link in the email we sent)."
    )

    class Meta:
        model = User
        fields = ["email", "full_name", "time_zone", "date_joined", "email_verified"]
        read_only_fields = fields

    def get_email_verified(self, user: User) -> bool:
        if user.pk is None:  # the stand-in of a signup with a taken address
            return False
        return user.emailaddress_set.filter(email=user.email, verified=True).exists()


class UserCreateSerializer(StrictSerializer):
    email = EmailAddressField(max_length=254)
    password = TextField(
        write_only=True,
        trim_whitespace=False,
        max_length=128,
        style={"input_type": "password"},
        help_text="Checked by the same rules as the signup page (length, not common, …).",
    )
    full_name = TextField(max_length=150, required=False, allow_blank=True, default="")

    def validate_email(self, value: str) -> str:
        if user_signup_hides_accounts():  # taken or not, the service answers alike
            try:
                return normalize_email_address(value)
            except ValueError as error:
                raise ValidationError(str(error), "invalid") from None
        return _free_email(value)

    def validate(self, attrs):
        _check_password(attrs["password"], User(email=attrs["email"], full_name=attrs["full_name"]))
        return attrs


class UserUpdateSerializer(StrictSerializer):
    """PUT replaces email, full name and time zone (all required); PATCH changes what it names.
    A new password needs the current one."""

    email = EmailAddressField(max_length=254)
    full_name = TextField(max_length=150, allow_blank=True)
    time_zone = TimeZoneField(help_text="An IANA time zone, e.g. Europe/Prague.")
    password = TextField(
        write_only=True,
        required=False,
        trim_whitespace=False,
        max_length=128,
        style={"input_type": "password"},
        help_text="A new password; `current_password` is required with it.",
    )
    current_password = TextField(
        write_only=True, required=False, trim_whitespace=False, max_length=128
    )
    answer_fields = frozenset(UserSerializer.Meta.fields)

    def validate_email(self, value: str) -> str:
        return _free_email(value, user=self.instance)

    def validate(self, attrs):
        user: User = self.instance
        if "password" in attrs:
            current = attrs.pop("current_password", None)
            if current is None:
                raise ValidationError(
                    {"current_password": ["Give your current password to set a new one."]},
                    "required",
                )
            if not user.check_password(current):
                raise ValidationError(
                    {"current_password": ["That is not your current password."]}, "invalid"
                )
            _check_password(attrs["password"], user)
        elif "current_password" in attrs:
            raise ValidationError(
                {"current_password": ["Only needed with a new password."]}, "unexpected"
            )
        return attrs


class TokenRequestSerializer(StrictSerializer):
    email = TextField(max_length=254)
    password = TextField(trim_whitespace=False, max_length=128, style={"input_type": "password"})


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(
        help_text="Send it as `Authorization: Token <token>`. Asking again gives the same one "
        "until it is revoked."
    )


# --- Products ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProductFigures:
    """A product with what pricing says of it, as the API shows it."""

    product: Product
    status: ProductSyncStatus
    statistics: CurrentStatistics
    change_24h: float | None
    position: PricePosition
    currency: str


class StatisticsSerializer(serializers.Serializer):
    """The statistics of the current offers (null before the first sync; prices null when
    there are no offers, weighted_mean_price when there is no stock)."""

    offer_count = serializers.IntegerField(allow_null=True)
    total_stock = serializers.IntegerField(allow_null=True)
    min_price = serializers.IntegerField(allow_null=True)
    max_price = serializers.IntegerField(allow_null=True)
    mean_price = serializers.FloatField(allow_null=True)
    median_price = serializers.FloatField(allow_null=True)
    weighted_mean_price = serializers.FloatField(
        allow_null=True, help_text="Σ price·stock / Σ stock."
    )
    as_of = TimeField(allow_null=True, help_text="When the sync that gave them finished.")


class SyncStatusSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=[state.value for state in SyncState])
    message = serializers.CharField(
        help_text="What explains the state: the suspension reason staff gave, or what a failed "
        "registration or sync means for you; empty when none."
    )
    last_synced_at = TimeField(allow_null=True, help_text="The last successful sync.")
    last_attempt_at = TimeField(allow_null=True, help_text="The last sync, successful or not.")


class PricePositionSerializer(serializers.Serializer):
    """Where your price stands among the current offers (those of the latest successful sync).
    Figures that need my_price are null without it; figures that need offers are null when
    there are none (never synced, or no offers at the last sync)."""

    offer_count = serializers.IntegerField(
        allow_null=True, help_text="The current offers compared with (null: never synced)."
    )
    rank = serializers.IntegerField(
        allow_null=True,
        help_text="1 + the offers strictly cheaper than my_price: 1 means nobody is cheaper; "
        "offers at your price share your rank.",
    )
    rank_of = serializers.IntegerField(
        allow_null=True, help_text="How many prices are ranked: the offers and yours."
    )
    tied_count = serializers.IntegerField(
        allow_null=True, help_text="Offers at exactly my_price (they share your rank)."
    )
    index_to_mean = serializers.FloatField(
        allow_null=True,
        help_text="my_price ÷ the offers' mean price, in percent (two decimals): 100.00 is the "
        "same, above is dearer.",
    )
    index_to_min = serializers.FloatField(
        allow_null=True, help_text="my_price ÷ the cheapest offer, in percent (two decimals)."
    )
    undercut_count = serializers.IntegerField(
        allow_null=True, help_text="Offers strictly below my_price."
    )
    undercut_max = serializers.IntegerField(
        allow_null=True,
        help_text="How far the cheapest offer is below my_price; null when nobody undercuts.",
    )
    undercut_mean = serializers.FloatField(
        allow_null=True,
        help_text="The mean amount the undercutting offers are below my_price; null when "
        "nobody undercuts.",
    )
    below_map_count = serializers.IntegerField(
        allow_null=True,
        help_text="Current offers strictly below map_price (null without a MAP or offers).",
    )
    as_of = TimeField(allow_null=True, help_text="When the sync that gave the offers finished.")


class ProductSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="product.pk")
    name = serializers.CharField(source="product.name")
    description = serializers.CharField(source="product.description")
    my_price = serializers.IntegerField(
        source="product.my_price",
        allow_null=True,
        help_text="What you sell it for (whole units of `currency`); null: not set.",
    )
    map_price = serializers.IntegerField(
        source="product.map_price",
        allow_null=True,
        help_text="Your minimum advertised price: offers below it are MAP violations; null: "
        "not set.",
    )
    created_at = TimeField(source="product.created_at")
    updated_at = TimeField(source="product.updated_at")
    suspended = serializers.BooleanField(
        source="product.is_suspended",
        help_text="Suspended by staff: read-only and not synced (writes get 409).",
    )
    suspension_reason = serializers.CharField(source="product.suspension_reason")
    registration_state = serializers.ChoiceField(
        source="status.registration_state", choices=[state.value for state in RegistrationState]
    )
    sync = SyncStatusSerializer(source="status")
    statistics = StatisticsSerializer()
    change_24h = serializers.FloatField(
        allow_null=True,
        help_text="Percentage change of the mean price over the last 24 hours (two decimals); "
        "null when undefined.",
    )
    position = PricePositionSerializer()
    currency = serializers.CharField(help_text="Prices are whole units of this currency.")


class ProductCreateSerializer(StrictSerializer):
    answer_fields = frozenset(ProductSerializer._declared_fields)
    name = TextField(max_length=NAME_MAX_LENGTH)
    description = TextField(
        max_length=DESCRIPTION_MAX_LENGTH, allow_blank=True, required=False, default=""
    )
    my_price = WholeNumberField(
        min_value=1,
        max_value=REFERENCE_PRICE_MAX,
        allow_null=True,
        required=False,
        help_text="What you sell it for, in whole units of the currency (1 to 10^12); null or "
        "left out: not set.",
    )
    map_price = WholeNumberField(
        min_value=1,
        max_value=REFERENCE_PRICE_MAX,
        allow_null=True,
        required=False,
        help_text="Your minimum advertised price (MAP), in whole units (1 to 10^12): offers "
        "below it are violations. null or left out: not set.",
    )


class ProductReplaceSerializer(ProductCreateSerializer):
    """PUT: every field is required (a missing one is an error, not a blank; null clears a
    price); PATCH (partial): only the named fields change."""

    description = TextField(max_length=DESCRIPTION_MAX_LENGTH, allow_blank=True)

    def get_fields(self):
        fields = super().get_fields()
        for name in ("my_price", "map_price"):
            fields[name].required = True
        return fields


def _orderings() -> list[str]:
    return [f"{sign}{order.value}" for order in ProductOrder for sign in ("", "-")]


class PageQuerySerializer(StrictSerializer):
    """The page of a list: checked, where the paginator alone would ignore a bad page_size."""

    page = serializers.IntegerField(required=False, min_value=1)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=200)


# The periods of the market figures (MAP violations, what moved), ending now.
PERIODS = {
    window.value: window.length
    for window in (MemoryWindow.DAY, MemoryWindow.WEEK, MemoryWindow.MONTH)
}


def period_field(**kwargs) -> serializers.ChoiceField:
    return serializers.ChoiceField(choices=list(PERIODS), required=False, **kwargs)


class ProductListQuerySerializer(PageQuerySerializer):
    search = TextField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="Products whose name or description contains this, in any case.",
    )
    ordering = serializers.ChoiceField(
        choices=_orderings(),
        required=False,
        default=ProductOrder.NAME.value,
        help_text="A column, `-` first for descending. mean, weighted, change (24 h), offers, "
        "stock, my-price, rank (of my_price among the offers) and index (my_price ÷ the "
        "cheapest offer) put undefined values last.",
    )
    moved = serializers.ChoiceField(
        choices=[movement.value for movement in Movement],
        required=False,
        help_text="Only the products where this happened `within` the last period (as "
        "/movements/ counts it).",
    )
    within = period_field(help_text="With `moved`: the period ending now (24h by default).")

    def validate(self, attrs):
        if "within" in attrs and "moved" not in attrs:
            raise ValidationError({"within": ["Only used with `moved`."]}, "unexpected")
        if "moved" in attrs:
            attrs.setdefault("within", MemoryWindow.DAY.value)
        return attrs


# --- Offers and trends -------------------------------------------------------------------------


class OfferSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="offer_id", help_text="The Offers service's id.")
    price = serializers.IntegerField()
    items_in_stock = serializers.IntegerField()
    first_seen_at = TimeField()
    last_seen_at = TimeField()
    previous_price = serializers.IntegerField(
        allow_null=True, help_text="The price before the last change; null for a new offer."
    )
    change = serializers.FloatField(
        allow_null=True, help_text="Percentage change from previous_price; null for a new offer."
    )


# The oldest and newest times a trend may ask for: wider than any history, and far enough from
# datetime's limits that moving into any time zone cannot overflow.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


@extend_schema_field(OpenApiTypes.DATETIME)
class QueryTimeField(serializers.Field):
    """An ISO 8601 time with an offset (a "+" that arrived as a space is put back)."""

    def to_internal_value(self, data) -> datetime:
        try:
            moment = parse_datetime(str(data).strip().replace(" ", "+"))
        except ValueError:
            moment = None
        if moment is None:
            raise ValidationError(
                "Not an ISO 8601 time: use e.g. 2026-12-01T00:00:00+01:00.", "invalid"
            )
        if moment.tzinfo is None:
            raise ValidationError(
                "Give the time's offset, e.g. 2026-12-01T00:00:00Z or …+01:00.", "naive"
            )
        if not EARLIEST <= moment < LATEST:
            raise ValidationError("Choose a time between 1970 and 9000.", "out_of_range")
        return moment


class HistoryQuerySerializer(StrictSerializer):
    interval = serializers.ChoiceField(
        choices=[bucket.value for bucket in Bucket],
        required=False,
        default=Bucket.AUTO.value,
        help_text="The bucket size. auto (the default) takes the finest that keeps the answer "
        "within 5,000 values; an explicit one that would not fit is refused (400, naming one "
        "that fits).",
    )
    tz = TimeZoneField(
        required=False,
        help_text="The IANA time zone buckets are cut in and times are given in; yours by default.",
    )
    offers = serializers.BooleanField(
        required=False, default=True, help_text="Include each offer's prices (true by default)."
    )

    def get_fields(self):
        # `from` is a Python keyword: declared here rather than as an attribute.
        return {
            "from": QueryTimeField(
                required=False, help_text="The period's start (inclusive); default: to − 24 h."
            ),
            "to": QueryTimeField(
                required=False, help_text="The period's end (exclusive); default: now."
            ),
            **super().get_fields(),
        }

    def validate(self, attrs):
        start, end = attrs.get("from"), attrs.get("to")
        if start is not None and end is not None and start >= end:
            raise ValidationError({"to": ["Must be after `from`."]}, "invalid")
        return attrs


class TrendPointSerializer(serializers.Serializer):
    at = TimeField(help_text="The bucket's start (the snapshot's time for raw), in `tz`.")
    mean_price = serializers.FloatField(source="mean", allow_null=True)
    weighted_mean_price = serializers.FloatField(source="weighted_mean", allow_null=True)
    min_price = serializers.IntegerField(source="min", allow_null=True)
    max_price = serializers.IntegerField(source="max", allow_null=True)
    offer_count = serializers.IntegerField()
    total_stock = serializers.IntegerField()


class OfferPriceSerializer(serializers.Serializer):
    at = TimeField()
    price = serializers.IntegerField()

    def to_representation(self, instance):
        at, price = instance
        return {"at": at.isoformat(), "price": price}


class OfferSeriesSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="offer_id", help_text="The Offers service's id.")
    prices = OfferPriceSerializer(
        source="points",
        many=True,
        help_text="The offer's price at each bucket, carried forward until it was last seen.",
    )


class TrendSerializer(serializers.Serializer):
    product = serializers.UUIDField(source="product_id")
    start = TimeField(source="trend.start", help_text="`from`, in `tz`.")
    end = TimeField(source="trend.end", help_text="`to`, in `tz`.")
    tz = serializers.CharField(source="trend.tz.key")
    interval = serializers.ChoiceField(
        source="trend.bucket", choices=[b.value for b in Bucket if b is not Bucket.AUTO]
    )
    currency = serializers.CharField()
    change = serializers.FloatField(
        source="trend.change",
        allow_null=True,
        help_text="Percentage change of the mean price over the period, as the product page "
        "computes it; null when undefined.",
    )
    value_count = serializers.IntegerField(
        source="trend.value_count", help_text="4 per point plus 1 per offer price; ≤ 5,000."
    )
    offers_truncated = serializers.BooleanField(
        source="trend.offers_truncated",
        help_text="Some offers' lines were left out so that the answer fits (auto only).",
    )
    points = TrendPointSerializer(source="trend.points", many=True)
    offers = OfferSeriesSerializer(source="trend.offers", many=True)


class SyncRequestSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["queued"])
    requested_at = TimeField(
        help_text="A sync that finishes after this answers the request: watch the product's "
        "sync.last_attempt_at."
    )


# --- Market position ---------------------------------------------------------------------------


class MarketPeriodQuerySerializer(PageQuerySerializer):
    """A period ending now (`period`), or [from, to) as a product's history takes it."""

    period = period_field(help_text="The period ending now: 24h (the default), 7d or 30d.")

    def get_fields(self):
        # `from` is a Python keyword: declared here rather than as an attribute.
        return {
            "from": QueryTimeField(
                required=False,
                help_text="Instead of `period`: the period's start (inclusive); default: "
                "to − 24 h.",
            ),
            "to": QueryTimeField(
                required=False,
                help_text="Instead of `period`: the period's end (exclusive); default: now. A "
                "time after now counts up to now (what is below the MAP now is not known to "
                "stay so).",
            ),
            **super().get_fields(),
        }

    def validate(self, attrs):
        if "period" in attrs and ("from" in attrs or "to" in attrs):
            raise ValidationError(
                {"period": ["Give `period` or `from` and `to`, not both."]}, "invalid"
            )
        start, end = attrs.get("from"), attrs.get("to")
        if start is not None and end is not None and start >= end:
            raise ValidationError({"to": ["Must be after `from`."]}, "invalid")
        return attrs


class MapViolationSerializer(serializers.Serializer):
    """One offer's time below its product's MAP within the period."""

    product = serializers.UUIDField(source="product_id")
    product_name = serializers.CharField()
    map_price = serializers.IntegerField(help_text="The product's MAP (today's).")
    offer = serializers.UUIDField(source="offer_id", help_text="The Offers service's offer id.")
    seconds_below = serializers.FloatField(
        help_text="How long its price was strictly below the MAP inside the period. A price "
        "holds from its observation until the offer's next one, until the sync that found "
        "the offer gone, or until the period's end."
    )
    minutes_below = serializers.FloatField(help_text="The same, in minutes.")
    lowest_price = serializers.IntegerField(help_text="Its lowest price below the MAP.")
    undercut_percent = serializers.FloatField(
        help_text="How far lowest_price went below the MAP, in percent of the MAP (two decimals)."
    )
    below_from = TimeField(
        help_text="When its first stretch below the MAP in the period began (the period's "
        "start if it was below then)."
    )
    below_until = TimeField(
        help_text="When its last stretch below the MAP ended (the period's end if it is "
        "still below)."
    )
    is_below_now = serializers.BooleanField()
    current_price = serializers.IntegerField(
        allow_null=True, help_text="Its current price; null when it is no longer offered."
    )


class MemoryWindowField(serializers.ChoiceField):
    """A MemoryWindow (the schema's `MemoryWindow` component, api.schema: its own name, apart
    from an alert rule's `window`)."""

    def __init__(self, **kwargs):
        super().__init__(choices=[window.value for window in MemoryWindow], **kwargs)


class MemoryQuerySerializer(StrictSerializer):
    window = MemoryWindowField(
        required=False,
        default=MemoryWindow.MONTH.value,
        help_text="The window ending now (30d by default).",
    )


class PriceExtremeSerializer(serializers.Serializer):
    price = serializers.IntegerField()
    on = serializers.DateField(help_text="The UTC day it was first reached.")


class MemorySerializer(serializers.Serializer):
    product = serializers.UUIDField(source="product_id")
    window = MemoryWindowField(source="memory.window")
    start = TimeField(
        source="memory.start",
        help_text="The window's start: the UTC hour holding now − window (the roll-ups' grain).",
    )
    end = TimeField(source="memory.end", help_text="Now (UTC).")
    currency = serializers.CharField()
    history_since = TimeField(
        source="memory.history_since",
        allow_null=True,
        help_text="When the product's history begins; null before its first sync.",
    )
    current_cheapest = serializers.IntegerField(
        source="memory.current_cheapest", allow_null=True, help_text="The cheapest offer now."
    )
    lowest = PriceExtremeSerializer(
        source="memory.lowest",
        allow_null=True,
        help_text="The cheapest offer's lowest price in the window, and its day.",
    )
    highest = PriceExtremeSerializer(
        source="memory.highest",
        allow_null=True,
        help_text="The cheapest offer's highest price in the window, and its day.",
    )
    lowest_ever = PriceExtremeSerializer(source="memory.lowest_ever", allow_null=True)
    highest_ever = PriceExtremeSerializer(source="memory.highest_ever", allow_null=True)
    time_weighted_mean = serializers.FloatField(
        source="memory.time_weighted_mean",
        allow_null=True,
        help_text="The mean price weighted by how long each sync's value held (the last one "
        "until now).",
    )
    time_weighted_cheapest = serializers.FloatField(
        source="memory.time_weighted_cheapest",
        allow_null=True,
        help_text="The same of the cheapest offer's price.",
    )
    snapshot_mean = serializers.FloatField(
        source="memory.snapshot_mean",
        allow_null=True,
        help_text="The plain mean of the syncs' mean prices (each sync counts once).",
    )
    price_changes = serializers.IntegerField(
        source="memory.price_changes",
        help_text="How many times an offer's price changed in the window (rises + drops).",
    )
    mean_stddev = serializers.FloatField(
        source="memory.mean_stddev",
        allow_null=True,
        help_text="The standard deviation of the syncs' mean prices in the window (population).",
    )
    is_lowest_in_90_days = serializers.BooleanField(
        source="memory.is_lowest_in_90_days",
        help_text="The cheapest offer now is at or below every cheapest price of the last 90 "
        "days (and the history is at least 90 days old).",
    )
    is_lowest_ever = serializers.BooleanField(
        source="memory.is_lowest_ever",
        help_text="…at or below every cheapest price ever (with at least a day of history).",
    )


class MovementsQuerySerializer(StrictSerializer):
    period = period_field(
        default=MemoryWindow.DAY.value,
        help_text="The period ending now (24h by default), counted in whole UTC hours.",
    )


class MovementCountSerializer(serializers.Serializer):
    movement = serializers.ChoiceField(
        source="count.movement", choices=[movement.value for movement in Movement]
    )
    label = serializers.CharField(source="count.movement.label")
    events = serializers.IntegerField(
        source="count.events",
        help_text="How many times it happened (offer price changes, offers that sold out…; "
        "for new-lows, the products that made one).",
    )
    products = serializers.IntegerField(source="count.products", help_text="In how many products.")
    products_url = serializers.URLField(
        help_text="Your products list filtered to these products (`moved` and `within`)."
    )


class MovementsSerializer(serializers.Serializer):
    period = serializers.ChoiceField(choices=list(PERIODS))
    start = TimeField(
        source="catalogue.start", help_text="The period's start, rounded down to its UTC hour."
    )
    end = TimeField(source="catalogue.end", help_text="Now (UTC).")
    movements = MovementCountSerializer(many=True, help_text="One per movement, always all.")


# --- Alerts ------------------------------------------------------------------------------------
# A rule's spec is checked by pricing (rule_spec_clean, the one validation for pages and API):
# these serializers check JSON types only, so that the service gets what it expects and a
# wrong type is named as such. Which parameters a kind takes, and their ranges, are its to say.


class NumberField(serializers.FloatField):
    """A JSON number, and only that (DRF's FloatField takes "1.5" and true)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


class BooleanValueField(serializers.BooleanField):
    """JSON true or false, and only those (DRF's BooleanField takes "yes", "0" and 1)."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class EnumField(serializers.ChoiceField):
    """One of `choices`, in its own JSON type: DRF's ChoiceField compares str(data), so that it
    takes "7" for 7, 7 for "7" and true for "True". The error names the choices."""

    def __init__(self, choices, **kwargs):
        super().__init__(choices, **kwargs)
        names = ", ".join(str(choice) for choice in self.choices)
        self.error_messages["invalid_choice"] = f"Choose one of: {names}."

    def to_internal_value(self, data):
        if data == "" and self.allow_blank:
            return ""
        for choice in self.choices:
            if type(data) is type(choice) and data == choice:
                return choice
        self.fail("invalid_choice")


class AlertRuleSerializer(serializers.Serializer):
    """A rule as its owner sees it: its spec (what they set) and what pricing says of it."""

    id = serializers.IntegerField()
    product = serializers.UUIDField(source="product_id")
    kind = serializers.ChoiceField(source="spec.kind", choices=AlertKind.choices)
    figure = serializers.ChoiceField(
        source="spec.figure",
        choices=AlertFigure.choices,
        allow_blank=True,
        help_text="The price a price rule watches; empty for kinds that take none.",
    )
    threshold = serializers.IntegerField(
        source="spec.threshold",
        allow_null=True,
        help_text="price_below, price_above: the price (whole units); stock_below: items.",
    )
    min_stock = serializers.IntegerField(
        source="spec.min_stock",
        allow_null=True,
        help_text="cheapest_in_stock: the least items an offer needs in stock to count.",
    )
    direction = serializers.ChoiceField(
        source="spec.direction", choices=AlertDirection.choices, allow_blank=True
    )
    change_percent = serializers.FloatField(source="spec.change_percent", allow_null=True)
    change_amount = serializers.IntegerField(source="spec.change_amount", allow_null=True)
    window = serializers.ChoiceField(source="spec.window", choices=list(WINDOWS), allow_null=True)
    lookback_days = serializers.ChoiceField(
        source="spec.lookback_days", choices=list(LOOKBACK_DAYS), allow_null=True
    )
    debounce = serializers.IntegerField(
        source="spec.debounce",
        help_text="Consecutive syncs the condition must hold before it fires.",
    )
    cooldown_minutes = serializers.IntegerField(
        source="spec.cooldown_minutes", help_text="The least time between two firings."
    )
    is_enabled = serializers.BooleanField(source="spec.is_enabled")
    description = serializers.CharField(help_text="The rule in a few words.")
    noise = serializers.CharField(help_text="Its noise controls in words; empty when none.")
    is_event = serializers.BooleanField(
        help_text="Fires on a change seen at one sync (an offer appears): debounce is 1."
    )
    armed = serializers.BooleanField(
        help_text="Fires when its condition next becomes true; disarmed after firing until "
        "the condition has been false."
    )
    streak = serializers.IntegerField(help_text="The syncs in a row at which it holds now.")
    last_fired_at = TimeField(allow_null=True)
    evaluated_at = TimeField(allow_null=True, help_text="The last sync that evaluated it.")
    created_at = TimeField()
    firings = serializers.IntegerField(help_text="How many times it fired.")


class AlertRuleSpecSerializer(StrictSerializer):
    """A rule's spec: `kind` and the parameters it takes (others may be left out, null or
    blank, and are cleared). Types are checked here; which parameters each kind needs, and
    their ranges, by pricing (400 naming the field)."""

    answer_fields = frozenset(AlertRuleSerializer._declared_fields)
    kind = EnumField(choices=AlertKind.choices)
    figure = EnumField(
        choices=AlertFigure.choices,
        allow_blank=True,
        allow_null=True,
        required=False,
        help_text="price_below, price_above: any; price_move: cheapest, mean or weighted_mean.",
    )
    threshold = WholeNumberField(
        allow_null=True,
        required=False,
        help_text="price_below, price_above: the price, 1 to 10^15 whole units; stock_below: "
        "items, 1 to 10^12.",
    )
    min_stock = WholeNumberField(
        allow_null=True,
        required=False,
        help_text="With figure cheapest_in_stock: the least items an offer needs, 1 to 10^9.",
    )
    direction = EnumField(
        choices=AlertDirection.choices,
        allow_blank=True,
        allow_null=True,
        required=False,
        help_text="price_move: which way.",
    )
    change_percent = NumberField(
        allow_null=True,
        required=False,
        help_text="price_move: a change of at least this percentage (above 0, up to 1000); "
        "give it or change_amount.",
    )
    change_amount = WholeNumberField(
        allow_null=True,
        required=False,
        help_text="price_move: a change of at least this many whole units (1 to 10^15).",
    )
    window = EnumField(
        choices=list(WINDOWS),
        allow_null=True,
        required=False,
        help_text="price_move: compared with the figure this long ago.",
    )
    lookback_days = EnumField(
        choices=list(LOOKBACK_DAYS),
        allow_null=True,
        required=False,
        help_text="new_low, new_high: the days the price is compared with.",
    )
    debounce = WholeNumberField(
        required=False,
        help_text="Consecutive syncs the condition must hold before it fires, 1 to 60 (1 by "
        "default; event kinds take 1 only).",
    )
    cooldown_minutes = WholeNumberField(
        required=False,
        help_text="The least minutes between two firings, 0 (the default) to 10,080 (a week).",
    )
    is_enabled = BooleanValueField(required=False, help_text="true by default.")


class AlertRuleReplaceSerializer(AlertRuleSpecSerializer):
    """PUT: every field of the spec is required (null or blank where the kind takes none), as
    the rule's answer gives them; PATCH (partial): the named fields change, the rest stay."""

    def get_fields(self):
        fields = super().get_fields()
        for field in fields.values():
            field.required = True
        return fields


class AlertFiringSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    product = serializers.UUIDField(source="product_id")
    product_name = serializers.CharField()
    rule = serializers.IntegerField(
        source="rule_id", allow_null=True, help_text="null once the rule is deleted."
    )
    kind = serializers.ChoiceField(choices=AlertKind.choices)
    kind_label = serializers.CharField()
    fired_at = TimeField(help_text="When the sync that saw it got its answer.")
    message = serializers.CharField()
    values = serializers.DictField(
        child=serializers.JSONField(),
        help_text="The figures that triggered it: watched, threshold, reference, and the "
        "snapshot's offer_count, total_stock, min_price, max_price, mean_price, "
        "weighted_mean_price (those that are defined).",
    )
    delivery = serializers.ChoiceField(
        choices=AlertDelivery.choices,
        help_text="sent; held (quiet hours: emailed once they end); capped (over the daily "
        "cap: only recorded, and never unread).",
    )
    delivery_label = serializers.CharField()
    read_at = TimeField(allow_null=True)
    email_due_at = TimeField(allow_null=True, help_text="null: not emailed.")
    email_sent_at = TimeField(allow_null=True)
    webhook_attempts = serializers.IntegerField()
    webhook_delivered = serializers.BooleanField()


class AlertListQuerySerializer(PageQuerySerializer):
    product = serializers.UUIDField(required=False, help_text="Only this product's firings.")
    unread = serializers.BooleanField(
        required=False, default=False, help_text="Only the unread ones (false by default)."
    )


# The largest id the database holds (a bigint): beyond it, no firing.
ID_MAX = 2**63 - 1


class AlertReadSerializer(StrictSerializer):
    """The firings to mark read: some by id, or (no `ids`) all of them."""

    ids = serializers.ListField(
        child=WholeNumberField(min_value=1, max_value=ID_MAX),
        required=False,
        max_length=1000,
        help_text="The firings to mark read; leave it out to mark all of yours.",
    )


class AlertReadResultSerializer(serializers.Serializer):
    marked = serializers.IntegerField(help_text="How many unread firings were marked read.")


class BacktestDaySerializer(serializers.Serializer):
    date = serializers.DateField(help_text="A day in your time zone.")
    count = serializers.IntegerField()

    def to_representation(self, instance):
        day, count = instance
        return {"date": day.isoformat(), "count": count}


class BacktestSerializer(serializers.Serializer):
    available = serializers.BooleanField(
        help_text="false when the history cannot say (`reason` says why); the counts are 0."
    )
    reason = serializers.CharField()
    since = TimeField(help_text="The period examined: after `since`, up to `until`.")
    until = TimeField()
    syncs = serializers.IntegerField(help_text="The product's syncs in the period.")
    fired = serializers.IntegerField(
        help_text="How often it would have fired, with debounce, re-arming and cooldown."
    )
    held = serializers.IntegerField(help_text="Of which in your quiet hours.")
    capped_days = serializers.IntegerField(
        help_text="Days on which this rule alone would pass your daily cap."
    )
    fired_at = serializers.ListField(child=TimeField(), help_text="Each firing, oldest first.")
    per_day = BacktestDaySerializer(many=True, help_text="Firings per day of the period.")


class AlertSettingsSerializer(serializers.Serializer):
    email_mode = serializers.ChoiceField(choices=AlertEmailMode.choices)
    digest_hour = serializers.IntegerField(help_text="The digest's local hour, 0–23.")
    quiet_start = serializers.IntegerField(
        allow_null=True, help_text="Quiet hours start at this local hour (null: none)."
    )
    quiet_end = serializers.IntegerField(
        allow_null=True, help_text="…and end at this one (it may wrap midnight)."
    )
    daily_cap = serializers.IntegerField(
        help_text="Firings delivered per local day; the rest are only recorded."
    )
    webhook_url = serializers.CharField(help_text="Firings are POSTed here; empty: none.")
    webhook_secret = serializers.CharField(
        help_text="The key of the webhooks' HMAC-SHA256 signature: yours alone, keep it "
        "secret. Set with the first webhook URL; rotate it with POST …/webhook-secret/."
    )


class AlertSettingsUpdateSerializer(StrictSerializer):
    """The settings to change (PATCH): types here, values by pricing (400 naming the field)."""

    answer_fields = frozenset(AlertSettingsSerializer._declared_fields)
    email_mode = EnumField(choices=AlertEmailMode.choices, required=False)
    digest_hour = WholeNumberField(required=False, help_text="0–23.")
    quiet_start = WholeNumberField(
        required=False, allow_null=True, help_text="0–23; null with quiet_end for none."
    )
    quiet_end = WholeNumberField(required=False, allow_null=True, help_text="0–23.")
    daily_cap = WholeNumberField(required=False, help_text="1–1,000.")
    webhook_url = TextField(
        required=False,
        allow_blank=True,
        max_length=2000,
        help_text="An http(s) URL reaching a public address; empty for none.",
    )
