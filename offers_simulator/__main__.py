"""Command line of the Offers simulator: ``python -m offers_simulator --help``."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from offers_simulator.config import Settings, cli_type
from offers_simulator.served import DEFAULT_CAPACITY
from offers_simulator.server import SimulatorServer
from offers_simulator.simulator import Simulator
from offers_simulator.statefile import StateFile, StateFileError

DEV_REFRESH_TOKEN = "dev-refresh-token"

DESCRIPTION = """\
A local, faithful implementation of the Offers service (see offers_simulator/openapi.json):

  POST /api/v1/auth                        header "Bearer: <refresh token>" -> 201 access token
  POST /api/v1/products/register           header "Bearer: <access token>", JSON id/name/description
  GET  /api/v1/products/{id}/offers        header "Bearer: <access token>" -> offers

Offers are deterministic for a --seed: each product's offers evolve tick by tick (prices walk,
stock sells down, sold-out offers vanish or are restocked, new ones appear, price wars, MAP
dips), computed lazily on request. See "the market" below.
"""

EPILOG = """\
control endpoint (for tests; not part of the service, never subject to faults):
  GET  /_control/state                  the current settings and the number of registrations
  POST /_control/faults                 JSON with any of latency_ms, error_rate, error_statuses,
                                        hang_rate, hang_seconds, malformed_rate, down, token_ttl,
                                        tick; answers like /_control/state
  POST /_control/forget-registrations   forget every product (offers then answer 404)
  POST /_control/expire-tokens          expire every access token now (calls then answer 401)
  POST /_control/reset                  start-up settings (the command line's), no access tokens,
                                        zero counters, an empty served log
  GET  /_control/stats                  answers per endpoint and status, injected faults
  GET  /_control/products               every registered product's base_price, typical_map
                                        and undercut_step (below)
  GET  /_control/products/{id}          the same, with its age in ticks, its current offers'
                                        market state and any price war (404 if unregistered)
  GET  /_control/served?after=N&limit=M the served log, below

served log: every answer to GET /api/v1/products/{id}/offers, in the order they were written
(at most --served-log-size kept). /_control/served gives the entries with seq > N (default 0),
at most M (default and most 10000) a call:
  {"served": [entry, ...], "last": seq of the last entry (N if none), "more": true if newer ones
   exist (ask again with after=last), "missed": entries after N dropped before they were read,
   "dropped": all entries dropped since the last reset because the log was full}
An entry: seq (1, 2, ... from each reset), product_id (as asked), status (0: the down fault hung
up), received_at and sent_at (UNIX seconds: request parsed, answer written), delay (seconds of
injected latency and hang), malformed (the variant, or null), write_failed (writing raised),
client_gone (the client had closed its end before the answer, or the write failed), and for 200
answers that were not malformed offer_count, total_stock, min_price, max_price (else null; the
prices are null when there are no offers).

the market (per product, seeded; a tick is --tick seconds; figures in whole prices):
  base price   100..50000, log-uniform; new offers are priced 95..120 % of it.
  typical MAP  round(90 % of the base price): the product's minimum advertised price, in
               GET /_control/products as typical_map. Ordinary offers never go below it.
  MAP dips     now and then (0.3..1.2 % of ticks, and for half of the products once at age
               2..10 ticks, so a fresh start shows some within ten minutes) one in-stock offer
               advertises at 80..95 % of the typical MAP for 10..40 ticks, then returns to its
               usual price, above it (if it sells out meanwhile it stays listed and is
               restocked). At most one per product at a time.
  price wars   now and then (0.5..3 % of ticks) an offer undercuts the cheapest in-stock offer
               by undercut_step (1 % of the base price, at least 1); every 1..3 ticks the
               runner-up undercuts again by the same step, 3..8 undercuts in all, never below
               the typical MAP; offers in the war hold their prices, then walk back.
  sell-outs    an offer that sells out vanishes, or (half of them) stays listed with 0 in
               stock for 2..8 ticks and is restocked under the same id; a vanished id may come
               back later as a new offer.
  the bot      30 % of the products have a repricing bot (has_bot; role "bot" in
               /_control/products/{id}): their first offer; it never vanishes, never dips below
               the MAP, opens the wars it can and answers every undercut.

Control requests need a Host header of 127.0.0.1, localhost or [::1] (any port), else 403; POSTs
need "Content-Type: application/json" (parameters allowed), else 415. This keeps web pages open
in a browser away from it (cross-site forms, fetch, DNS rebinding).

On start it prints "offers-simulator listening on http://HOST:PORT" (the real port).
"""


def _entries(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = -1
    if number < 0:
        raise argparse.ArgumentTypeError("must be an integer >= 0")
    return number


def build_parser() -> argparse.ArgumentParser:
    defaults = Settings()
    parser = argparse.ArgumentParser(
        prog="python -m offers_simulator",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    server = parser.add_argument_group("server")
    server.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    server.add_argument(
        "--port", type=int, default=8001, help="port to bind; 0 picks a free one (default: 8001)"
    )
    server.add_argument(
        "--log", action="store_true", help="log every request to stderr (off: it costs speed)"
    )
    server.add_argument(
        "--served-log-size",
        type=_entries,
        default=DEFAULT_CAPACITY,
        metavar="N",
        help="answers to GET .../offers the served log keeps (/_control/served); older ones are "
        "dropped and counted; 0 keeps none (default: %(default)s, about 65 MB when full)",
    )

    service = parser.add_argument_group("service")
    service.add_argument(
        "--refresh-token",
        action="append",
        dest="refresh_tokens",
        metavar="TOKEN",
        help=f"an accepted refresh token; repeat for several (default: {DEV_REFRESH_TOKEN!r}, "
        "printed at start)",
    )
    service.add_argument(
        "--token-ttl",
        type=cli_type("token_ttl"),
        default=defaults.token_ttl,
        metavar="SECONDS",
        help="lifetime of an access token (default: %(default)s)",
    )
    service.add_argument(
        "--tick",
        type=cli_type("tick"),
        default=defaults.tick,
        metavar="SECONDS",
        help="how often offers change; fractions allowed (default: %(default)s)",
    )
    service.add_argument(
        "--seed", type=int, default=0, help="seed of the offers world (default: %(default)s)"
    )
    service.add_argument(
        "--state",
        metavar="FILE",
        help="JSON file keeping registrations across restarts (default: none, memory only)",
    )

    faults = parser.add_argument_group("faults (all off by default; they apply to /api/v1 only)")
    faults.add_argument(
        "--latency-ms",
        type=cli_type("latency_ms"),
        default=defaults.latency_ms,
        metavar="MS",
        help="delay added to every API request",
    )
    faults.add_argument(
        "--error-rate",
        type=cli_type("error_rate"),
        default=defaults.error_rate,
        metavar="RATE",
        help="share (0..1) of API requests answered with a 5xx, before being processed",
    )
    faults.add_argument(
        "--error-statuses",
        type=cli_type("error_statuses"),
        default=defaults.error_statuses,
        metavar="CODES",
        help="comma list of the 5xx codes those errors use (default: 500,502,503)",
    )
    faults.add_argument(
        "--hang-rate",
        type=cli_type("hang_rate"),
        default=defaults.hang_rate,
        metavar="RATE",
        help="share (0..1) of API requests that sleep --hang-seconds before answering",
    )
    faults.add_argument(
        "--hang-seconds",
        type=cli_type("hang_seconds"),
        default=defaults.hang_seconds,
        metavar="SECONDS",
        help="how long a hanging request sleeps, past any client timeout (default: %(default)s)",
    )
    faults.add_argument(
        "--malformed-rate",
        type=cli_type("malformed_rate"),
        default=defaults.malformed_rate,
        metavar="RATE",
        help="share (0..1) of successful answers whose body is replaced by malformed JSON, "
        "HTML, an empty body or a wrongly shaped object",
    )
    faults.add_argument(
        "--down",
        action="store_true",
        default=defaults.down,
        help="start down: close every API connection without answering, as a load balancer "
        "with no healthy backend may (the client gets a connection error), until the setting "
        '"down" is set to false; reset returns to this flag\'s state',
    )
    faults.add_argument(
        "--fault-seed",
        type=int,
        default=None,
        metavar="INT",
        help="seed of the fault randomness (default: --seed)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings(
        latency_ms=args.latency_ms,
        error_rate=args.error_rate,
        error_statuses=args.error_statuses,
        hang_rate=args.hang_rate,
        hang_seconds=args.hang_seconds,
        malformed_rate=args.malformed_rate,
        down=args.down,
        token_ttl=args.token_ttl,
        tick=args.tick,
    )
    try:
        simulator = Simulator(
            refresh_tokens=args.refresh_tokens or [DEV_REFRESH_TOKEN],
            settings=settings,
            seed=args.seed,
            fault_seed=args.fault_seed,
            state_file=StateFile(args.state) if args.state else None,
            served_log_size=args.served_log_size,
        )
        server = SimulatorServer((args.host, args.port), simulator, log_requests=args.log)
    except (StateFileError, OSError) as error:
        print(f"offers-simulator: {error}", file=sys.stderr)
        return 1

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(f"offers-simulator listening on {server.url}", flush=True)
    if not args.refresh_tokens:
        print(f"offers-simulator development refresh token: {DEV_REFRESH_TOKEN}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
