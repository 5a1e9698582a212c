"""The README's API walkthrough, run as written (bash, curl) against a live server with the real
parts `make run` has: the Offers simulator over HTTP and a real Huey consumer."""

import json
import re
import subprocess
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[2] / "README.md"
MARKER = "<!-- api-walkthrough -->"
BLOCK = re.compile(rf"^{re.escape(MARKER)}\n```sh\n(.*?)^```$", re.MULTILINE | re.DOTALL)
BASE_URL = "http://127.0.0.1:8000"  # `make run`'s address, as the README writes it


def walkthrough() -> str:
    """The ```sh block right after the marker line in README.md."""
    match = BLOCK.search(README.read_text())
    if match is None:
        pytest.fail(f"README.md has no ```sh block right after the line {MARKER!r}.")
    return match.group(1)


def json_documents(text: str) -> list:
    """The JSON values printed one after another (curl adds no newline between them)."""
    decoder, documents, index = json.JSONDecoder(), [], 0
    while (index := len(text) - len(text[index:].lstrip())) < len(text):
        try:
            document, index = decoder.raw_decode(text, index)
        except ValueError:
            pytest.fail(f"Not JSON at {index} of the script's output:\n{text}")
        documents.append(document)
    return documents


def test_the_readme_api_walkthrough_runs_as_written(
    live_server, offers_simulator, huey_consumer, wait_until, tmp_path, settings
):
    # As under `make run` (DEBUG on), where confirming the address is optional: the walkthrough
    # asks for a token right after signing up. Without DEBUG the token waits for the link.
    settings.ACCOUNT_EMAIL_VERIFICATION = "optional"
    script = walkthrough()
    assert BASE_URL in script, f"the walkthrough no longer uses {BASE_URL}"
    (tmp_path / "walkthrough.sh").write_text(script.replace(BASE_URL, live_server.url))

    # As under `make run`: a consumer (with the scheduler) already running when the commands
    # start, on the app's own settings (the sync interval, retries, timeouts).
    huey_consumer()
    wait_until(
        lambda: "Huey consumer started" in huey_consumer.logs(),
        timeout=30,
        message=lambda: f"the consumer's start\n{huey_consumer.logs()}",
    )

    began = time.monotonic()
    run = subprocess.run(
        ["bash", "-euo", "pipefail", "walkthrough.sh"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    seconds = time.monotonic() - began
    assert run.returncode == 0, (
        f"The walkthrough failed (exit {run.returncode}) after {seconds:.1f} s.\n"
        f"stdout:\n{run.stdout}\nstderr:\n{run.stderr}\nconsumer:\n{huey_consumer.logs()}"
    )
    documents = json_documents(run.stdout)
    account, products, offers, sync, trend, rule, backtest, unread, marked, quiet = documents[:10]
    priced, violations, memory, movements, dropped = documents[10:]
    assert account["email"] == "ada@example.com"
    assert account["full_name"] == "Ada Lovelace"

    assert products["count"] == 1
    (product,) = products["results"]
    assert product["name"] == "Espresso machine"
    assert product["registration_state"] == "registered"
    assert product["sync"]["last_synced_at"] is not None  # synced within the walkthrough's wait
    synced_after = datetime.fromisoformat(product["sync"]["last_synced_at"]) - (
        datetime.fromisoformat(product["created_at"])
    )
    print(
        f"\nThe walkthrough ran in {seconds:.1f} s; the product was registered and synced "
        f"{synced_after.total_seconds():.1f} s after its creation (the walkthrough waits 5 s)."
    )
    # About one simulated product in ten has no offers: a successful sync all the same.
    assert offers["count"] == len(offers["results"])
    for offer in offers["results"]:
        assert set(offer) >= {"id", "price", "items_in_stock", "first_seen_at", "last_seen_at"}

    assert sync["status"] == "queued"  # the 202 (curl --fail-with-body stops at a 409 or 429)

    assert trend["product"] == product["id"]
    assert (trend["interval"], trend["tz"]) == ("hour", "Europe/Prague")
    prague = datetime.now(ZoneInfo("Europe/Prague")).utcoffset()
    assert datetime.fromisoformat(trend["end"]).utcoffset() == prague
    assert len(trend["points"]) >= 1  # the first sync's snapshot, in the current hour's bucket
    if offers["results"]:
        assert trend["points"][-1]["mean_price"] is not None

    # Its alerts: a rule with its noise controls, a back-test, the feed, quiet nights.
    assert rule["description"] == "Cheapest offer below 950 CZK"
    assert (rule["debounce"], rule["cooldown_minutes"], rule["armed"]) == (2, 60, True)
    assert backtest["available"] and backtest["syncs"] >= 1 and len(backtest["per_day"]) == 31
    assert unread["count"] == len(unread["results"])  # whatever fired meanwhile
    assert marked["marked"] >= unread["count"]  # and any that fired in between
    assert (quiet["quiet_start"], quiet["quiet_end"]) == (22, 7)

    # Its market position: the prices set, the offers below the MAP, its memory, what moved.
    assert (priced["my_price"], priced["map_price"]) == (1290, 1199)
    position = priced["position"]
    if position["offer_count"]:
        assert position["rank_of"] == position["offer_count"] + 1
        assert 1 <= position["rank"] <= position["rank_of"]
    assert violations["count"] == len(violations["results"])
    for violation in violations["results"]:
        assert violation["product"] == product["id"] and violation["map_price"] == 1199
        assert violation["lowest_price"] < 1199 and violation["seconds_below"] > 0
    assert (memory["product"], memory["window"]) == (product["id"], "90d")
    assert memory["history_since"] is not None
    assert [m["movement"] for m in movements["movements"]] == [
        "rises",
        "drops",
        "sold-out",
        "restocked",
        "appeared",
        "vanished",
        "new-lows",
    ]
    drops = next(m for m in movements["movements"] if m["movement"] == "drops")
    assert drops["products_url"].endswith("/api/v1/products/?moved=drops&within=24h")
    assert dropped["count"] == len(dropped["results"]) <= 1

    # The sync the walkthrough asked for is done by the consumer.
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_of('ada@example.com')}")
    requested_at = datetime.fromisoformat(sync["requested_at"])

    def last_attempt():
        attempt = client.get(f"/api/v1/products/{product['id']}/").json()["sync"]["last_attempt_at"]
        return attempt is not None and datetime.fromisoformat(attempt) >= requested_at

    wait_until(
        last_attempt,
        timeout=30,
        message=lambda: f"the requested sync\n{huey_consumer.logs()}",
    )


def token_of(email: str) -> str:
    from accounts.models import User
    from accounts.services import user_api_token_create

    return user_api_token_create(user=User.objects.get(email=email))
