"""PostgreSQL backups, and a restore that is checked row for row before anyone relies on it.

A backup nobody has restored is a hope, not a backup. This script takes dumps, restores them
only into new databases (never over live data), and compares the copy with its source table by
table, row by row, so a restore is known to be whole before DATABASE_URL is switched to it.

    python deploy/pg_backup.py dump URL FILE       pg_dump in the custom format into FILE
    python deploy/pg_backup.py restore FILE URL    create URL's database, pg_restore FILE into it
    python deploy/pg_backup.py compare URL_A URL_B every table, row and sequence of public
    python deploy/pg_backup.py check URL [--keep]  the drill: dump, restore into
                                                   <name>_restore_check, compare, drop the copy

URLs are libpq's: postgres://user:password@host:5432/name. Leave the password out of them
(they show in `ps`) and use ~/.pgpass or PGPASSWORD instead: psycopg2 and the tools read both.

Exit codes: 0 done (and identical), 1 differences found, 2 an operational error (a missing
tool, a database that exists, a refused connection), reported as one line on stderr.

pg_dump and pg_restore are looked up on PATH, or in the folder PG_BIN names (for instance
/usr/lib/postgresql/16/bin). pg_dump must be the server's major version or newer (it refuses an
older one), and pg_restore as new as the pg_dump that wrote the file.

What `compare` checks: the same base tables in schema public, the same columns (name and type)
and primary key in each, every row equal (compared as PostgreSQL's text form of each value,
read through server-side cursors in primary-key order, so memory stays flat on big tables),
and the same position of every sequence, so that inserts into a restored copy do not collide.
Indexes, constraints other than primary keys, and other schemas are not compared: pg_restore
with --exit-on-error --single-transaction either creates all of them or nothing.

`check` reads its side of the comparison in the very snapshot pg_dump dumps (--snapshot), so it
can run against a live database; only sequences, which no snapshot covers, may have moved on
in the source meanwhile, and a copy that is ahead of the source is accepted there.

Only the standard library and psycopg2: it runs wherever the app's virtualenv is, without
Django. deploy/tests/test_backup_restore.py runs the drill on a database the tests fill through
the project's code, and shows that `compare` does report a changed, a missing row and a moved
sequence.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path

import psycopg2
from psycopg2 import errors, sql
from psycopg2.extensions import ISOLATION_LEVEL_REPEATABLE_READ, parse_dsn

EXIT_OK, EXIT_DIFFERENT, EXIT_ERROR = 0, 1, 2
ROWS_PER_FETCH = 2000
MAX_NAME_BYTES = 63  # PostgreSQL's NAMEDATALEN - 1: longer names are silently truncated
CHECK_SUFFIX = "_restore_check"

# A value's text form depends on these settings, which a server, database or role may set
# differently: both sides of a comparison use the same ones. No timeouts: comparing a big table
# is one long-running cursor, and `check` keeps its snapshot's transaction open during the dump.
SESSION_SETTINGS = """
    SET TimeZone = 'UTC';
    SET DateStyle = 'ISO, YMD';
    SET IntervalStyle = 'postgres';
    SET extra_float_digits = 3;
    SET bytea_output = 'hex';
    SET statement_timeout = 0;
    SET idle_in_transaction_session_timeout = 0;
"""

TABLES_SQL = """
    SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY c.relname
"""
COLUMNS_SQL = """
    SELECT attname, format_type(atttypid, atttypmod), attcollation <> 0 FROM pg_attribute
    WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped ORDER BY attnum
"""
PRIMARY_KEY_SQL = """
    SELECT a.attname FROM pg_index i
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
    WHERE i.indrelid = %s AND i.indisprimary
    ORDER BY array_position(i.indkey::int2[], a.attnum)
"""
SEQUENCES_SQL = """
    SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind = 'S' ORDER BY c.relname
