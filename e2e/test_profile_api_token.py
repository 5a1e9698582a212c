"""The API token card in Chromium: create, copy, revoke, all without a page reload."""

import re

from playwright.sync_api import expect

from accounts.services import user_api_token


def test_create_copy_and_revoke_the_api_token_without_a_reload(
    signed_in_page, live_server, user, page_errors, artifacts_dir
):
    page = signed_in_page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.goto(f"{live_server.url}/accounts/profile/")
    card = page.locator("#api-token")
    expect(card.get_by_role("heading", name="API token")).to_be_visible()
    page.evaluate("window.__sameDocument = true")  # a full page load would wipe it out

    card.get_by_role("button", name="Create token").click()
    field = card.get_by_label("Your API token")
    expect(field).to_have_value(re.compile(r"^[0-9a-f]{40}$"))
    key = field.input_value()
    assert key == user_api_token(user=user)
    expect(field).to_be_focused()  # not lost with the button the swap removed

    card.get_by_role("button", name="Copy").click()
    expect(card.get_by_role("status")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == key
    page.screenshot(path=artifacts_dir / "profile-api-token.png", full_page=True)

    dialogs = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    card.get_by_role("button", name="Revoke").click()
    expect(card.get_by_role("button", name="Create token")).to_be_focused()
    expect(field).to_have_count(0)
    assert "stop working" in dialogs[0]
    assert user_api_token(user=user) is None

    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"
    assert page_errors == []
