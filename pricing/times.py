"""The time convention of every read in pricing (aware datetimes in, UTC inside), and the clock
that decides leases, tokens and due-ness: the database's."""

from datetime import UTC, datetime


def utc(moment: datetime, name: str) -> datetime:
    """`moment` in UTC; ValueError naming the argument `name` when it is naive."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, not {moment!r}")
    return moment.astimezone(UTC)


def database_now() -> datetime:
    """The database's clock, aware, in UTC: the one clock every process shares.

    Leases, tokens and due-ness are decided by it (in SQL, as Now(), where they can), so that
    processes whose clocks disagree, or a clock stepped back or forward, cannot end a lease early
    or stop runs from coming due. One query; STATEMENT_TIMESTAMP on PostgreSQL, not the start of
    the transaction.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT STATEMENT_TIMESTAMP()")
            (value,) = cursor.fetchone()
            return value.astimezone(UTC)
        cursor.execute("SELECT STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')")
        (text,) = cursor.fetchone()
    return datetime.fromisoformat(text).replace(tzinfo=UTC)
