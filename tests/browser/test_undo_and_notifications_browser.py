"""Drag to a folder, conversations, undo and desktop notifications, in Chromium against the
live app (web, worker, push) and the real Dovecot."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from django.test import override_settings

from accounts.models import MailAccount, User
from tests.browser.test_login_browser import sign_in
from tests.conftest import PASSWORD
from tests.integration.sync_helpers import make_account, make_message
from tests.integration.test_threads import mail
from tests.integration.test_undo import server_subjects
from tests.servers.mail import MailServer
from webmail.sync.account import enrich_account, sync_account

pytestmark = [
    pytest.mark.browser,
    pytest.mark.mailserver,
    pytest.mark.django_db(transaction=True),
]

# Records what the page asks of the browser's Notification API (the permission itself stays
# the browser's own, as granted or not by the test), and makes the tab look hidden.
NOTIFICATION_SPY = """
(() => {
  const Real = window.Notification;
  let asked = null;
  window.__notes = [];
  window.__asked = 0;
  class Spy {
    constructor(title, options) { window.__notes.push({ title, body: (options || {}).body }); }
    close() {}
    static get permission() { return asked || Real.permission; }
    static requestPermission() {
      window.__asked += 1;
      asked = "granted";
      return Promise.resolve(asked);
    }
  }
  window.Notification = Spy;
  Object.defineProperty(Document.prototype, "hidden", { get: () => true });
})();
"""


def eventually(check: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return check()


def synced(account: MailAccount, *, threads: bool = False) -> MailAccount:
    account.incoming_security = "none"  # plaintext to loopback: no CA needed
    account.save()
    with override_settings(ALLOWED_MAIL_HOSTS=["127.0.0.1"]):
        sync_account(account.pk)
        if threads:
            enrich_account(account.pk)
    return account


@pytest.fixture
def mailbox(bob: User, mailserver: MailServer) -> MailAccount:
    """bob with three messages in a synced Inbox."""
    mailserver.clear("bob")
    for i in range(3):
        mailserver.append("bob", "INBOX", make_message(f"hello {i}", to="bob@example.test"))
    return synced(make_account(bob, mailserver, "bob"))


def open_inbox(page: Any) -> None:
    sign_in(page, "bob", PASSWORD)
    page.wait_for_url("**/mail/")
    page.wait_for_selector("#rows .row")


def test_drag_a_message_onto_a_folder(
    page: Any, mailbox: MailAccount, mailserver: MailServer
) -> None:
    archive = mailbox.folders.get(special_use="archive")
    open_inbox(page)
    row = page.locator("#rows .row", has_text="hello 1")
    row.drag_to(page.locator(f'#folders li[data-folder="{archive.pk}"]'))
    row.wait_for(state="detached", timeout=30_000)  # the list refreshed from the server
    assert page.locator("#rows .row").count() == 2
    assert eventually(lambda: server_subjects(mailserver, "bob", "Archive") == ["hello 1"])
    assert "hello 1" not in server_subjects(mailserver, "bob", "INBOX")


@pytest.fixture
def conversation(bob: User, mailserver: MailServer) -> MailAccount:
    mailserver.clear("bob")
    mailserver.append("bob", "INBOX", mail("plan", "<a@x>"))
    mailserver.append("bob", "INBOX", mail("Re: plan", "<b@x>", "<a@x>", "<a@x>"))
    mailserver.append("bob", "INBOX", mail("Re: plan", "<c@x>", "<b@x>", "<a@x> <b@x>"))
    mailserver.append("bob", "INBOX", mail("unrelated", "<z@x>"))
    return synced(make_account(bob, mailserver, "bob"), threads=True)


def test_conversation_toggle(page: Any, conversation: MailAccount) -> None:
    open_inbox(page)
    assert page.locator("#rows .row").count() == 4
    page.click("#toggle-conversations")
    page.wait_for_url("**conversations=1**")
    rows = page.locator("#rows .row")
    assert rows.count() == 2
    thread = rows.filter(has_text="plan")
    assert thread.count() == 1
    assert thread.locator(".thread-count").inner_text().strip() == "3"
    assert rows.filter(has_text="unrelated").locator(".thread-count").count() == 0
    page.click("#toggle-conversations")
    page.wait_for_url("**conversations=0**")
    assert page.locator("#rows .row").count() == 4
    assert page.locator("#rows .row .thread-count").count() == 0


def test_undo_brings_an_archived_message_back(
    page: Any, mailbox: MailAccount, mailserver: MailServer
) -> None:
    open_inbox(page)
    # With the script: `e` archives the row under the cursor; the toast offers Undo.
    page.keyboard.press("j")
    subject = page.locator("#rows .row.cursor .subject").inner_text()
    page.keyboard.press("e")
    toast = page.locator("#toast")
    toast.get_by_text("Moved 1 message to Archive.").wait_for()
    assert toast.get_attribute("role") == "status"
    assert eventually(lambda: server_subjects(mailserver, "bob", "Archive") == [subject])
    page.locator("#undo-button").click()
    toast.get_by_text("Undoing; the server is being told.").wait_for()
    assert eventually(lambda: subject in server_subjects(mailserver, "bob", "INBOX"))
    assert server_subjects(mailserver, "bob", "Archive") == []
    page.locator("#rows .row", has_text=subject).wait_for(timeout=30_000)
    # The plain form post: the flash message carries an Undo form, and `z` uses it.
    page.locator("#rows .row", has_text="hello 2").locator("input[type=checkbox]").check()
    page.click("button[name=action][value=archive]")
    page.locator(".undo-form button").wait_for()
    assert eventually(lambda: "hello 2" in server_subjects(mailserver, "bob", "Archive"))
    page.keyboard.press("z")
    page.get_by_text("Undoing; the server is being told.").wait_for()
    assert eventually(lambda: "hello 2" in server_subjects(mailserver, "bob", "INBOX"))
    assert server_subjects(mailserver, "bob", "Archive") == []


def test_desktop_notification_for_new_mail(
    page: Any, mailbox: MailAccount, mailserver: MailServer
) -> None:
    page.context.grant_permissions(["notifications"])
    page.context.add_init_script(NOTIFICATION_SPY)
    open_inbox(page)
    assert not page.locator("#enable-notifications").is_visible()  # already granted
    mailserver.deliver(
        "zoe@example.test", ["bob@example.test"], make_message("ping", to="bob@example.test")
    )
    page.wait_for_function("() => window.__notes.length > 0", timeout=30_000)
    notes = page.evaluate("() => window.__notes")
    assert notes == [{"title": "Zoë Sender", "body": "ping"}]


def test_the_notification_button_asks_when_the_browser_has_not(
    page: Any, mailbox: MailAccount
) -> None:
    page.context.add_init_script(NOTIFICATION_SPY)
    open_inbox(page)
    assert page.evaluate("() => Notification.permission") == "default"
    button = page.locator("#enable-notifications")
    assert button.is_visible()
    assert button.inner_text() == "Turn on desktop notifications"
    button.click()
    button.wait_for(state="hidden")
    assert page.evaluate("() => window.__asked") == 1
