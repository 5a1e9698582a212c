"""The API's docs page in Chromium: Swagger UI, served from our own static files, shows every
operation of the schema, and "Try it out" works from the page with the browser's session (and
the CSRF header drf-spectacular's page adds to unsafe methods)."""

import json

import pytest
from playwright.sync_api import expect

from pricing.services import alert_rule_create
from products.models import Product

API = "/api/v1"
SIDECAR = "/static/drf_spectacular_sidecar/swagger-ui-dist/"
METHODS = {"get", "put", "patch", "post", "delete"}

# (METHOD, path) of every operation Swagger UI rendered.
RENDERED_OPERATIONS = """() => Array.from(document.querySelectorAll('.opblock'), block => [
  block.querySelector('.opblock-summary-method').textContent.trim(),
  block.querySelector('.opblock-summary-path').dataset.path,
])"""
ASSETS = """() => Array.from(
  document.querySelectorAll('script[src], link[href]'), element => element.src || element.href
)"""


@pytest.fixture
def product(make_product):
    """The user's product, registered, with two current offers (mean 1,350), my price of
    1,300 and a MAP of 1,250 (the cheaper offer is below it)."""
    return make_product(
        "Espresso machine", prices=[(1200, 3), (1500, 1)], my_price=1300, map_price=1250
    )


@pytest.fixture
def schema(signed_in_page, live_server) -> dict:
    """The OpenAPI schema, fetched with the page's session."""
    response = signed_in_page.request.get(f"{live_server.url}{API}/schema/?format=json")
    assert response.ok, response.status
    return response.json()


@pytest.fixture
def docs_page(outside_requests, page_errors, signed_in_page, live_server):
    """The docs page, Swagger UI rendered. The page's every request is watched from the start
    (outside_requests comes first)."""
    page = signed_in_page
    page.goto(f"{live_server.url}{API}/docs/")
    expect(page.locator(".opblock").first).to_be_visible()
    return page


def operations_of(schema: dict) -> dict[tuple[str, str], dict]:
    return {
        (method.upper(), path): operation
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if method in METHODS
    }


def operation_block(page, method: str, path: str):
    return page.locator(f".opblock.opblock-{method.lower()}").filter(
        has=page.locator(f'.opblock-summary-path[data-path="{path}"]')
    )


def try_it_out(
    page, method: str, path: str, *, product_id=None, rule_id=None, body=None
) -> tuple[int, object]:
    """Expand the operation, "Try it out", fill in the product's (or rule's) id and the body
    (else the example the page shows), "Execute"; the status and JSON body the response panel
    shows."""
    block = operation_block(page, method, path)
    expect(block).to_have_count(1)
    block.locator(".opblock-summary-control").click()
    block.get_by_role("button", name="Try it out").click()
    for name, value in (("product_id", product_id), ("rule_id", rule_id)):
        if f"{{{name}}}" in path:
            block.locator(f'tr[data-param-name="{name}"] input').fill(str(value))
    if body is not None:
        block.locator("textarea.body-param__text").fill(json.dumps(body))
    block.get_by_role("button", name="Execute").click()
    answer = block.locator(".live-responses-table .response")
    expect(answer).to_be_visible()
    answer.scroll_into_view_if_needed()  # for a screenshot
    status = int(answer.locator(".response-col_status").text_content().strip())
    text = answer.locator(".response-col_description .highlight-code code").text_content()
    try:
        return status, json.loads(text)
    except ValueError:
        pytest.fail(f"{method} {path} answered {status} with no JSON body: {text[:500]!r}")


def test_swagger_ui_is_ours_and_shows_every_operation_of_the_schema(
    outside_requests, page_errors, signed_in_page, live_server, schema
):
    page = signed_in_page
    answers: dict[str, int] = {}
    page.on("response", lambda response: answers.__setitem__(response.url, response.status))
    page.goto(f"{live_server.url}{API}/docs/")
    expect(page.locator(".opblock").first).to_be_visible()

    # Swagger UI's code, styles and icon: drf-spectacular-sidecar's copy, through our server.
    assets = page.evaluate(ASSETS)
    names = {url.rsplit("/", 1)[1] for url in assets}
    assert {"swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css"} <= names
    for url in assets:
        assert url.startswith(f"{live_server.url}{SIDECAR}"), url
        assert answers.get(url) == 200, (url, answers.get(url))

    operations = operations_of(schema)
    assert len(operations) >= 15  # users, tokens, products and their sub-resources
    expect(page.locator(".opblock")).to_have_count(len(operations))
    assert {tuple(pair) for pair in page.evaluate(RENDERED_OPERATIONS)} == set(operations)
    for (method, path), operation in operations.items():
        summary = operation_block(page, method, path).locator(".opblock-summary-description")
        expect(summary).to_have_text(operation["summary"])

    assert outside_requests == []
    assert page_errors == []


