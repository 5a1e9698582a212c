"""Wait until the database accepts connections: for containers that start before it."""

import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.db.utils import OperationalError


class Command(BaseCommand):
    help = "Wait until the database accepts connections, or fail after --timeout seconds."

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60)")
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between tries")
        parser.add_argument("--database", default="default", help="database alias")

    def handle(self, *args, timeout, interval, database, **options):
        connection = connections[database]
        target = _describe(connection.settings_dict)
        deadline = time.monotonic() + timeout
        attempt = 0
        self.stdout.write(f"Waiting for the database at {target} (up to {timeout:g} s)…")
        while True:
            attempt += 1
            try:
                connection.ensure_connection()
                with connection.cursor() as cursor:
                    cursor.execute("SELECT 1")
            except OperationalError as error:
                connection.close()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise CommandError(
                        f"The database at {target} did not accept connections within "
                        f"{timeout:g} s ({attempt} attempts). Last error: "
                        f"{_first_line(error)}"
                    ) from None
                self.stdout.write(f"  attempt {attempt}: not yet ({_first_line(error)})")
                time.sleep(min(interval, remaining))
            else:
                self.stdout.write(self.style.SUCCESS(f"The database is up (attempt {attempt})."))
                return


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _describe(settings_dict: dict) -> str:
    if settings_dict.get("HOST"):
        return f"{settings_dict['HOST']}:{settings_dict.get('PORT') or 'default port'}"
    return str(settings_dict.get("NAME"))
