"""Reading and managing mail in Chromium against the live app and the real Dovecot."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from accounts.models import MailAccount, User
from tests.browser.test_login_browser import sign_in
from tests.conftest import PASSWORD
from tests.integration.sync_helpers import make_account, make_message
from tests.servers.mail import MailServer
from webmail.models import Message
from webmail.sync.account import sync_account

pytestmark = [
    pytest.mark.browser,
    pytest.mark.mailserver,
    pytest.mark.django_db(transaction=True),
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

HTML_MAIL = (
    b"From: Html Sender <html@example.test>\r\nTo: bob@example.test\r\n"
    b"Subject: Newsletter\r\nMessage-ID: <html-1@example.test>\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    b'<p>Hello <b>reader</b></p><img src="https://tracker.example.com/pixel.png">'
    b"<script>document.title='pwned'</script><a href=\"javascript:alert(1)\">x</a>\r\n"
)


@pytest.fixture
def mailbox(bob: User, mailserver: MailServer) -> Iterator[MailAccount]:
    """bob with a synced account on the rig (plaintext to loopback: no CA needed)."""
    mailserver.clear("bob")
    for i in range(3):
        mailserver.append(
            "bob", "INBOX", make_message(f"hello {i}", to="bob@example.test", body=f"Body {i}")
        )
    mailserver.append("bob", "INBOX", HTML_MAIL)
    account = make_account(bob, mailserver, "bob")
    account.incoming_security = "none"
    account.save()
    with override_settings(ALLOWED_MAIL_HOSTS=["127.0.0.1"]):
        sync_account(account.pk)
    yield account


def open_inbox(page: Any) -> None:
    sign_in(page, "bob", PASSWORD)
    page.wait_for_url("**/mail/")
    page.wait_for_selector("#rows .row")


def test_browse_and_read_text_and_html_mail(page: Any, mailbox: MailAccount) -> None:
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    open_inbox(page)
    assert page.locator("#rows .row").count() == 4
    page.click("#rows .row >> text=Newsletter")
    frame_element = page.wait_for_selector("#body-frame")
    assert frame_element.get_attribute("sandbox") == "allow-popups allow-popups-to-escape-sandbox"
    frame = frame_element.content_frame()
    frame.wait_for_selector("text=reader")
    assert frame.locator("script").count() == 0
    assert frame.locator("a[href^='javascript']").count() == 0
    assert page.title() != "pwned"
    assert page.locator("#remote-bar").is_visible()
    assert not any("tracker.example.com" in url for url in requests)
    origin = re.match(r"https?://[^/]+", page.url).group(0)  # type: ignore[union-attr]
    assert all(url.startswith((origin, "data:", "about:")) for url in requests), requests
    # The text message opens in the pane too, read on open.
    page.click("#rows .row >> text=hello 1")
    page.wait_for_selector("#message-view .subject >> text=hello 1")
    page.frame_locator("#body-frame").locator("text=Body 1").wait_for()
    message = Message.objects.get(subject="hello 1")
    page.wait_for_function("() => true")
    for _ in range(50):
        message.refresh_from_db()
        if message.seen:
            break
        page.wait_for_timeout(200)
    assert message.seen


def test_bulk_actions_and_keyboard(page: Any, mailbox: MailAccount, mailserver: MailServer) -> None:
    open_inbox(page)
    page.locator("#rows .row input[type=checkbox]").nth(0).check()
    page.locator("#rows .row input[type=checkbox]").nth(1).click(modifiers=["Shift"])
    page.click("button[name=action][value=flag]")
    page.wait_for_url("**/mail/**")
    for _ in range(50):
        if Message.objects.filter(folder__account=mailbox, flagged=True).count() == 2:
            break
        page.wait_for_timeout(200)
    assert Message.objects.filter(folder__account=mailbox, flagged=True).count() == 2
    flagged_uids = set(
        Message.objects.filter(folder__account=mailbox, flagged=True).values_list("uid", flat=True)
    )
    assert all("\\Flagged" in mailserver.flags("bob", "INBOX", uid) for uid in flagged_uids)
    # Keyboard: j to the first row, # to delete it.
    page.goto("/mail/")
    page.wait_for_selector("#rows .row")
    page.keyboard.press("j")
    first = page.locator("#rows .row").nth(0).get_attribute("data-id")
    page.keyboard.press("#")
    for _ in range(50):
        if not Message.objects.filter(pk=first, folder__special_use="inbox").exists():
            break
        page.wait_for_timeout(200)
    assert not Message.objects.filter(pk=first, folder__special_use="inbox").exists()
    page.keyboard.press("?")
    assert page.locator("#shortcuts").is_visible()


def test_new_mail_appears_by_itself(
    page: Any, mailbox: MailAccount, mailserver: MailServer
) -> None:
    open_inbox(page)
    assert page.locator("#rows .row").count() == 4
    mailserver.deliver(
        "zoe@example.test", ["bob@example.test"], make_message("fresh news", to="bob@example.test")
    )
    page.wait_for_selector("#rows .row >> text=fresh news", timeout=30_000)


def test_persian_is_right_to_left(
    page: Any, browser: Any, mailbox: MailAccount, live_app: Any
) -> None:
    context = browser.new_context(
        base_url=live_app.url, locale="fa-IR", extra_http_headers={"Accept-Language": "fa"}
    )
    fa = context.new_page()
    sign_in(fa, "bob", PASSWORD)
    fa.wait_for_url("**/mail/")
    assert fa.locator("html").get_attribute("lang") == "fa"
    assert fa.locator("html").get_attribute("dir") == "rtl"
    ARTIFACTS.mkdir(exist_ok=True)
    fa.screenshot(path=str(ARTIFACTS / "mailbox-fa-rtl.png"), full_page=True)
    context.close()


def test_mobile_shows_one_pane_at_a_time(browser: Any, mailbox: MailAccount, live_app: Any) -> None:
    context = browser.new_context(
        base_url=live_app.url,
        viewport={"width": 390, "height": 800},
        is_mobile=True,
        has_touch=True,
    )
    phone = context.new_page()
    sign_in(phone, "bob", PASSWORD)
    phone.wait_for_selector("#rows .row")
    assert not phone.locator("#folders").is_visible()
    phone.click("#rows .row >> text=hello 0")
    phone.wait_for_selector("#message-view")
    assert not phone.locator("#list-pane").is_visible()
    phone.click("#back-to-list")
    assert phone.locator("#list-pane").is_visible()
    context.close()
