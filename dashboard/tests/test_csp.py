"""The Content-Security-Policy header (settings: SECURE_CSP), without a browser: enforced on every
page in every mode, and the nonces in the pages match it. e2e/test_csp.py checks in Chromium
that no page breaks it."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NONCE = re.compile(r"'nonce-([\w-]+)'")


def policy_of(response) -> dict[str, list[str]]:
    """The enforced policy of a response, directive by directive."""
    assert "Content-Security-Policy-Report-Only" not in response.headers
    header = response.headers["Content-Security-Policy"]
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: values for name, *values in directives}


def assert_strict(policy: dict[str, list[str]]) -> None:
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"][0] == "'self'"
    assert all(value.startswith("'nonce-") for value in policy["script-src"][1:])
    assert policy["style-src"][0] == "'self'"
    assert all(value.startswith(("'nonce-", "'sha256-")) for value in policy["style-src"][1:])
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:", "blob:"]
    everything = " ".join(value for values in policy.values() for value in values)
    assert "unsafe" not in everything  # no 'unsafe-inline', 'unsafe-eval' or 'unsafe-hashes'
    assert "*" not in everything


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True])
def test_pages_send_the_enforced_policy_in_every_mode(client, user, settings, debug):
    settings.DEBUG = debug
    assert_strict(policy_of(client.get("/")))
    assert_strict(policy_of(client.get("/accounts/login/")))
    client.force_login(user)
    assert_strict(policy_of(client.get("/dashboard/")))


@pytest.mark.django_db
def test_a_page_not_found_sends_the_policy_too(user_client):
    response = user_client.get("/products/00000000-0000-0000-0000-000000000000/")
    assert response.status_code == 404
    assert_strict(policy_of(response))


@pytest.mark.django_db
def test_the_pages_scripts_carry_the_nonce_of_the_header(user_client):
    response = user_client.get("/dashboard/")
    (nonce,) = NONCE.findall(" ".join(policy_of(response)["script-src"]))
    html = response.text
    htmx = re.search(r'<script src="[^"]*/htmx-2\.min\.js" defer nonce="([^"]+)"></script>', html)
    assert htmx and htmx.group(1) == nonce
    # Every script is a file of ours, or a JSON data block: no inline code.
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert " src=" in tag or 'type="application/json"' in tag, tag


@pytest.mark.django_db
def test_the_alert_pages_have_no_inline_code_or_style(user_client, make_product):
    """Their scripts are files (static/js/alerts.js), the back-test's bars SVG attributes."""
    product = make_product("Kettle", [(150, 2)])
    pages = [
        "/alerts/",
        "/alerts/settings/",
        f"/products/{product.pk}/alerts/",
        f"/products/{product.pk}/alerts/new/",
    ]
    for path in pages:
        response = user_client.get(path)
        assert response.status_code == 200, path
        assert_strict(policy_of(response))
        html = response.text
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert " src=" in tag or 'type="application/json"' in tag, (path, tag)
        assert not re.search(r"<style\b|\sstyle=|\son[a-z]+=|hx-on", html), path
    backtest = user_client.post(
        f"/products/{product.pk}/alerts/new/",
        {"kind": "price_below", "figure": "cheapest", "price_threshold": "200", "preview": "1"},
    )
    assert "backtest-bars" in backtest.text
    assert not re.search(r"<style\b|\sstyle=|\son[a-z]+=", backtest.text)


@pytest.mark.django_db
def test_the_api_docs_inline_script_and_style_carry_the_nonce(user_client):
    response = user_client.get("/api/v1/docs/")
    assert response.status_code == 200
    policy = policy_of(response)
    (nonce,) = NONCE.findall(" ".join(policy["script-src"]))
    assert f"'nonce-{nonce}'" in policy["style-src"]
    html = response.text
    inline_scripts = re.findall(r"<script(?![^>]* src=)([^>]*)>", html)
    assert inline_scripts == [f' nonce="{nonce}"']  # Swagger UI's start-up script
    assert re.findall(r"<style([^>]*)>", html) == [f' nonce="{nonce}"']


@pytest.mark.django_db
def test_each_response_has_a_nonce_of_its_own(user_client):
    first, second = (user_client.get("/dashboard/") for _ in range(2))
    nonces = {
        NONCE.search(response.headers["Content-Security-Policy"]).group(1)
        for response in (first, second)
    }
    assert len(nonces) == 2


@pytest.mark.parametrize("debug", ["false", "true"])
def test_the_policy_is_on_in_production_and_development_settings(debug):
    """Settings load once per process: read them in a fresh one, as production or `make run`
    would (with the optional report address)."""
    code = (
        "import json, settings; print(json.dumps({'csp': settings.SECURE_CSP, "
        "'middleware': settings.MIDDLEWARE, "
        "'processors': settings.TEMPLATES[0]['OPTIONS']['context_processors']}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path[:0] = ['site', '.']; {code}"],
        cwd=ROOT,
        env={
            "PATH": os.environ["PATH"],
            "DJANGO_TESTING": "0",
            "ENV_FILE": os.devnull,
            "DEBUG": debug,
            "SECRET_KEY": "x" * 50,
            "CSP_REPORT_URI": "https://reports.example.com/csp",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert "django.middleware.csp.ContentSecurityPolicyMiddleware" in loaded["middleware"]
    assert "django.template.context_processors.csp" in loaded["processors"]
    assert loaded["csp"]["default-src"] == ["'self'"]
    assert loaded["csp"]["report-uri"] == "https://reports.example.com/csp"
