"""The people of bench/load.py: signed-in users browsing the dashboard, run by locust.

bench/load.py starts this module as its own process (locust's gevent patches the whole process:
the benchmark's Django, PostgreSQL and subprocess work stays out of it) with the signed-in
sessions it made, and reads back what happened:

    python bench/load_users.py --host http://127.0.0.1:PORT --sessions sessions.json \
        --users 50 --warm-up 30 --duration 120 --out requests.json

It runs locust as a library (an Environment and a local runner, headless): --users people are
started over the first half of --warm-up, each with a session of its own (a `sessionid` cookie
made by bench/load.py, no login form). Every request that starts during the --duration seconds
after the warm-up is recorded exactly (name, start, milliseconds, error) and written to --out as
JSON, with the window's start and end (UNIX time); bench/load.py computes the figures.

What a person does, as the pages make a browser do it (templates/dashboard/):
- arrives at / (302 to the overview) or comes back to /dashboard/ by the breadcrumb, and looks at
  it for a few seconds;
- sometimes sorts by a column, searches as they type (htmx's "input changed delay:300ms": a
  request when typing pauses) or, when the catalogue has more than one page, pages it — each an
  htmx request for the table (HX-Request, HX-Target: product-table);
- opens one to three of their products, at a period (24 h, 7 d, 30 d, all; with one line per
  offer a quarter of the time), and stays 20–120 s. Meanwhile the page polls as htmx does: the
  statistics and chart (`#product-live`, every DASHBOARD_REFRESH_SECONDS, read from the page's
  hx-trigger) and the offers table (`#offers-table`, likewise); and the person may click another
  period or the per-offer toggle (an htmx GET for #product-live, which restarts its timer).

A request is an error when it fails, answers other than 2xx/3xx, redirects to the login page or
asks htmx to (HX-Redirect: the session was not accepted), or does not hold the region it is for.
Static files are not requested: they have immutable cache headers, and a browser fetches them
once. More load means more people (--users), each behaving the same.
"""

# locust patches the standard library (gevent) when imported: first, before anything else.
from locust import FastHttpUser, events, task  # isort: skip

import argparse
import itertools
import json
import random
import re
import sys
import time
from http.cookiejar import Cookie
from urllib.parse import quote_plus, urlsplit

import gevent
from locust.env import Environment

PRODUCT_LINK = re.compile(r'href="/products/([0-9a-f-]{36})/"')
NEXT_PAGE = re.compile(r'href="([^"]*)"[^>]*rel="next"')
REFRESH = re.compile(r'hx-trigger="every (\d+)s')
PERIODS = ("24h", "7d", "30d", "all")
PERIOD_WEIGHTS = (50, 25, 15, 10)
SORT_KEYS = ("mean", "-mean", "weighted", "change", "-change", "offers", "stock", "-name")
LOGIN_PATH = "/accounts/login/"


