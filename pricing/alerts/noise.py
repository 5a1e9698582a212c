"""The user-wide noise controls, as plain functions of a user's AlertSettings and time zone:
the daily cap's day, quiet hours, and when a firing's email is due. Hours are local (the user's
time zone); every datetime in and out is aware."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pricing.models import AlertDelivery, AlertEmailMode, AlertSettings


def local_day_start(at: datetime, zone: ZoneInfo) -> datetime:
    """The start (UTC) of the local day `at` falls in: the daily cap counts from it."""
    local = at.astimezone(zone)
    return datetime.combine(local.date(), time(0), tzinfo=zone).astimezone(UTC)


def is_quiet(at: datetime, zone: ZoneInfo, prefs: AlertSettings) -> bool:
    """Whether `at` falls in the user's quiet hours [quiet_start, quiet_end), which may wrap
    midnight. No quiet hours when either end is unset or both are equal."""
    start, end = prefs.quiet_start, prefs.quiet_end
    if start is None or end is None or start == end:
        return False
    hour = at.astimezone(zone).hour
    return start <= hour < end if start < end else hour >= start or hour < end


def next_local_hour(at: datetime, zone: ZoneInfo, hour: int) -> datetime:
    """The first local `hour`:00 after `at` (UTC)."""
    local = at.astimezone(zone)
    for days in range(3):
        moment = datetime.combine(local.date() + timedelta(days=days), time(hour), tzinfo=zone)
        # Compared in UTC: datetimes sharing a zone compare as wall times, wrong across DST.
        if moment.astimezone(UTC) > at:
            return moment.astimezone(UTC)
    raise AssertionError("an hour of the day comes within two days")


def delivery_of(
    *, at: datetime, zone: ZoneInfo, prefs: AlertSettings, delivered_today: int
) -> tuple[AlertDelivery, datetime | None]:
    """How a firing at `at` is delivered, and when its email is due (None: no email):
    over the daily cap it is only recorded; in quiet hours its email waits for their end (with
    whatever else is held, as one digest); a digest user's waits for the digest hour."""
    if delivered_today >= prefs.daily_cap:
        return AlertDelivery.CAPPED, None
    quiet = is_quiet(at, zone, prefs)
    delivery = AlertDelivery.HELD if quiet else AlertDelivery.SENT
    if prefs.email_mode == AlertEmailMode.OFF:
        return delivery, None
    if prefs.email_mode == AlertEmailMode.DIGEST:
        return delivery, next_local_hour(at, zone, prefs.digest_hour)
    return delivery, next_local_hour(at, zone, prefs.quiet_end) if quiet else at
