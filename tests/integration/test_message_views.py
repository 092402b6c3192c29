"""Message pages: ownership on every URL, the body's own document and its CSP, attachments
that never render on our origin, and the list pages."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from django.test import Client

from accounts.models import User
from tests.integration.sync_helpers import make_account
from tests.servers.mail import MailServer
from webmail.models import Folder, Message, MessageBody

pytestmark = pytest.mark.django_db


def stored_message(alice: User, mailserver: MailServer, raw: bytes, subject: str = "s") -> Message:
    account = make_account(alice, mailserver)
    folder = Folder.objects.create(
        account=account,
        name="INBOX",
        raw_name="INBOX",
        special_use="inbox",
        uidvalidity=1,
        total=1,
        unseen=1,
    )
    message = Message.objects.create(
        folder=folder,
        uid=1,
        subject=subject,
        from_email="x@example.test",
        internaldate="2026-11-01T10:00:00Z",
        size=len(raw),
    )
    MessageBody.objects.create(message=message, raw=raw, size=len(raw))
    return message


def rich_mail() -> bytes:
    msg = EmailMessage()
    msg["From"] = "x@example.test"
    msg["To"] = "alice@example.test"
    msg["Subject"] = "rich"
    msg.set_content("plain part")
    msg.add_alternative(
        '<p onclick="x()">Hi<script>alert(1)</script><img src="https://remote.example/x.png"></p>',
        subtype="html",
    )
    msg.add_attachment(
        b"<html><script>alert(1)</script></html>",
        maintype="text",
        subtype="html",
        filename="evil.html",
    )
    msg.add_attachment(
        b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>",
        maintype="image",
        subtype="svg+xml",
        filename="evil.svg",
    )
    return msg.as_bytes()


@pytest.mark.mailserver
def test_every_url_of_a_message_is_private(
    client: Client, alice: User, carol: User, mailserver: MailServer
) -> None:
    message = stored_message(alice, mailserver, rich_mail())
    client.force_login(carol)
    for suffix in ("", "body/", "raw/", "raw/?download=1", "part/2/", "part/3/"):
        assert client.get(f"/mail/message/{message.pk}/{suffix}").status_code == 404, suffix
    assert client.get(f"/mail/folder/{message.folder_id}/").status_code == 404
    assert client.post(f"/mail/message/{message.pk}/trust/").status_code == 404
    client.force_login(alice)
    assert client.get(f"/mail/message/{message.pk}/").status_code == 200


@pytest.mark.mailserver
def test_the_body_is_clean_and_locked_down(
    client: Client, alice: User, mailserver: MailServer
) -> None:
    message = stored_message(alice, mailserver, rich_mail())
    client.force_login(alice)
    page = client.get(f"/mail/message/{message.pk}/").content.decode()
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in page
    assert "allow-scripts" not in page and "allow-same-origin" not in page
    body = client.get(f"/mail/message/{message.pk}/body/")
    html = body.content.decode()
    assert "default-src 'none'" in body["Content-Security-Policy"]
    assert "script" not in html.lower() and "onclick" not in html
    assert "remote.example" not in html.split("data-remote-src")[0]
    assert "Hi" in html
    shown = client.get(f"/mail/message/{message.pk}/body/?remote=1").content.decode()
    assert "/mail/proxy/?u=" in shown


@pytest.mark.mailserver
def test_dangerous_attachments_only_download(
    client: Client, alice: User, mailserver: MailServer
) -> None:
    message = stored_message(alice, mailserver, rich_mail())
    client.force_login(alice)
    page = client.get(f"/mail/message/{message.pk}/").content.decode()
    assert "evil.html" in page and "evil.svg" in page
    for part in ("2", "3"):
        response = client.get(f"/mail/message/{message.pk}/part/{part}/?inline=1")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/octet-stream"
        assert response["Content-Disposition"].startswith("attachment")
        assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.mailserver
def test_list_pages_and_bulk_action_form(
    client: Client, alice: User, mailserver: MailServer
) -> None:
    message = stored_message(alice, mailserver, rich_mail(), subject="listed")
    client.force_login(alice)
    for url in (
        "/mail/",
        "/mail/all/inbox/",
        "/mail/all/unread/",
        "/mail/all/flagged/",
        f"/mail/folder/{message.folder_id}/",
        f"/mail/folder/{message.folder_id}/?sort=size",
        f"/mail/folder/{message.folder_id}/?conversations=1",
        "/mail/all/inbox/?partial=list",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
    assert "listed" in client.get("/mail/all/inbox/").content.decode()
    response = client.post(
        "/mail/act/", {"action": "nonsense", "ids": [message.pk]}, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 400


@pytest.mark.mailserver
def test_a_body_is_parsed_once_for_reader_frame_and_attachments(
    client: Client, alice: User, mailserver: MailServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from webmail.views import message as views

    parses: list[int] = []
    real = views.parse_message

    def counting(raw: bytes) -> object:
        parses.append(len(raw))
        return real(raw)

    monkeypatch.setattr(views, "parse_message", counting)
    message = stored_message(alice, mailserver, rich_mail())
    client.force_login(alice)
    assert client.get(f"/mail/message/{message.pk}/").status_code == 200
    assert client.get(f"/mail/message/{message.pk}/body/").status_code == 200
    assert client.get(f"/mail/message/{message.pk}/part/2/").status_code in (200, 404)
    assert len(parses) == 1
    # A body fetched again (a new row) is parsed again, never served from the old parse.
    MessageBody.objects.filter(message=message).delete()
    MessageBody.objects.create(message=message, raw=rich_mail(), size=1)
    assert client.get(f"/mail/message/{message.pk}/body/").status_code == 200
    assert len(parses) == 2
