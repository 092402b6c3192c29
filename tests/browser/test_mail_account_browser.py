"""A user adds a real IMAP account in Chromium and watches its folders fill in live."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import MailAccount, User
from tests.browser.test_login_browser import sign_in
from tests.conftest import PASSWORD
from tests.integration.sync_helpers import make_message
from tests.servers.mail import MailServer


@pytest.mark.browser
@pytest.mark.mailserver
@pytest.mark.django_db(transaction=True)
def test_a_user_adds_an_account_and_sees_folders_fill_in(
    page: Any, bob: User, mailserver: MailServer
) -> None:
    mailserver.clear("bob")
    for i in range(3):
        mailserver.append("bob", "INBOX", make_message(f"hello {i}", to="bob@example.test"))
    sign_in(page, "bob", PASSWORD)
    page.wait_for_url("**/mail/")
    page.click("#add-account")
    page.fill("input[name=email]", "bob@example.test")
    page.fill("input[name=incoming_host]", "127.0.0.1")
    page.fill("input[name=incoming_port]", str(mailserver.imap_port))
    # Plaintext is allowed to loopback only; the live processes then need no CA file.
    page.select_option("select[name=incoming_security]", "none")
    page.fill("input[name=incoming_username]", "bob")
    page.fill("input[name=incoming_password]", mailserver.users["bob"])
    page.fill("input[name=outgoing_host]", "127.0.0.1")
    page.fill("input[name=outgoing_port]", str(mailserver.submission_port))
    page.select_option("select[name=outgoing_security]", "none")
    assert not page.locator("input[name=outgoing_username]").is_visible()
    page.click("button[name=save]")
    page.wait_for_url("**/settings/accounts/*/")
    # Rows arrive from the event stream without a reload.
    inbox = page.locator("#folders tr", has_text="INBOX")
    inbox.wait_for(timeout=30_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('#folders tr')].some("
        "r => r.textContent.includes('INBOX') && r.querySelector('.total')?.textContent === '3')",
        timeout=30_000,
    )
    account = MailAccount.objects.get(owner=bob)
    assert account.incoming_security == "none"
    page.goto("/mail/")
    assert (
        page.locator(".folder-tree li[data-folder]", has_text="INBOX")
        .locator(".count")
        .inner_text()
        == "3"
    )
