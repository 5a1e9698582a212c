"""A newcomer's first minutes: sign up, confirm the address, log out, log back in, change the
name."""

import re

from playwright.sync_api import expect


def test_sign_up_confirm_log_out_log_in_in_another_case_and_change_the_name(
    live_server, page, page_errors, artifacts_dir, confirm_email
):
    page.goto(live_server.url)
    page.get_by_role("link", name="Sign up free").click()

    page.get_by_label("Email:").fill("Newcomer@Example.com")
    page.get_by_label("Password:", exact=True).fill("a-long-passphrase-1")
    page.get_by_label("Password (again):").fill("a-long-passphrase-1")
    page.get_by_role("button", name="Sign Up").click()
    # Not in yet: the address is confirmed first, by the emailed link.
    expect(page.get_by_role("heading", name="Verify Your Email Address")).to_be_visible()
    confirm_email(page, "newcomer@example.com")
    expect(page).to_have_url(re.compile(r"/dashboard/$"))
    expect(page.get_by_role("link", name="newcomer@example.com")).to_be_visible()

    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("button", name="Log out").click()
    expect(nav.get_by_role("link", name="Log in")).to_be_visible()

    nav.get_by_role("link", name="Log in").click()
    page.get_by_placeholder("Email address").fill("NEWCOMER@example.COM")
    page.get_by_placeholder("Password").fill("a-long-passphrase-1")
    page.get_by_role("button", name="Sign In").click()
    expect(page).to_have_url(re.compile(r"/dashboard/$"))

    nav.get_by_role("link", name="newcomer@example.com").click()
    page.get_by_label("Full name").fill("Nora Newcomer")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Your profile is saved.")).to_be_visible()
    expect(nav.get_by_role("link", name="Nora")).to_be_visible()
    page.screenshot(path=artifacts_dir / "profile.png", full_page=True)
    assert page_errors == []
