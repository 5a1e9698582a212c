"""Browser tests: pytest-playwright driving Debian's Chromium against the live test server."""

import os
import re
import tempfile
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
EXPECTED_STATUS_LOG = re.compile(r"^Failed to load resource: .* status of (409|422|429)\b")

# Playwright runs an event loop in the test thread; Django's ORM refuses to run there unless told
# that it is safe (the tests are synchronous; the loop only drives the browser).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
# Chromium writes to ~/.config and ~/.cache; keep that out of the user's home.
_browser_home = tempfile.mkdtemp(prefix="e2e-chromium-")
os.environ.setdefault("XDG_CONFIG_HOME", _browser_home)
os.environ.setdefault("XDG_CACHE_HOME", _browser_home)


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(item.fspath).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not CHROMIUM.exists():
        message = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)."
        if os.environ.get("E2E_REQUIRED"):
            pytest.fail(message + " E2E_REQUIRED is set, so browser tests may not skip.")
        pytest.skip(message)
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture
def artifacts_dir() -> Path:
    """Where screenshots go (git-ignored; CI keeps them)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def page_errors(page):
    """JavaScript errors on the page; a test asserts the list is empty at its end."""
    errors: list[str] = []

    def on_console(message):
        # The browser logs every 4xx answer; 409, 422 and 429 are the app's deliberate answers
        # (a refused change, a form with errors), not errors of the page.
        if message.type == "error" and not EXPECTED_STATUS_LOG.search(message.text):
            errors.append(message.text)

    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", on_console)
    return errors


@pytest.fixture
def signed_in_page(live_server, page, user, password):
    """The browser signed in as `user` through the login form."""
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_placeholder("Email address").fill(user.email)
    page.get_by_placeholder("Password").fill(password)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(re.compile(r"/dashboard/$"))
    return page


@pytest.fixture
def confirm_email(live_server):
    """confirm_email(page, address): open the confirmation link last emailed to `address` and
    confirm, as a newcomer does after signing up (email verification is mandatory without
    DEBUG). The live server runs in the test process, so its mail is in mail.outbox."""

    def confirm(page, address: str) -> None:
        from django.core import mail

        sent = [message for message in mail.outbox if message.to == [address]]
        assert sent, f"no email to {address}; outbox: {[m.to for m in mail.outbox]}"
        link = re.search(r"https?://[^/\s]+(/accounts/confirm-email/\S+)", sent[-1].body)
        assert link, sent[-1].body
        page.goto(f"{live_server.url}{link.group(1)}")
        page.get_by_role("button", name="Confirm").click()

    return confirm


@pytest.fixture
def outside_requests(page, live_server):
    """Every request the page makes that does not go to the app itself (none should)."""
    outside: list[str] = []
    page.on(
        "request",
        lambda request: (
            outside.append(request.url)
            if not request.url.startswith((live_server.url, "data:", "blob:"))
            else None
        ),
    )
    return outside