def test_try_it_out_runs_the_operations_with_the_session(
    outside_requests, page_errors, product, docs_page, schema, user, artifacts_dir
):
    page = docs_page
    operations = operations_of(schema)
    mean = (1200 + 1500) / 2
    rule = alert_rule_create(
        owner=user,
        product_id=product.pk,
        spec={"kind": "price_below", "figure": "cheapest", "threshold": 1000},
    )
    # Every GET of the schema, with what its answer must show.
    expected_gets = {
        f"{API}/users/me/": lambda body: body["email"] == user.email,
        f"{API}/products/": lambda body: (
            [result["id"] for result in body["results"]] == [str(product.pk)]
            and body["results"][0]["statistics"]["mean_price"] == mean
        ),
        f"{API}/products/{{product_id}}/": lambda body: (
            body["id"] == str(product.pk)
            and body["registration_state"] == "registered"
            and body["statistics"]["offer_count"] == 2
            and body["position"]["rank"] == 2
        ),
        f"{API}/products/{{product_id}}/offers/": lambda body: (
            [offer["price"] for offer in body["results"]] == [1200, 1500]
        ),
        f"{API}/products/{{product_id}}/history/": lambda body: (
            body["product"] == str(product.pk)
            and any(point["mean_price"] == mean for point in body["points"])
            and len(body["offers"]) == 2
        ),
        f"{API}/products/{{product_id}}/alert-rules/": lambda body: (
            [rule["id"] for rule in body["results"]] == [rule.id]
        ),
        f"{API}/alert-rules/{{rule_id}}/": lambda body: (
            body["description"] == "Cheapest offer below 1,000 CZK"
        ),
        f"{API}/alerts/": lambda body: body["count"] == 0,
        f"{API}/products/{{product_id}}/map-violations/": lambda body: (
            [violation["lowest_price"] for violation in body["results"]] == [1200]
        ),
        f"{API}/map-violations/": lambda body: (
            [violation["lowest_price"] for violation in body["results"]] == [1200]
        ),
        f"{API}/products/{{product_id}}/memory/": lambda body: body["current_cheapest"] == 1200,
        f"{API}/movements/": lambda body: len(body["movements"]) == 7,
        f"{API}/alert-settings/": lambda body: body["email_mode"] == "immediate",
    }
    assert {path for method, path in operations if method == "GET"} == set(expected_gets)
    for path, check in expected_gets.items():
        status, body = try_it_out(page, "GET", path, product_id=product.pk, rule_id=rule.id)
        assert status == 200, (path, body)
        assert "200" in operations["GET", path]["responses"]
        assert check(body), (path, body)

    # Unsafe methods: the session's CSRF token goes with them (else 403).
    status, body = try_it_out(page, "POST", f"{API}/products/")  # the example body, as shown
    assert status == 201, body
    assert "201" in operations["POST", f"{API}/products/"]["responses"]
    assert (body["name"], body["description"]) == ("Espresso machine", "Model X, black")
    assert Product.objects.get(pk=body["id"]).owner == user

    status, body = try_it_out(
        page,
        "PATCH",
        f"{API}/products/{{product_id}}/",
        product_id=product.pk,
        body={"name": "Espresso machine Pro"},
    )
    assert status == 200, body
    assert "200" in operations["PATCH", f"{API}/products/{{product_id}}/"]["responses"]
    product.refresh_from_db()
    assert body["name"] == product.name == "Espresso machine Pro"

    sync = ("POST", f"{API}/products/{{product_id}}/sync/")
    status, body = try_it_out(page, *sync, product_id=product.pk)
    assert str(status) in operations[sync]["responses"], (status, body)
    assert status == 202, body  # registered (make_product): the sync is queued
    assert body["status"] == "queued"

    page.screenshot(path=artifacts_dir / "api-docs-try-it-out.png")  # the sync's answer
    assert outside_requests == []
    assert page_errors == []
