"""The time convention of every read in pricing: aware datetimes in, UTC inside."""

from datetime import UTC, datetime


def utc(moment: datetime, name: str) -> datetime:
    """`moment` in UTC; ValueError naming the argument `name` when it is naive."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, not {moment!r}")
    return moment.astimezone(UTC)