"""

HINTS = {
    "server version mismatch": "pg_dump must be the server's major version or newer: set PG_BIN "
    "to the folder of a newer pg_dump",
    "unsupported version": "this pg_restore is older than the pg_dump that wrote the file: set "
    "PG_BIN to the folder of a newer one",
}


class OperatorError(Exception):
    """An expected failure: reported as one line on stderr, exit code 2, no traceback."""


def one_line(text: str, limit: int = 500) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def size_text(size: float) -> str:
    units = ["bytes", "kB", "MB", "GB", "TB"]
    while size >= 1000 and len(units) > 1:
        size /= 1000
        units.pop(0)
    return f"{size:.0f} bytes" if units[0] == "bytes" else f"{size:.1f} {units[0]}"


def rows_text(count: int) -> str:
    return f"{count:,} row" + ("" if count == 1 else "s")


# --- Databases and the tools ---------------------------------------------------------------


@dataclass(frozen=True)
class Database:
    """A database named by a libpq URL; `label` names it in messages without the password."""

    url: str
    params: dict = field(hash=False)

    @classmethod
    def from_url(cls, url: str) -> "Database":
        try:
            return cls(url, parse_dsn(url))
        except psycopg2.ProgrammingError as error:
            raise OperatorError(f"not a PostgreSQL URL: {one_line(str(error))}") from None

    @property
    def name(self) -> str:
        if not self.params.get("dbname"):
            raise OperatorError("the URL names no database (postgres://…:5432/NAME)")
        return self.params["dbname"]

    @property
    def label(self) -> str:
        host = self.params.get("host", "the local socket")
        where = f"{host}:{self.params['port']}" if "port" in self.params else host
        return f"{self.params.get('dbname', 'the default database')} on {where}"

    def sibling(self, name: str) -> "Database":
        """Another database on the same server, as the same user."""
        params = {**self.params, "dbname": name}
        return Database(psycopg2.extensions.make_dsn(**params), params)


def connect(database: Database, *, dbname: str | None = None):
    """A connection with SESSION_SETTINGS applied, not in autocommit; dbname overrides URL's."""
    overrides = {"dbname": dbname} if dbname else {}
    try:
        conn = psycopg2.connect(
            database.url, connect_timeout=10, application_name="pg_backup", **overrides
        )
    except psycopg2.OperationalError as error:
        label = database.sibling(dbname).label if dbname else database.label
        raise OperatorError(f"cannot connect to {label}: {one_line(str(error))}") from None
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(SESSION_SETTINGS)
    conn.autocommit = False
    return conn


def snapshot_reader(database: Database):
    """A read-only connection whose reads all see one snapshot of the database."""
    conn = connect(database)
    conn.set_session(isolation_level=ISOLATION_LEVEL_REPEATABLE_READ, readonly=True)
    return conn


def maintenance_connection(database: Database):
    """To the server's `postgres` database, in autocommit: CREATE/DROP DATABASE need both."""
    conn = connect(database, dbname="postgres")
    conn.autocommit = True
    return conn


def database_exists(conn, name: str) -> bool:
    with conn.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = %s)", [name])
        return cursor.fetchone()[0]


def refusal(database: Database) -> OperatorError:
    return OperatorError(
        f"database {database.label} already exists: refusing to restore over it (restore into "
        "a new database, compare, then switch DATABASE_URL)"
    )


def create_database(database: Database) -> None:
    """Create an empty database; OperatorError if it exists. From template0: template1 may hold
    local additions (extensions, tables) that the dump's own statements would collide with."""
    if len(database.name.encode()) > MAX_NAME_BYTES:
        raise OperatorError(f"database name {database.name!r} is longer than 63 bytes")
    statement = sql.SQL("CREATE DATABASE {} TEMPLATE template0")
    with closing(maintenance_connection(database)) as conn, conn.cursor() as cursor:
        try:
            cursor.execute(statement.format(sql.Identifier(database.name)))
        except errors.DuplicateDatabase:
            raise refusal(database) from None
        except psycopg2.Error as error:
            message = one_line(error.pgerror or str(error))
            raise OperatorError(f"cannot create {database.label}: {message}") from None


def drop_database(database: Database) -> None:
    """Drop a database this script created. FORCE (PostgreSQL 13+): a pg_restore killed by
    Ctrl-C may leave its backend behind for a moment."""
    with closing(maintenance_connection(database)) as conn, conn.cursor() as cursor:
        force = sql.SQL(" WITH (FORCE)") if conn.server_version >= 130000 else sql.SQL("")
        statement = sql.SQL("DROP DATABASE IF EXISTS {}{}")
        cursor.execute(statement.format(sql.Identifier(database.name), force))


def drop_after_failure(database: Database) -> str:
    """Drop a database a failed restore created; says what happened, without masking (by
    raising) the failure that is being reported."""
    try:
        drop_database(database)
    except (OperatorError, psycopg2.Error) as error:
        return f"could not drop {database.name}, which it had created: {one_line(str(error))}"
    return f"dropped {database.name}, which it had created"


