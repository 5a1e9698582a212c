"""`manage.py prune_history`: delete the raw history older than HISTORY_RAW_DAYS now, all of it.

The periodic task does the same in bounded steps (HISTORY_PRUNE_MAX_ROWS a run, every ten
minutes); this is for the first pruning of a long history, or after raising the limit, with a
progress bar. Safe while the app runs: it deletes in chunks, each its own transaction.
"""

from django.core.management.base import BaseCommand
from django.utils import timezone
from tqdm import tqdm

from pricing.services import history_prune


class Command(BaseCommand):
    help = (
        "Delete raw snapshots and observations older than HISTORY_RAW_DAYS (the hourly and "
        "daily roll-ups stay), until none is left."
    )

    def handle(self, *args, **options) -> None:
        snapshots = observations = 0
        with tqdm(desc="rows deleted", unit=" rows", disable=None) as bar:
            while True:
                result = history_prune(now=timezone.now(), progress=bar.update)
                snapshots += result.snapshots
                observations += result.observations
                if result.done:
                    break
        if result.horizon is None:
            self.stdout.write("HISTORY_RAW_DAYS is 0: raw history is kept for ever.")
            return
        self.stdout.write(
            f"Deleted {snapshots:,} snapshots and {observations:,} observations taken before "
            f"{result.horizon:%Y-%m-%d %H:%M} UTC; the roll-ups keep their hours and days."
        )
