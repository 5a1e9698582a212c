"""Many rows, each with its own values, in one UPDATE joined to a VALUES list.

Django's bulk_update writes one CASE per field with a WHEN per row: for a sync batch's hundreds
of changed offers (or evaluated rules) building and compiling it costs seconds of Python, more
than the rest of the store. `UPDATE … FROM (VALUES …)` costs a parameter per value. PostgreSQL
and SQLite (3.33+) both take it, and both name a VALUES list's columns column1, column2, ….
"""

from collections.abc import Sequence
from itertools import batched

from django.db import connection
from django.db.models import Model

# Rows per statement: SQLite allows 32,766 parameters in one.
ROWS_PER_STATEMENT = 2000


def bulk_update_values(objs: Sequence[Model], fields: Sequence[str]) -> None:
    """Write `fields` of each of `objs` (saved instances of one model) to its row, by primary
    key, in one statement per ROWS_PER_STATEMENT rows. No signals, no auto_now, as
    bulk_update."""
    if not objs:
        return
    meta = objs[0]._meta
    columns = [meta.get_field(name) for name in fields]
    postgres = connection.vendor == "postgresql"
    # PostgreSQL types a VALUES column from its rows (a column of NULLs would be text): each
    # value is cast to its column's type.
    cells = [
        f"CAST(%s AS {field.db_type(connection)})" if postgres else "%s"
        for field in (meta.pk, *columns)
    ]
    row = f"({', '.join(cells)})"
    table = connection.ops.quote_name(meta.db_table)
    assignments = ", ".join(
        f"{connection.ops.quote_name(field.column)} = new.column{index}"
        for index, field in enumerate(columns, start=2)
    )
    pk = connection.ops.quote_name(meta.pk.column)
    with connection.cursor() as cursor:
        for chunk in batched(objs, ROWS_PER_STATEMENT):
            params = []
            for obj in chunk:
                params.append(meta.pk.get_db_prep_save(obj.pk, connection))
                params += [
                    field.get_db_prep_save(getattr(obj, field.attname), connection)
                    for field in columns
                ]
            cursor.execute(
                f"UPDATE {table} SET {assignments} "
                f"FROM (VALUES {', '.join([row] * len(chunk))}) AS new "
                f"WHERE {table}.{pk} = new.column1",
                params,
            )