def tool(name: str) -> str:
    folder = os.environ.get("PG_BIN")
    found = shutil.which(name, path=folder) if folder else shutil.which(name)
    if found is None:
        where = f"in PG_BIN ({folder})" if folder else "on PATH"
        raise OperatorError(
            f"{name} not found {where}: install the PostgreSQL client tools (the server's major "
            "version or newer), or set PG_BIN to their folder"
        )
    return found


def run_tool(name: str, *args: str) -> None:
    """Run pg_dump or pg_restore; OperatorError with its message (and a hint) if it fails."""
    result = subprocess.run([tool(name), *args], capture_output=True, text=True, check=False)
    if result.returncode == 0:
        sys.stderr.write(result.stderr)  # warnings, if any
        return
    message = one_line(result.stderr) or f"exit code {result.returncode}"
    hints = [hint for clue, hint in HINTS.items() if clue in result.stderr]
    raise OperatorError(f"{name} failed: {message}" + "".join(f" ({hint})" for hint in hints))


# --- dump and restore ----------------------------------------------------------------------


def dump_database(database: Database, file: Path, *, snapshot: str | None = None) -> int:
    """pg_dump into FILE; returns its size. Written beside it first and renamed when whole, so
    a failed dump never leaves a truncated file that looks like a backup."""
    partial = file.with_name(file.name + ".partial")
    args = ["--format=custom", "--no-owner", "--no-privileges", "--file", str(partial)]
    args += [f"--snapshot={snapshot}"] if snapshot else []
    try:
        run_tool("pg_dump", *args, "--dbname", database.url)
        partial.replace(file)
    finally:
        partial.unlink(missing_ok=True)
    return file.stat().st_size


def restore_into_new_database(file: Path, database: Database) -> None:
    """Create the database and pg_restore FILE into it, all or nothing: if the restore fails
    (or is interrupted), the database it created is dropped again."""
    if not file.is_file():
        raise OperatorError(f"{file}: no such file")
    tool("pg_restore")  # missing: fail before creating anything
    create_database(database)
    try:
        run_tool(
            "pg_restore",
            "--exit-on-error",
            "--single-transaction",
            "--no-owner",
            "--no-privileges",
            "--dbname",
            database.url,
            str(file),
        )
    except BaseException as error:
        dropped = drop_after_failure(database)
        if isinstance(error, OperatorError):
            raise OperatorError(f"{error}; {dropped}") from None
        raise


# --- compare -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    name: str
    columns: dict[str, str]  # name → type, in the table's column order
    collatable: frozenset[str]
    primary_key: tuple[str, ...]

    @property
    def identifier(self) -> sql.Composable:
        return sql.Identifier("public", self.name)

    @property
    def key_columns(self) -> tuple[str, ...]:
        """What identifies a row: the primary key, or every column when there is none."""
        return self.primary_key or tuple(self.columns)

    def key_text(self, row: tuple) -> str:
        values = dict(zip(self.columns, row, strict=True))
        return ", ".join(f"{column}={values[column]}" for column in self.key_columns)


def fetch_all(conn, query, params=None) -> list[tuple]:
    with conn.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchall()


def tables_of(conn) -> dict[str, Table]:
    tables = {}
    for oid, name in fetch_all(conn, TABLES_SQL):
        columns = fetch_all(conn, COLUMNS_SQL, [oid])
        tables[name] = Table(
            name=name,
            columns={column: type_ for column, type_, _ in columns},
            collatable=frozenset(column for column, _, collatable in columns if collatable),
            primary_key=tuple(column for (column,) in fetch_all(conn, PRIMARY_KEY_SQL, [oid])),
        )
    return tables


def rows_query(table: Table) -> sql.Composable:
    """Every column as text, in an order both sides agree on: the primary key (text in the C
    collation, since the two databases' default collations may sort differently), or every
    column's text when there is no primary key."""
    # Columns through the alias `t`: a bare name in ORDER BY would mean the output column of
    # that name, the text, and sort by it instead of using the primary key's index.
    columns = {column: sql.Identifier("t", column) for column in table.columns}
    values = [sql.SQL("{}::text").format(column) for column in columns.values()]
    if table.primary_key:
        order = [
            sql.SQL('{} COLLATE "C"' if name in table.collatable else "{}").format(columns[name])
            for name in table.primary_key
        ]
    else:
        order = [sql.SQL('{} COLLATE "C"').format(value) for value in values]
    # (A table without columns gives `SELECT  FROM`: valid in PostgreSQL, rows of nothing.)
    query = sql.SQL("SELECT {} FROM {} AS t").format(sql.SQL(", ").join(values), table.identifier)
    return query + sql.SQL(" ORDER BY {}").format(sql.SQL(", ").join(order)) if order else query