class Person(FastHttpUser):
    """One signed-in person. The whole visit is one task: it sleeps between its own actions (and
    the page's polls), so locust's wait_time plays no part."""

    sessions: itertools.cycle  # of {"cookie": ..., "search_terms": [...]}, set by main()
    cookie_name = "sessionid"

    def on_start(self) -> None:
        session = next(self.sessions)
        self.search_terms = session["search_terms"]
        host = urlsplit(self.host).hostname
        self.client.cookiejar.set_cookie(session_cookie(self.cookie_name, session["cookie"], host))
        self.products: list[str] = []
        self.arrived = False
        # People do not all arrive in step.
        self.think(0, 5)

    def think(self, low: float, high: float) -> None:
        gevent.sleep(random.uniform(low, high))

    # --- Requests ---------------------------------------------------------------------------

    def get(
        self,
        path: str,
        *,
        name: str,
        target: str | None = None,
        current: str | None = None,
        holds: str | None = None,
        redirect: str | None = None,
        trigger: str | None = None,
    ) -> str | None:
        """GET `path` (redirects not followed); for htmx (`target` set) with the headers htmx
        sends. Records an error, and returns None, on anything but a 2xx/3xx that is what was
        asked for (an element `holds` or `target` as its id; a redirect to `redirect`); else
        the body. `trigger`: the id of the element whose trigger fired (a poll's own)."""
        holds = holds or target
        headers = {"Accept": "text/html"}
        if target is not None:
            headers |= {
                "HX-Request": "true",
                "HX-Target": target,
                "HX-Current-URL": f"{self.host}{current or path}",
            }
        if trigger is not None:
            headers["HX-Trigger"] = trigger
        with self.client.get(
            path, name=name, headers=headers, allow_redirects=False, catch_response=True
        ) as response:
            status = response.status_code or 0
            answer = response.headers or {}
            location = urlsplit(answer.get("Location") or "").path
            if not 200 <= status < 400:
                failure = getattr(response, "error", None)
                error = f"status {status}" if status else f"no answer: {failure!r}"[:200]
            elif location.startswith(LOGIN_PATH) or answer.get("HX-Redirect"):
                error = "sent to the login page: the session was not accepted"
            elif redirect is not None and (status // 100 != 3 or location != redirect):
                error = f"status {status} to {location or 'nowhere'}, not a redirect to {redirect}"
            elif status == 200 and holds and f'id="{holds}"' not in (response.text or ""):
                error = f"the answer does not hold #{holds}"
            else:
                error = None
            if error:
                response.failure(error)
                return None
            response.success()
            return response.text or ""

    # --- The visit ---------------------------------------------------------------------------

    @task
    def visit(self) -> None:
        html = self.overview()
        if html is None:
            self.think(5, 10)
            return
        self.products = PRODUCT_LINK.findall(html) or self.products
        if not self.products:
            self.think(5, 10)
            return
        self.think(3, 12)
        html = self.change_the_table(html)
        listed = PRODUCT_LINK.findall(html or "") or self.products
        for _ in range(random.choice((1, 1, 2, 3))):
            self.look_at_product(random.choice(listed))
            listed = self.products  # back on the overview: the whole list again
        self.think(2, 8)

    def overview(self) -> str | None:
        """/ (302 to the overview) on arrival and now and then; else back by the breadcrumb."""
        if not self.arrived or random.random() < 0.2:
            self.arrived = True
            if self.get("/", name="/ (302 to the overview)", redirect="/dashboard/") is None:
                return None
        return self.get("/dashboard/", name="overview", holds="product-table")

    def change_the_table(self, html: str) -> str | None:
        """Sometimes sort, search or page the table (htmx swaps #product-table)."""
        choice = random.random()
        if choice < 0.25:
            sort = random.choice(SORT_KEYS)
            html = self.get(
                f"/dashboard/?sort={sort}",
                name="overview: sort [product-table]",
                target="product-table",
                current="/dashboard/",
            )
            self.think(2, 6)
        elif choice < 0.45:
            term = random.choice(self.search_terms)
            typed = term[: max(2, len(term) // 2)]
            for text in (typed, term) if random.random() < 0.6 else (term,):
                html = self.get(
                    f"/dashboard/?q={quote_plus(text)}",
                    name="overview: search [product-table]",
                    target="product-table",
                    current="/dashboard/",
                )
                self.think(0.5, 2)
            self.think(1, 4)
        elif choice < 0.6 and (found := NEXT_PAGE.search(html)):
            html = self.get(
                "/dashboard/" + found.group(1).replace("&amp;", "&"),
                name="overview: page [product-table]",
                target="product-table",
                current="/dashboard/",
            )
            self.think(2, 6)
        return html

    def look_at_product(self, product_id: str) -> None:
        """Open the product page, stay 20–120 s while it polls, perhaps click a period or the
        per-offer toggle."""
        base = f"/products/{product_id}/"
        period = random.choices(PERIODS, PERIOD_WEIGHTS)[0]
        offers = random.random() < 0.25
        page = chart_url(base, period, offers)
        html = self.get(page, name=f"product page {label(period, offers)}", holds="product-live")
        if html is None:
            self.think(3, 8)
            return
        refresh = int(found.group(1)) if (found := REFRESH.search(html)) else 30
        now = time.monotonic()
        leave = now + random.uniform(20, 120)
        next_live = next_table = now + refresh
        next_click = now + random.uniform(5, 30)
        if random.random() < 0.5:
            next_click = float("inf")
        while True:
            moment = min(leave, next_live, next_table, next_click)
            gevent.sleep(max(0.0, moment - time.monotonic()))
            if moment == leave:
                return
            if moment == next_live:
                self.get(
                    chart_url(base, period, offers),
                    name=f"product-live {label(period, offers)}",
                    target="product-live",
                    current=page,
                    trigger="product-live",
                )
                next_live = time.monotonic() + refresh
            elif moment == next_table:
                self.get(
                    base,
                    name="offers-table poll",
                    target="offers-table",
                    current=page,
                    trigger="offers-table",
                )
                next_table = time.monotonic() + refresh
            else:  # a click on a period button or the per-offer toggle
                if random.random() < 0.7:
                    period = random.choice([p for p in PERIODS if p != period])
                else:
                    offers = not offers
                page = chart_url(base, period, offers)  # hx-push-url
                self.get(
                    page,
                    name=f"product-live {label(period, offers)}",
                    target="product-live",
                    current=page,
                )
                now = time.monotonic()
                next_live = now + refresh  # the swapped element starts its own timer
                next_click = now + random.uniform(10, 40)
                if random.random() < 0.5:
                    next_click = float("inf")


def chart_url(base: str, period: str, offers: bool) -> str:
    return f"{base}?period={period}" + ("&offers=1" if offers else "")


def label(period: str, offers: bool) -> str:
    return period + (" +offers" if offers else "")


def session_cookie(name: str, value: str, host: str) -> Cookie:
    return Cookie(
        version=0,
        name=name,
        value=value,
        port=None,
        port_specified=False,
        domain=host,
        domain_specified=False,
        domain_initial_dot=False,
        path="/",
        path_specified=True,
        secure=False,
        expires=None,
        discard=True,
        comment=None,
        comment_url=None,
        rest={"HttpOnly": None},
    )


# --- Running -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/load_users.py", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--host", required=True, help="the web server's root URL")
    parser.add_argument(
        "--sessions",
        required=True,
        help='JSON: {"cookie_name": ..., "sessions": [{"cookie": ..., "search_terms": [...]}]}',
    )
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--warm-up", type=float, default=30.0)
    parser.add_argument("--duration", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="where the JSON of requests goes")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    random.seed(args.seed)
    with open(args.sessions) as file:
        config = json.load(file)
    Person.sessions = itertools.cycle(config["sessions"])
    Person.cookie_name = config["cookie_name"]
    Person.host = args.host

    environment = Environment(user_classes=[Person], events=events, host=args.host)
    window = {"start": float("inf"), "end": float("inf")}
    records: list[tuple[str, float, float, str | None]] = []

    def record(name, start_time, response_time, exception, **_kwargs) -> None:
        if window["start"] <= start_time < window["end"]:
            error = None if exception is None else str(exception)[:200]
            records.append((name, start_time, response_time, error))

    environment.events.request.add_listener(record)
    runner = environment.create_local_runner()
    # Everyone is in by half the warm-up; the other half lets the first pages settle.
    runner.start(args.users, spawn_rate=args.users / max(args.warm_up / 2, 1.0))
    gevent.sleep(args.warm_up)
    window["start"] = time.time()
    print(f"load: measuring for {args.duration:g} s", file=sys.stderr, flush=True)
    gevent.sleep(args.duration)
    window["end"] = time.time()
    users = runner.user_count
    runner.quit()
    with open(args.out, "w") as file:
        json.dump(
            {
                "window": [window["start"], window["end"]],
                "users": users,
                "requests": records,
            },
            file,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
