"""Attachment previews end to end: mail with PDF and image attachments on the real Dovecot,
synced, its body fetched from the server on demand, then previewed through the Django client.
PDF pages come back as PNG images we rendered; nothing else is ever shown inline."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from django.test import Client, override_settings

from accounts.models import MailAccount, User
from tests.integration.sync_helpers import make_account
from tests.mime.pdfs import decode_png, encrypted_pdf, pixel, rectangles_pdf
from tests.servers.mail import MailServer
from webmail import previews
from webmail.mime.pdf_preview import encode_png
from webmail.models import Message, MessageBody
from webmail.sync.account import sync_account

pytestmark = [pytest.mark.django_db, pytest.mark.mailserver]

THREE_PAGES = rectangles_pdf(
    [(612.0, 792.0, (0, 0, 1)), (612.0, 792.0, (1, 0, 0)), (792.0, 612.0, (0, 1, 0))]
)
PNG = encode_png(bytes([255, 0, 0]) * 4, 2, 2, stride=6)


@pytest.fixture
def account(alice: User, mailserver: MailServer, eager: None) -> Iterator[MailAccount]:
    mailserver.clear("alice")
    with override_settings(ALLOWED_MAIL_HOSTS=["127.0.0.1"], CA_FILE=str(mailserver.ca_file)):
        yield make_account(alice, mailserver)


def mail(subject: str, *attachments: tuple[bytes, str, str, str]) -> bytes:
    msg = EmailMessage()
    msg["From"] = "x@example.test"
    msg["To"] = "alice@example.test"
    msg["Subject"] = subject
    msg.set_content("see attached")
    for data, maintype, subtype, filename in attachments:
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


def delivered(account: MailAccount, mailserver: MailServer, raw: bytes) -> Message:
    mailserver.append("alice", "INBOX", raw)
    sync_account(account.pk)
    message = Message.objects.filter(folder__account=account).order_by("-uid").first()
    assert message is not None
    return message


def test_a_pdf_previews_as_page_images(
    client: Client, alice: User, carol: User, account: MailAccount, mailserver: MailServer
) -> None:
    message = delivered(
        account, mailserver, mail("report", (THREE_PAGES, "application", "pdf", "report.pdf"))
    )
    assert not MessageBody.objects.filter(message=message).exists()
    base = f"/mail/message/{message.pk}/part/2"
    client.force_login(alice)
    # Not cached yet: the page says so and the body is fetched from the server.
    first = client.get(f"{base}/preview/").content.decode()
    assert 'id="downloading"' in first
    assert MessageBody.objects.filter(message=message).exists()

    reader = client.get(f"/mail/message/{message.pk}/?partial=reader").content.decode()
    assert f'href="{base}/preview/"' in reader and "report.pdf" in reader

    page = client.get(f"{base}/preview/")
    html = page.content.decode()
    assert page.status_code == 200 and "report.pdf" in html
    assert "3 pages" in html and "Showing the first" not in html
    images = re.findall(r'<img src="([^"]+)" width="(\d+)" height="(\d+)"', html)
    assert images == [
        (f"{base}/page/1.png", "1200", "1553"),
        (f"{base}/page/2.png", "1200", "1553"),
        (f"{base}/page/3.png", "1200", "928"),
    ]
    assert f'href="/mail/message/{message.pk}/part/2/"' in html  # download stays

    colours = {1: (0, 0, 255), 2: (255, 0, 0), 3: (0, 255, 0)}
    for number, (url, width, height) in enumerate(images, start=1):
        response = client.get(url)
        assert response.status_code == 200
        assert response["Content-Type"] == "image/png"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in response["Content-Security-Policy"]
        w, h, rows = decode_png(response.content)
        assert (str(w), str(h)) == (width, height)
        assert pixel(rows, 5, h - 5) == colours[number]
    for missing in (0, 4, 51):
        assert client.get(f"{base}/page/{missing}.png").status_code == 404
    assert client.get(f"/mail/message/{message.pk}/part/9/preview/").status_code == 404
    # The plain text part is no attachment: nothing to preview there.
    assert client.get(f"/mail/message/{message.pk}/part/1/page/1.png").status_code == 404

    # Rendered pages are cached: they come back with the body evicted from the cache.
    MessageBody.objects.filter(message=message).delete()
    again = client.get(f"{base}/page/2.png")
    assert again.status_code == 200 and decode_png(again.content)[:2] == (1200, 1553)

    # Someone else's message: 404 for the page and the images, cached or not.
    client.force_login(carol)
    for url in (f"{base}/preview/", f"{base}/page/1.png", f"{base}/page/3.png"):
        assert client.get(url).status_code == 404, url


def test_pdfs_that_cannot_be_shown_say_why_and_still_download(
    client: Client, alice: User, account: MailAccount, mailserver: MailServer
) -> None:
    message = delivered(
        account,
        mailserver,
        mail(
            "bad pdfs",
            (encrypted_pdf(), "application", "pdf", "secret.pdf"),
            (b"<html><script>alert(1)</script></html>", "application", "octet-stream", "x.pdf"),
        ),
    )
    client.force_login(alice)
    client.get(f"/mail/message/{message.pk}/")  # fetches the body
    cases = {"2": "it is protected by a password", "3": "it is damaged or not a PDF"}
    for part, reason in cases.items():
        html = client.get(f"/mail/message/{message.pk}/part/{part}/preview/").content.decode()
        assert f"This PDF cannot be previewed: {reason}." in html, part
        assert f'href="/mail/message/{message.pk}/part/{part}/" download' in html
        assert "<ol" not in html
        assert client.get(f"/mail/message/{message.pk}/part/{part}/page/1.png").status_code == 404
        download = client.get(f"/mail/message/{message.pk}/part/{part}/")
        assert download["Content-Type"] == "application/octet-stream"
        assert download["Content-Disposition"].startswith("attachment")


def test_images_preview_on_our_page_and_dangerous_types_never(
    client: Client, alice: User, account: MailAccount, mailserver: MailServer
) -> None:
    message = delivered(
        account,
        mailserver,
        mail(
            "pictures",
            (PNG, "image", "png", "dot.png"),
            (
                b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>",
                "image",
                "svg+xml",
                "x.svg",
            ),
            (b"<html><script>alert(1)</script></html>", "text", "html", "page.pdf.html"),
        ),
    )
    client.force_login(alice)
    client.get(f"/mail/message/{message.pk}/")
    reader = client.get(f"/mail/message/{message.pk}/?partial=reader").content.decode()
    assert f'href="/mail/message/{message.pk}/part/2/preview/"' in reader
    assert f'<img src="/mail/message/{message.pk}/part/2/?inline=1"' in reader  # thumbnail
    assert "part/3/preview/" not in reader and "part/4/preview/" not in reader
    html = client.get(f"/mail/message/{message.pk}/part/2/preview/").content.decode()
    assert f'id="preview-image" src="/mail/message/{message.pk}/part/2/?inline=1"' in html
    image = client.get(f"/mail/message/{message.pk}/part/2/?inline=1")
    assert image["Content-Type"] == "image/png" and image.content == PNG
    assert image["X-Content-Type-Options"] == "nosniff"
    for part in ("3", "4"):
        assert client.get(f"/mail/message/{message.pk}/part/{part}/preview/").status_code == 404
        assert client.get(f"/mail/message/{message.pk}/part/{part}/page/1.png").status_code == 404


def test_long_pdfs_offer_the_first_pages_and_say_so(
    client: Client, alice: User, account: MailAccount, mailserver: MailServer
) -> None:
    pdf = rectangles_pdf([(300.0, 300.0, (0, 0, 1))] * 60)
    message = delivered(account, mailserver, mail("long", (pdf, "application", "pdf", "long.pdf")))
    client.force_login(alice)
    client.get(f"/mail/message/{message.pk}/")
    html = client.get(f"/mail/message/{message.pk}/part/2/preview/").content.decode()
    assert "60 pages" in html
    assert "Showing the first 50 pages; download the file to see the rest." in html
    assert html.count('loading="lazy"') == 49 and html.count('loading="eager"') == 1
    persian = client.get(
        f"/mail/message/{message.pk}/part/2/preview/", HTTP_ACCEPT_LANGUAGE="fa"
    ).content.decode()
    assert "۶۰ صفحه" in persian and "نمایش ۵۰ صفحهٔ نخست" in persian
    assert "صفحهٔ ۲" in persian and "Page" not in persian
    assert client.get(f"/mail/message/{message.pk}/part/2/page/50.png").status_code == 200
    assert client.get(f"/mail/message/{message.pk}/part/2/page/51.png").status_code == 404


def test_the_cache_stays_within_its_budget(
    client: Client, alice: User, account: MailAccount, mailserver: MailServer
) -> None:
    message = delivered(
        account, mailserver, mail("report", (THREE_PAGES, "application", "pdf", "report.pdf"))
    )
    client.force_login(alice)
    client.get(f"/mail/message/{message.pk}/")
    assert client.get(f"/mail/message/{message.pk}/part/2/page/1.png").status_code == 200
    assert previews._evict(0) > 0
    assert not [p for p in previews.cache_dir().iterdir() if not p.name.endswith(".lock")]
    # Evicted pages are rendered again from the cached body.
    assert client.get(f"/mail/message/{message.pk}/part/2/page/1.png").status_code == 200
