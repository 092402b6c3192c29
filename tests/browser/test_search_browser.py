"""Searching the mailbox in Chromium: `/` to the box, Enter, only the hits, open one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings

from accounts.models import MailAccount, User
from tests.browser.test_login_browser import sign_in
from tests.conftest import PASSWORD
from tests.integration.sync_helpers import make_account, make_message
from tests.servers.mail import MailServer
from webmail.sync.account import enrich_account, sync_account

pytestmark = [
    pytest.mark.browser,
    pytest.mark.mailserver,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def searchable(bob: User, mailserver: MailServer) -> Iterator[MailAccount]:
    mailserver.clear("bob")
    for subject, body in (
        ("Invoice for March", "Please pay"),
        ("Lunch on Friday", "Pizza?"),
        ("Meeting notes", "The invoice is attached"),
        ("گزارش ماهانه", "سلام"),
        ("Deep dive", "filler " * 200 + "a walrus at the end"),  # past the cached preview
    ):
        mailserver.append("bob", "INBOX", make_message(subject, to="bob@example.test", body=body))
    mailserver.append(
        "bob", "Archive", make_message("Old invoice from 2020", to="bob@example.test")
    )
    account = make_account(bob, mailserver, "bob")
    account.incoming_security = "none"
    account.save()
    with override_settings(ALLOWED_MAIL_HOSTS=["127.0.0.1"]):
        sync_account(account.pk)
        enrich_account(account.pk)  # previews: the start of each body
    yield account


def subjects(page: Any) -> list[str]:
    return [s.strip() for s in page.locator("#rows .row .subject").all_inner_texts()]


def test_slash_type_enter_then_open_a_hit(page: Any, searchable: MailAccount) -> None:
    sign_in(page, "bob", PASSWORD)
    page.wait_for_url("**/mail/")
    page.wait_for_selector("#rows .row")
    assert len(subjects(page)) == 5
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "search-input"
    page.keyboard.type("invoice")
    page.keyboard.press("Enter")
    page.wait_for_url("**q=invoice**")
    page.wait_for_selector("#search-summary")
    # "invoice" is in one subject; the other hit has it in its preview (the body's start).
    assert sorted(subjects(page)) == ["Invoice for March", "Meeting notes"]
    assert "2 results for “invoice”" in page.locator("#search-summary").inner_text()
    assert page.locator("#search-input").input_value() == "invoice"
    # Opening a hit works as in any list, in the reading pane.
    page.click("#rows .row >> text=Invoice for March")
    page.wait_for_selector("#message-view .subject >> text=Invoice for March")
    page.frame_locator("#body-frame").locator("text=Please pay").wait_for()
    # All folders of every account: the Archive's hit joins.
    page.select_option("#search-scope", "all")
    page.click("#search-form-submit")
    page.wait_for_url("**scope=all**")
    page.wait_for_selector("#rows .row >> text=Old invoice from 2020")
    assert len(subjects(page)) == 3
    # Escape clears the box, a second Escape leaves the search for the folder.
    page.keyboard.press("/")
    page.keyboard.press("Escape")
    assert page.locator("#search-input").input_value() == ""
    page.keyboard.press("Escape")
    page.wait_for_function("() => !location.search.includes('q=')")
    page.wait_for_selector("#rows .row >> text=Lunch on Friday")
    assert page.locator("#search-summary").count() == 0


def test_persian_search_and_no_hits(page: Any, searchable: MailAccount) -> None:
    sign_in(page, "bob", PASSWORD)
    page.wait_for_selector("#rows .row")
    page.fill("#search-input", "گزارش")
    page.press("#search-input", "Enter")
    page.wait_for_selector("#search-summary")
    assert subjects(page) == ["گزارش ماهانه"]
    page.fill("#search-input", "from:nobody-like-this")
    page.press("#search-input", "Enter")
    page.wait_for_selector("text=No messages match this search.")
    assert page.locator("#rows .row").count() == 0


def test_what_is_typed_survives_a_live_refresh(
    page: Any, searchable: MailAccount, mailserver: MailServer
) -> None:
    sign_in(page, "bob", PASSWORD)
    page.wait_for_selector("#rows .row")
    page.keyboard.press("/")
    page.keyboard.type("half-typed")
    mailserver.deliver(
        "zoe@example.test", ["bob@example.test"], make_message("fresh news", to="bob@example.test")
    )
    page.wait_for_selector("#rows .row >> text=fresh news", timeout=30_000)
    assert page.locator("#search-input").input_value() == "half-typed"
    assert page.evaluate("document.activeElement.id") == "search-input"


def test_searching_the_message_text_on_the_mail_server(page: Any, searchable: MailAccount) -> None:
    sign_in(page, "bob", PASSWORD)
    page.wait_for_selector("#rows .row")
    page.fill("#search-input", "walrus")
    page.press("#search-input", "Enter")
    page.wait_for_selector("text=No messages match this search.")
    page.click("#server-search")
    page.wait_for_url("**server=**")
    # The worker asks Dovecot; the page looks again until the answer is there.
    page.wait_for_selector("#rows .row >> text=Deep dive", timeout=30_000)
    assert subjects(page) == ["Deep dive"]
    assert "1 result for “walrus”" in page.locator("#search-summary").inner_text()
