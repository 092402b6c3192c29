"""Previewing a PDF attachment in Chromium: the reader's Preview opens a page of our own whose
page images (rendered by the server) load, the first at once and the rest on scroll."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from accounts.models import MailAccount, User
from tests.browser.test_login_browser import sign_in
from tests.conftest import PASSWORD
from tests.integration.sync_helpers import make_account
from tests.mime.pdfs import rectangles_pdf
from tests.servers.mail import MailServer
from webmail.sync.account import sync_account

pytestmark = [
    pytest.mark.browser,
    pytest.mark.mailserver,
    pytest.mark.django_db(transaction=True),
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PAGES = 6


@pytest.fixture
def mailbox(bob: User, mailserver: MailServer) -> Iterator[MailAccount]:
    mailserver.clear("bob")
    msg = EmailMessage()
    msg["From"] = "Accounts <accounts@example.test>"
    msg["To"] = "bob@example.test"
    msg["Subject"] = "Quarterly report"
    msg.set_content("The report is attached.")
    colours = [(0.1, 0.3, 0.8), (0.8, 0.2, 0.1), (0.1, 0.6, 0.2)]
    pdf = rectangles_pdf([(612.0, 792.0, colours[i % 3]) for i in range(PAGES)])
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="report.pdf")
    mailserver.append("bob", "INBOX", msg.as_bytes())
    account = make_account(bob, mailserver, "bob")
    account.incoming_security = "none"
    account.save()
    with override_settings(ALLOWED_MAIL_HOSTS=["127.0.0.1"]):
        sync_account(account.pk)
    yield account


def loaded(page: Any, selector: str) -> None:
    page.wait_for_function(
        "s => { const i = document.querySelector(s); return i && i.complete && i.naturalWidth }",
        arg=selector,
        timeout=30_000,
    )


def test_preview_shows_the_pdf_pages_as_images(page: Any, mailbox: MailAccount) -> None:
    sign_in(page, "bob", PASSWORD)
    page.wait_for_url("**/mail/")
    page.click("#rows .row >> text=Quarterly report")
    # The body is fetched by the worker; the reader refreshes when it arrives.
    link = page.wait_for_selector(".attachments .preview-link", timeout=30_000)
    assert "report.pdf" in page.inner_text(".attachments")
    with page.expect_popup() as popup_info:
        link.click()
    preview = popup_info.value
    problems: list[str] = []
    preview.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    preview.on("pageerror", lambda e: problems.append(str(e)))
    preview.wait_for_selector("#pdf-pages")
    loaded(preview, "#page-1 img")
    width = preview.eval_on_selector("#page-1 img", "i => i.naturalWidth")
    assert width == 1200
    assert f"{PAGES} pages" in preview.inner_text("#preview-count")
    assert preview.locator("#preview-download").get_attribute("download") is not None
    ARTIFACTS.mkdir(exist_ok=True)
    preview.screenshot(path=str(ARTIFACTS / "pdf-preview.png"))
    page.screenshot(path=str(ARTIFACTS / "pdf-attachment-reader.png"))
    # Later pages load as they scroll into view.
    preview.click(f"#page-{PAGES - 1} a")  # "Next page" on the one before the last
    preview.locator(f"#page-{PAGES} img").scroll_into_view_if_needed()
    loaded(preview, f"#page-{PAGES} img")
    assert not problems, problems
