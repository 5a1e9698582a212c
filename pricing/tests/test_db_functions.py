"""ZoneTrunc: the same buckets as Django's Trunc, natively on SQLite too, and 5/15 min, 6 h."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db.models.functions import TruncDay, TruncHour, TruncMinute, TruncMonth, TruncWeek

from pricing.db_functions import ZoneTrunc, zone_offsets
from pricing.models import ProductSnapshot

PRAGUE = ZoneInfo("Europe/Prague")
YEAR_2025 = (datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
DJANGO_TRUNC = {
    "minute": TruncMinute,
    "hour": TruncHour,
    "day": TruncDay,
    "week": TruncWeek,
    "month": TruncMonth,
}


def test_offsets_change_to_the_second():
    assert zone_offsets(PRAGUE, *YEAR_2025) == (
        (YEAR_2025[0], 3600),
        (datetime(2025, 3, 30, 1, tzinfo=UTC), 7200),
        (datetime(2025, 10, 26, 1, tzinfo=UTC), 3600),
    )
    assert zone_offsets(ZoneInfo("UTC"), *YEAR_2025) == ((YEAR_2025[0], 0),)
    # Lord Howe Island moves by half an hour; Kathmandu is +05:45 and never moves.
    lord_howe = zone_offsets(ZoneInfo("Australia/Lord_Howe"), *YEAR_2025)
    assert [seconds for _, seconds in lord_howe] == [39600, 37800, 39600]
    assert zone_offsets(ZoneInfo("Asia/Kathmandu"), *YEAR_2025) == ((YEAR_2025[0], 20700),)


def test_a_period_shorter_than_a_day_finds_its_change():
    start = datetime(2025, 3, 30, 0, 59, 59, 500000, tzinfo=UTC)
    assert zone_offsets(PRAGUE, start, start + timedelta(seconds=1)) == (
        (start, 3600),
        (datetime(2025, 3, 30, 1, tzinfo=UTC), 7200),
    )


def moments_around_changes(zone: ZoneInfo) -> list[datetime]:
    """Times just before, at and after each offset change of 2025, and a few ordinary ones."""
    moments = [datetime(2025, 1, 15, 12, 34, 56, 789000, tzinfo=UTC)]
    for since, _ in zone_offsets(zone, *YEAR_2025)[1:]:
        for delta in (-3600, -61, -1, -0.000001, 0, 0.5, 59, 1800, 3599, 3600, 86399):
            moments.append(since + timedelta(seconds=delta))
    moments.append(datetime(2025, 12, 31, 23, 59, 59, 999999, tzinfo=UTC))
    return moments


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["minute", "5min", "15min", "hour", "6h", "day", "week", "month"])
@pytest.mark.parametrize(
    "zone",
    ["UTC", "Europe/Prague", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu"],
)
def test_buckets_equal_djangos_trunc(product, kind, zone):
    zone = ZoneInfo(zone)
    moments = moments_around_changes(zone)
    ProductSnapshot.objects.bulk_create(
        ProductSnapshot(product=product, taken_at=moment, offer_count=0, total_stock=0)
        for moment in moments
    )
    snapshots = ProductSnapshot.objects.filter(product=product).order_by("taken_at")
    ours = snapshots.annotate(
        at=ZoneTrunc("taken_at", kind=kind, tzinfo=zone, offsets=zone_offsets(zone, *YEAR_2025))
    ).values_list("taken_at", "at")
    assert len(ours) == len(moments)
    if kind in DJANGO_TRUNC:  # 5 and 15 minutes are ours alone
        django = snapshots.annotate(at=DJANGO_TRUNC[kind]("taken_at", tzinfo=zone))
        assert list(ours) == list(django.values_list("taken_at", "at"))
    # What it means: the wall-clock start of the bucket in the zone.
    for moment, at in ours:
        local = moment.astimezone(zone).replace(tzinfo=None)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        expected = {
            "minute": local.replace(second=0, microsecond=0),
            "5min": local.replace(minute=local.minute // 5 * 5, second=0, microsecond=0),
            "15min": local.replace(minute=local.minute // 15 * 15, second=0, microsecond=0),
            "hour": local.replace(minute=0, second=0, microsecond=0),
            "6h": local.replace(hour=local.hour // 6 * 6, minute=0, second=0, microsecond=0),
            "day": midnight,
            "week": midnight - timedelta(days=midnight.weekday()),  # from Monday
            "month": midnight.replace(day=1),
        }[kind]
        assert at.replace(tzinfo=None) == expected, moment


def test_wrong_arguments_are_refused():
    with pytest.raises(ValueError, match="kind must be one of"):
        ZoneTrunc("taken_at", kind="fortnight", tzinfo=PRAGUE, offsets=((YEAR_2025[0], 3600),))
    with pytest.raises(ValueError, match="at least"):
        ZoneTrunc("taken_at", kind="day", tzinfo=PRAGUE, offsets=())
