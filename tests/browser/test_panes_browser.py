"""Resizing the mailbox panes in Chromium: drag, keys, kept across a reload, mirrored in RTL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from accounts.models import MailAccount, User
from tests.browser.test_login_browser import sign_in
from tests.conftest import PASSWORD
from tests.integration.sync_helpers import make_account, make_message
from tests.servers.mail import MailServer
from webmail.sync.account import sync_account

pytestmark = [
    pytest.mark.browser,
    pytest.mark.mailserver,
    pytest.mark.django_db(transaction=True),
]
FOLDERS = "#panes > .splitter[data-pane=folders]"
LIST = "#panes > .splitter[data-pane=list]"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def mailbox(bob: User, mailserver: MailServer) -> MailAccount:
    """bob with two messages in a synced Inbox (plaintext to loopback: no CA needed)."""
    mailserver.clear("bob")
    for i in range(2):
        mailserver.append("bob", "INBOX", make_message(f"hello {i}", to="bob@example.test"))
    account = make_account(bob, mailserver, "bob")
    account.incoming_security = "none"
    account.save()
    with override_settings(ALLOWED_MAIL_HOSTS=["127.0.0.1"]):
        sync_account(account.pk)
    return account


def open_inbox(page: Any) -> None:
    sign_in(page, "bob", PASSWORD)
    page.wait_for_url("**/mail/")
    page.wait_for_selector("#rows .row")
    page.wait_for_selector(f"{LIST}[aria-valuenow]")


def width(page: Any, selector: str) -> float:
    return float(page.locator(selector).bounding_box()["width"])


def drag(page: Any, selector: str, dx: float) -> None:
    box = page.locator(selector).bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y, steps=5)
    page.mouse.up()


def value(page: Any, selector: str, name: str = "aria-valuenow") -> float:
    return float(page.locator(selector).get_attribute(name))


def test_drag_keys_reset_and_kept_across_a_reload(page: Any, mailbox: MailAccount) -> None:
    page.set_viewport_size({"width": 1280, "height": 800})
    open_inbox(page)
    splitter = page.locator(LIST)
    assert splitter.get_attribute("role") == "separator"
    assert splitter.get_attribute("aria-orientation") == "vertical"
    assert splitter.get_attribute("aria-label") == "Resize message list"
    assert splitter.get_attribute("tabindex") == "0"

    # Drag list | reader 120 px to the right: the list gains them, the reader loses them.
    list_before, reader_before = width(page, "#list-pane"), width(page, "#reader")
    drag(page, LIST, 120)
    assert width(page, "#list-pane") == pytest.approx(list_before + 120, abs=2)
    assert width(page, "#reader") == pytest.approx(reader_before - 120, abs=2)
    dragged = width(page, "#list-pane")
    assert value(page, LIST) == pytest.approx(dragged / width(page, "#panes") * 100, abs=0.1)

    page.reload()
    page.wait_for_selector(f"{LIST}[aria-valuenow]")
    assert width(page, "#list-pane") == pytest.approx(dragged, abs=1)
    page.locator(LIST).focus()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "panes-resized.png"))

    # The reader keeps its minimum (20rem) however far the list is dragged.
    drag(page, LIST, 2000)
    assert width(page, "#reader") == pytest.approx(320, abs=2)
    assert value(page, LIST) == value(page, LIST, "aria-valuemax")

    # Keys on folders | list: Right widens by 1%, Shift+Right by 10%, Home/End to the clamps.
    folders = page.locator(FOLDERS)
    folders.focus()
    now, folders_before = value(page, FOLDERS), width(page, "#folders")
    page.keyboard.press("ArrowRight")
    assert value(page, FOLDERS) == pytest.approx(now + 1, abs=0.15)
    assert width(page, "#folders") == pytest.approx(folders_before + 12.8, abs=1.5)
    page.keyboard.press("Shift+ArrowLeft")
    assert value(page, FOLDERS) == pytest.approx(now - 9, abs=0.15)
    page.keyboard.press("Home")
    assert width(page, "#folders") == pytest.approx(160, abs=1)  # 10rem
    assert value(page, FOLDERS) == value(page, FOLDERS, "aria-valuemin")
    page.keyboard.press("End")
    assert value(page, FOLDERS) == value(page, FOLDERS, "aria-valuemax")
    assert width(page, "#reader") >= 319  # the list gave way to keep the reader

    # Enter (and a double click) go back to the default widths, and forget the stored ones.
    page.keyboard.press("Enter")
    assert width(page, "#folders") == pytest.approx(folders_before, abs=1)
    assert page.locator("#message-view").count() == 0  # Enter did not open a message
    page.locator(LIST).dblclick()
    assert width(page, "#list-pane") == pytest.approx(list_before, abs=1)
    assert page.evaluate("localStorage.getItem('webmail.panes')") == "{}"

    # No splitters on a phone (one pane at a time) or on paper.
    page.emulate_media(media="print")
    assert not splitter.is_visible()
    page.emulate_media(media="screen")
    page.set_viewport_size({"width": 390, "height": 800})
    assert not splitter.is_visible()


def test_rtl_dragging_towards_the_reader_widens_the_list(
    browser: Any, mailbox: MailAccount, live_app: Any
) -> None:
    context = browser.new_context(
        base_url=live_app.url,
        locale="fa-IR",
        extra_http_headers={"Accept-Language": "fa"},
        viewport={"width": 1280, "height": 800},
    )
    fa = context.new_page()
    open_inbox(fa)
    assert fa.locator("html").get_attribute("dir") == "rtl"
    assert fa.locator(LIST).get_attribute("aria-label") == "تغییر پهنای فهرست پیام‌ها"
    # Mirrored: folders on the right, the reader on the left, so towards the reader is left.
    assert fa.locator("#folders").bounding_box()["x"] > fa.locator("#list-pane").bounding_box()["x"]
    assert fa.locator("#reader").bounding_box()["x"] < fa.locator("#list-pane").bounding_box()["x"]
    before = width(fa, "#list-pane")
    drag(fa, LIST, -100)
    assert width(fa, "#list-pane") == pytest.approx(before + 100, abs=2)
    # Keys follow the screen: Left moves the splitter towards the reader too.
    fa.locator(LIST).focus()
    now = value(fa, LIST)
    fa.keyboard.press("ArrowLeft")
    assert value(fa, LIST) == pytest.approx(now + 1, abs=0.15)
    ARTIFACTS.mkdir(exist_ok=True)
    fa.screenshot(path=str(ARTIFACTS / "panes-fa-rtl.png"))
    context.close()