def streamed_rows(conn, query: sql.Composable) -> Iterator[tuple]:
    """The query's rows through a server-side cursor, ROWS_PER_FETCH at a time."""
    with conn.cursor(name="pg_backup_rows") as cursor:
        cursor.execute(query)
        while rows := cursor.fetchmany(ROWS_PER_FETCH):
            yield from rows


def has_row(conn, table: Table, row: tuple) -> bool:
    """Whether the database has a row with this row's key (an index lookup for a primary key)."""
    values = dict(zip(table.columns, row, strict=True))
    if table.primary_key:
        test = "{} = CAST(%s AS {})"
        tests = [
            sql.SQL(test).format(sql.Identifier(column), sql.SQL(table.columns[column]))
            for column in table.primary_key
        ]
    else:  # NULL = NULL is not true, hence IS NOT DISTINCT FROM
        test = "{}::text IS NOT DISTINCT FROM %s"
        tests = [sql.SQL(test).format(sql.Identifier(column)) for column in table.columns]
    query = sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE {})").format(
        table.identifier, sql.SQL(" AND ").join(tests)
    )
    return fetch_all(conn, query, [values[column] for column in table.key_columns])[0][0]


def shown(value: str | None) -> str:
    if value is None:
        return "NULL"
    return repr(value if len(value) <= 80 else value[:79] + "…")


def row_difference(table: Table, row_a, row_b, conn_b) -> str:
    """The first difference of two tables read in the same order, in words."""
    if row_b is None:
        return f"row {table.key_text(row_a)} is missing from B"
    if row_a is None:
        return f"row {table.key_text(row_b)} is only in B"
    if table.key_text(row_a) == table.key_text(row_b):
        changes = [
            f"{column} {shown(a)} in A, {shown(b)} in B"
            for column, a, b in zip(table.columns, row_a, row_b, strict=True)
            if a != b
        ]
        return f"row {table.key_text(row_a)} differs: " + "; ".join(changes)
    # Different keys at the same position: one side lacks the row with the smaller key.
    if has_row(conn_b, table, row_a):
        return f"row {table.key_text(row_b)} is only in B"
    return f"row {table.key_text(row_a)} is missing from B"


def schema_difference(a: Table, b: Table) -> str | None:
    notes = [f"column {c} only in A" for c in a.columns if c not in b.columns]
    notes += [f"column {c} only in B" for c in b.columns if c not in a.columns]
    notes += [
        f"column {c} is {a.columns[c]} in A, {b.columns[c]} in B"
        for c in a.columns
        if c in b.columns and a.columns[c] != b.columns[c]
    ]
    if a.primary_key != b.primary_key:
        key_a, key_b = ", ".join(a.primary_key), ", ".join(b.primary_key)
        notes.append(f"primary key ({key_a}) in A, ({key_b}) in B")
    return "; ".join(notes) or None


def compare_rows(table: Table, conn_a, conn_b) -> tuple[int, str | None]:
    """Read both tables in lockstep; returns the rows that were equal and the first difference."""
    query = rows_query(table)
    equal = 0
    rows_a, rows_b = streamed_rows(conn_a, query), streamed_rows(conn_b, query)
    with closing(rows_a), closing(rows_b):
        for row_a, row_b in zip_longest(rows_a, rows_b):
            if row_a != row_b:
                return equal, row_difference(table, row_a, row_b, conn_b)
            equal += 1
    return equal, None


def compare_table(a: Table | None, b: Table | None, conn_a, conn_b) -> tuple[int, str | None]:
    if a is None or b is None:
        return 0, f"only in {'B' if a is None else 'A'}"
    difference = schema_difference(a, b)
    if difference:
        return 0, difference
    return compare_rows(a, conn_a, conn_b)


def sequences_of(conn) -> dict[str, tuple[int, bool]]:
    """Each sequence's last_value and is_called: where its next value will come from."""
    positions = {}
    for (name,) in fetch_all(conn, SEQUENCES_SQL):
        query = sql.SQL("SELECT last_value, is_called FROM {}")
        positions[name] = fetch_all(conn, query.format(sql.Identifier("public", name)))[0]
    return positions


