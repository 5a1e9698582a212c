"""The time steps of a trend, and how each cuts time, identically in the database and in Python.

Every rule about bucket sizes lives here: the sizes, their names for people, how long one can
be (for telling an outage from an ordinary step between buckets) and where their boundaries fall.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from django.db.models import Expression, F

from pricing.db_functions import Offsets, ZoneTrunc, zone_offsets


class Bucket(StrEnum):
    """The time step of a trend: one point per snapshot (RAW), per minute … month, or AUTO:
    the finest of those whose answer stays within the trend's cap of values."""

    RAW = "raw"
    MINUTE = "minute"
    # Between minutes and hours: a day of minute snapshots is 5,760 values (over the cap), and
    # hour buckets would flatten the day a user watches minute by minute into 24 points.
    FIVE_MINUTES = "5min"
    FIFTEEN_MINUTES = "15min"
    HOUR = "hour"
    # Between hours and days: a month with a few offers drawn is too many hours for the cap.
    SIX_HOURS = "6h"
    DAY = "day"
    # Beyond ~3.4 years of history, days no longer fit: weeks and months keep "All" drawable.
    WEEK = "week"
    MONTH = "month"
    AUTO = "auto"

    @property
    def span(self) -> str:
        """What one point covers, for people ("5 minutes"); "" for RAW and AUTO."""
        return _SPAN.get(self, "")

    @property
    def max_length(self) -> timedelta:
        """The longest one bucket can be: neighbouring buckets further apart than this (plus
        the sync's own tolerance) have a gap between them. At the end of summer time a day is
        25 hours and a local 6-hour bucket 7; RAW points are instants (0)."""
        return _MAX_LENGTH[self]


_SPAN = {
    Bucket.MINUTE: "1 minute",
    Bucket.FIVE_MINUTES: "5 minutes",
    Bucket.FIFTEEN_MINUTES: "15 minutes",
    Bucket.HOUR: "1 hour",
    Bucket.SIX_HOURS: "6 hours",
    Bucket.DAY: "1 day",
    Bucket.WEEK: "1 week",
    Bucket.MONTH: "1 month",
}
# Fixed-length buckets, cut in UTC when the zone allows it (see BucketGrid).
_UNIT = {
    Bucket.MINUTE: timedelta(minutes=1),
    Bucket.FIVE_MINUTES: timedelta(minutes=5),
    Bucket.FIFTEEN_MINUTES: timedelta(minutes=15),
    Bucket.HOUR: timedelta(hours=1),
    Bucket.SIX_HOURS: timedelta(hours=6),
}
_MAX_LENGTH = {
    Bucket.RAW: timedelta(0),
    **_UNIT,
    Bucket.SIX_HOURS: timedelta(hours=7),
    Bucket.DAY: timedelta(hours=25),
    Bucket.WEEK: timedelta(days=7, hours=1),
    Bucket.MONTH: timedelta(days=31, hours=1),
    Bucket.AUTO: timedelta(0),
}
FINEST_FIRST = (
    Bucket.RAW,
    Bucket.MINUTE,
    Bucket.FIVE_MINUTES,
    Bucket.FIFTEEN_MINUTES,
    Bucket.HOUR,
    Bucket.SIX_HOURS,
    Bucket.DAY,
    Bucket.WEEK,
    Bucket.MONTH,
)


@dataclass(frozen=True, slots=True)
class BucketGrid:
    """How one bucket size cuts time, identically in the database and in Python.

    Minutes (1, 5, 15) and hours (1, 6) are cut in UTC whenever the zone's offsets are whole
    buckets during the period: the same boundaries, and the repeated hour at the end of summer
    time stays two buckets instead of being merged by its local name. Otherwise, and for days,
    weeks (from Monday) and months, they are cut in the zone (6 hours from local midnight).
    """

    bucket: Bucket
    zone: ZoneInfo
    # The zone's UTC offsets over the period (db_functions.zone_offsets), for ZoneTrunc.
    offsets: Offsets

    @classmethod
    def of(cls, bucket: Bucket, tz: ZoneInfo, start: datetime, end: datetime) -> BucketGrid:
        # RAW keys are instants: UTC keeps them in order across a repeated local hour.
        if bucket is Bucket.RAW:
            return cls(bucket, ZoneInfo("UTC"), ((start, 0),))
        offsets = zone_offsets(tz, start, end)
        if bucket in _UNIT:
            unit = int(_UNIT[bucket].total_seconds())
            if all(seconds % unit == 0 for _, seconds in offsets):
                return cls(bucket, ZoneInfo("UTC"), ((start, 0),))
        return cls(bucket, tz, offsets)

    def expression(self, field: str) -> Expression:
        if self.bucket is Bucket.RAW:
            return F(field)
        return ZoneTrunc(field, kind=self.bucket.value, tzinfo=self.zone, offsets=self.offsets)

    def key(self, moment: datetime) -> datetime:
        """The wall time (naive, in `zone`) of the bucket holding `moment`, as the database
        computes it; RAW: the moment itself in UTC."""
        local = moment.astimezone(self.zone).replace(tzinfo=None)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        match self.bucket:
            case Bucket.RAW:
                return local
            case Bucket.MINUTE:
                return local.replace(second=0, microsecond=0)
            case Bucket.FIVE_MINUTES | Bucket.FIFTEEN_MINUTES:
                minute = local.minute - local.minute % (_UNIT[self.bucket] // timedelta(minutes=1))
                return local.replace(minute=minute, second=0, microsecond=0)
            case Bucket.HOUR:
                return local.replace(minute=0, second=0, microsecond=0)
            case Bucket.SIX_HOURS:
                return midnight.replace(hour=local.hour - local.hour % 6)
            case Bucket.WEEK:
                return midnight - timedelta(days=midnight.weekday())
            case Bucket.MONTH:
                return midnight.replace(day=1)
            case _:
                return midnight

    def wall(self, bucket_time: datetime) -> datetime:
        """The key of a bucket time the database returned (aware)."""
        return bucket_time.astimezone(self.zone).replace(tzinfo=None)

    def slots(self, first: datetime, last: datetime) -> int | None:
        """How many buckets [first, last] touches at most (None for RAW: unknown)."""
        a, b = self.key(first), self.key(last)
        if b < a:
            return 0
        match self.bucket:
            case Bucket.RAW:
                return None
            case Bucket.DAY:
                return (b.date() - a.date()).days + 1
            case Bucket.WEEK:
                return (b.date() - a.date()).days // 7 + 1
            case Bucket.MONTH:
                return (b.year - a.year) * 12 + b.month - a.month + 1
            case _:
                return (b - a) // _UNIT[self.bucket] + 1
