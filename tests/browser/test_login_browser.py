"""What a person does in Chromium: sign in, get throttled, manage users."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import User
from tests.conftest import PASSWORD

# Marks on each test, not the module: tests/embedded re-collects some of them.
live = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def with_marks(func: Any) -> Any:
    for mark in live:
        func = mark(func)
    return func


def sign_in(page: Any, username: str, password: str) -> None:
    page.goto("/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


@with_marks
def test_a_member_signs_in_and_sees_the_empty_mailbox(page: Any, bob: User) -> None:
    sign_in(page, "bob", PASSWORD)
    page.wait_for_url("**/mail/")
    assert page.locator("#empty-mailbox").is_visible()
    assert page.locator("#add-account").is_visible()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("html").get_attribute("dir") == "ltr"
    page.click("text=Sign out")
    page.wait_for_url("**/login/")
    page.goto("/mail/")
    assert "/login/" in page.url


@with_marks
def test_a_wrong_password_then_the_lock_message(page: Any, bob: User) -> None:
    for _ in range(5):
        sign_in(page, "bob", "not the password")
        assert page.locator("#login-error").is_visible()
    sign_in(page, "bob", PASSWORD)
    error = page.locator("#login-error").inner_text()
    assert "Too many failed sign-in attempts" in error
    assert "Try again in 1 minute" in error
    assert "/login/" in page.url


@with_marks
def test_an_admin_creates_a_user_who_then_signs_in(page: Any, browser: Any, alice: User) -> None:
    sign_in(page, "alice", PASSWORD)
    page.wait_for_url("**/mail/")
    page.click("text=Users")
    page.fill("#new-user input[name=username]", "dave")
    page.fill("#new-user input[name=email]", "dave@example.test")
    page.fill("#new-user input[name=password]", "daves long passphrase")
    page.click("#new-user button[type=submit]")
    page.wait_for_selector("text=User dave created.")
    assert page.locator("#members tr[data-username=dave]").is_visible()

    other = browser.new_context(base_url=page.url.split("/manage")[0])
    dave_page = other.new_page()
    sign_in(dave_page, "dave", "daves long passphrase")
    dave_page.wait_for_url("**/mail/")
    assert dave_page.locator("#add-account").is_visible()
    # A member sees no admin pages.
    assert dave_page.locator("nav >> text=Users").count() == 0
    other.close()

    # Then alice disables dave: his open session ends.
    page.click("#members tr[data-username=dave] a")
    page.click("button:has-text('Disable')")
    page.wait_for_selector("text=dave is disabled and signed out.")
    assert page.locator("#member-status").inner_text() == "disabled"