def position_text(position: tuple[int, bool] | None) -> str:
    if position is None:
        return "absent"
    last_value, is_called = position
    return f"last value {last_value}" + ("" if is_called else " (not yet used)")


def sequence_differences(a: dict, b: dict, *, b_may_be_ahead: bool) -> list[str]:
    """Sequences whose positions differ. With b_may_be_ahead, a copy ahead of the source is
    fine: the source moved on after the dump (ascending sequences, as Django's all are)."""
    differences = []
    for name in sorted(a.keys() | b.keys()):
        same = a.get(name) == b.get(name)
        ahead = b_may_be_ahead and name in a and name in b and b[name] > a[name]
        if not (same or ahead):
            differences.append(
                f"sequence public.{name}: {position_text(a.get(name))} in A, "
                f"{position_text(b.get(name))} in B"
            )
    return differences


@dataclass
class Comparison:
    tables: int = 0
    rows: int = 0
    sequences: int = 0
    differences: int = 0

    @property
    def identical(self) -> bool:
        return self.differences == 0


def compare_databases(conn_a, conn_b, *, sequences_a=None) -> Comparison:
    """Compare and print one line per table. sequences_a: the source's sequence positions read
    earlier (by `check`, before its dump), which the copy may be ahead of."""
    result = Comparison()
    tables_a, tables_b = tables_of(conn_a), tables_of(conn_b)
    for name in sorted(tables_a.keys() | tables_b.keys()):
        a, b = tables_a.get(name), tables_b.get(name)
        rows, difference = compare_table(a, b, conn_a, conn_b)
        result.tables += 1
        result.rows += rows
        result.differences += difference is not None
        print(f"public.{name}: " + (difference or f"{rows_text(rows)}, identical"), flush=True)
    positions_b = sequences_of(conn_b)
    positions_a = sequences_a if sequences_a is not None else sequences_of(conn_a)
    moved = sequence_differences(positions_a, positions_b, b_may_be_ahead=sequences_a is not None)
    for line in moved:
        print(line)
    result.sequences = len(positions_a.keys() | positions_b.keys())
    result.differences += len(moved)
    if not moved:
        print(f"sequences in public: {result.sequences}, same positions")
    return result


def comparison_verdict(result: Comparison) -> str:
    counted = f"{result.tables} tables, {rows_text(result.rows)}, {result.sequences} sequences"
    if result.identical:
        return f"identical: {counted}"
    return (
        f"DIFFERENT: {result.differences} difference(s) (the first of each table above); {counted}"
    )


# --- The commands --------------------------------------------------------------------------


def command_dump(args) -> int:
    database = Database.from_url(args.url)
    started = time.monotonic()
    size = dump_database(database, Path(args.file))
    elapsed = time.monotonic() - started
    print(f"Dumped {database.label} to {args.file}: {size_text(size)} in {elapsed:.1f} s")
    return EXIT_OK


def command_restore(args) -> int:
    database = Database.from_url(args.url)
    started = time.monotonic()
    restore_into_new_database(Path(args.file), database)
    elapsed = time.monotonic() - started
    print(f"Restored {args.file} into the new database {database.label} in {elapsed:.1f} s.")
    print("Compare it with its source before switching DATABASE_URL to it:")
    print(f"    python {sys.argv[0]} compare SOURCE_URL NEW_URL")
    return EXIT_OK


def command_compare(args) -> int:
    a, b = Database.from_url(args.url_a), Database.from_url(args.url_b)
    print(f"A: {a.label}\nB: {b.label}")
    with closing(snapshot_reader(a)) as conn_a, closing(snapshot_reader(b)) as conn_b:
        result = compare_databases(conn_a, conn_b)
    print(comparison_verdict(result))
    return EXIT_OK if result.identical else EXIT_DIFFERENT


def export_snapshot(conn) -> str:
    """Export the connection's snapshot for pg_dump --snapshot; valid while its transaction is
    open, and the connection's own reads see the same data."""
    return fetch_all(conn, "SELECT pg_export_snapshot()")[0][0]


