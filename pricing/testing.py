"""Price histories for tests and benchmarks, written by the database itself.

A year of minute snapshots is half a million rows: the ORM's per-row work alone takes ~45 s
for them, a recursive SELECT inside the database about a second. The roll-ups the sync would
have kept are rebuilt from them (pricing.rollups), so readers see what a sync would have left.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection

from pricing.models import ProductSnapshot
from pricing.rollups import rollups_rebuild
from products.models import Product


def minute_snapshots(
    product: Product, *, start: datetime, count: int, every: timedelta = timedelta(minutes=1)
) -> None:
    """`count` snapshots `every` (whole seconds; a minute by default) apart from `start`
    (aware), one offer of 10 items whose price is 100 + i mod 7 at the i-th: every figure of
    the snapshot equals that price. Works on SQLite and PostgreSQL (the date arithmetic is the
    one thing they spell differently)."""
    columns = "product_id, taken_at, offer_count, total_stock, min_price, max_price, "
    columns += "mean_price, median_price, weighted_mean_price"
    step = int(every.total_seconds())
    if connection.vendor == "postgresql":
        moment = f"%s::timestamptz + minute.i * interval '{step} seconds'"
    else:
        moment = f"datetime(%s, '+' || (minute.i * {step}) || ' seconds')"
    table = connection.ops.quote_name(ProductSnapshot._meta.db_table)
    sql = f"""
        INSERT INTO {table} ({columns})
        WITH RECURSIVE minute(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM minute WHERE i + 1 < %s)
        SELECT %s, {moment}, 1, 10, 100 + i %% 7, 100 + i %% 7,
               100.0 + i %% 7, 100.0 + i %% 7, 100.0 + i %% 7
        FROM minute
    """
    product_id = ProductSnapshot._meta.get_field("product").get_db_prep_save(product.pk, connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, [count, product_id, connection.ops.adapt_datetimefield_value(start)])
    rollups_rebuild(product_ids=[product.pk], since=start)
