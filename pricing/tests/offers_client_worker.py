"""A second process using the Offers client, for test_offers_client_processes (not a test).

    python pricing/tests/offers_client_worker.py --products ID,ID [--seconds S | --rounds N]
        [--start-at UNIX_TIME] [--register]

Run with the environment from the `subprocess_env` fixture (the test database, the simulator's URL
and refresh token). It uses `get_offers_client()` as the app does; `--register` registers the
products first (201 or 409), then it fetches the offers of each product in turn, for `--seconds`
or for `--rounds` passes over the list, starting at `--start-at` if given (so that processes
start together). An OffersError is counted and the loop goes on; anything else is a crash (the
exit status says so). The last line on stdout is one JSON object:

    {"pid", "started", "finished", "calls", "requests", "retries", "auth_requests", "errors",
     "offers_seen"}
"""

import argparse
import contextlib
import json
import os
import sys
import time
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "site")]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")

import django  # noqa: E402

django.setup()

from pricing.offers_client import OffersError, get_offers_client  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", required=True, help="comma-separated product ids")
    parser.add_argument("--seconds", type=float, help="fetch for this long")
    parser.add_argument("--rounds", type=int, default=1, help="passes over the products")
    parser.add_argument("--start-at", type=float, help="UNIX time to start at")
    parser.add_argument("--register", action="store_true", help="register the products first")
    args = parser.parse_args()
    products = [uuid.UUID(text) for text in args.products.split(",")]

    client = get_offers_client()
    if args.start_at is not None:
        time.sleep(max(0.0, args.start_at - time.time()))
    started = time.time()
    offers_seen = 0
    if args.register:
        for product in products:
            with contextlib.suppress(OffersError):  # counted in client.stats.errors
                client.register_product(product_id=product, name="Worker", description="")
    rounds = 0
    while True:
        if args.seconds is not None:
            if time.time() - started >= args.seconds:
                break
        elif rounds >= args.rounds:
            break
        for product in products:
            with contextlib.suppress(OffersError):  # counted in client.stats.errors
                offers_seen += len(client.get_offers(product_id=product))
            if args.seconds is not None and time.time() - started >= args.seconds:
                break
        rounds += 1
    report = {
        "pid": os.getpid(),
        "started": started,
        "finished": time.time(),
        **client.stats.as_dict(),
        "offers_seen": offers_seen,
    }
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