def command_check(args) -> int:
    source = Database.from_url(args.url)
    copy = source.sibling(source.name + CHECK_SUFFIX)
    print(f"A: {source.label} (source)\nB: {copy.label} (restored from A's dump)")
    for name in ("pg_dump", "pg_restore"):
        tool(name)  # missing: fail before the long part
    timings = {}
    with closing(snapshot_reader(source)) as conn_a:
        if len(copy.name.encode()) > MAX_NAME_BYTES:
            raise OperatorError(f"database name {copy.name!r} is longer than 63 bytes")
        if database_exists(conn_a, copy.name):
            raise refusal(copy)
        snapshot = export_snapshot(conn_a)
        sequences_a = sequences_of(conn_a)  # before the dump: its values are at least these
        with tempfile.TemporaryDirectory(prefix="pg_backup-") as folder:
            started = time.monotonic()
            size = dump_database(source, Path(folder) / "check.dump", snapshot=snapshot)
            timings["dump"] = time.monotonic() - started
            restore_into_new_database(Path(folder) / "check.dump", copy)
            timings["restore"] = time.monotonic() - started - timings["dump"]
        try:
            started = time.monotonic()
            with closing(snapshot_reader(copy)) as conn_b:
                result = compare_databases(conn_a, conn_b, sequences_a=sequences_a)
            timings["compare"] = time.monotonic() - started
        finally:
            if not args.keep:
                drop_database(copy)
    took = ", ".join(f"{step} {seconds:.1f} s" for step, seconds in timings.items())
    verdict = comparison_verdict(result)
    print(f"Restore check of {source.label}: {verdict}; dump {size_text(size)}; {took}.")
    if args.keep:
        print(f"Kept {copy.label}: drop it when done.")
    else:
        look = "" if result.identical else " (--keep keeps it, to look at the differences)"
        print(f"Dropped {copy.name}{look}.")
    return EXIT_OK if result.identical else EXIT_DIFFERENT


def argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pg_backup.py",
        description="PostgreSQL backups (pg_dump, custom format) and restores into new "
        "databases, checked row for row against their source.",
        epilog="URLs: postgres://user@host:5432/name (passwords: ~/.pgpass or PGPASSWORD). "
        "Tools: pg_dump and pg_restore from PATH, or from the folder PG_BIN names; pg_dump must "
        "be the server's major version or newer. Exit codes: 0 ok, 1 differences found, "
        "2 error.",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    dump = commands.add_parser("dump", help="pg_dump URL's database into FILE (custom format)")
    dump.add_argument("url", metavar="URL", help="the database to dump")
    dump.add_argument("file", metavar="FILE", help="the dump to write (replaced if it exists)")
    dump.set_defaults(run=command_dump)

    restore = commands.add_parser(
        "restore",
        help="create URL's database and restore FILE into it; refuses an existing database",
        description="Create URL's database (it must not exist) and pg_restore FILE into it in "
        "one transaction. If the restore fails, the new database is dropped again.",
    )
    restore.add_argument("file", metavar="FILE", help="a dump written by `dump` (or pg_dump -Fc)")
    restore.add_argument("url", metavar="URL", help="the new database to create")
    restore.set_defaults(run=command_restore)

    compare = commands.add_parser(
        "compare",
        help="compare two databases table by table and row by row (exit 1 if they differ)",
        description="Compare schema public of two databases: the same tables, columns, rows "
        "and sequence positions. One line per table; for a difference, the first differing row.",
    )
    compare.add_argument("url_a", metavar="URL_A", help="the source (A)")
    compare.add_argument("url_b", metavar="URL_B", help="the copy (B)")
    compare.set_defaults(run=command_compare)

    check = commands.add_parser(
        "check",
        help="the restore drill: dump, restore into <name>_restore_check, compare, drop",
        description="Dump URL's database (to a temporary file: TMPDIR picks its folder), "
        f"restore it into a new database <name>{CHECK_SUFFIX} on the same server, compare the "
        "two, and drop the copy. Safe on a live database: the comparison reads the snapshot "
        "that was dumped.",
    )
    check.add_argument("url", metavar="URL", help="the database to check")
    check.add_argument("--keep", action="store_true", help="keep the restored copy afterwards")
    check.set_defaults(run=command_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = argument_parser().parse_args(argv)
    # Stopped by a timeout or `docker stop` (SIGTERM), unwind as for Ctrl-C: a database this run
    # created is dropped again, and a running pg_restore is killed first.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(EXIT_ERROR))
    try:
        return args.run(args)
    except OperatorError as error:
        print(f"pg_backup: {error}", file=sys.stderr)
    except psycopg2.Error as error:
        print(f"pg_backup: database error: {one_line(str(error))}", file=sys.stderr)
    except KeyboardInterrupt:
        print("pg_backup: interrupted", file=sys.stderr)
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
