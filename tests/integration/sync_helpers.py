"""Shared pieces of the sync tests: an upstream account for alice on the real Dovecot."""

from __future__ import annotations

from email.message import EmailMessage

from accounts.credentials import encrypt_secret
from accounts.models import MailAccount, User
from tests.servers.mail import MailServer


def make_message(
    subject: str,
    *,
    sender: str = "Zoë Sender <zoe@example.test>",
    to: str = "alice@example.test",
    body: str = "Hello there.",
    attachment: bytes | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{abs(hash((subject, body)))}@example.test>"
    msg["Date"] = "Tue, 03 Nov 2026 10:00:00 +0000"
    msg.set_content(body)
    if attachment is not None:
        msg.add_attachment(attachment, maintype="application", subtype="pdf", filename="report.pdf")
    return msg.as_bytes()


def make_account(
    user: User,
    mailserver: MailServer,
    login: str = "alice",
    *,
    password: str | None = None,
    port: int | None = None,
) -> MailAccount:
    return MailAccount.objects.create(
        owner=user,
        email=f"{login}@example.test",
        incoming_host="127.0.0.1",
        incoming_port=port or mailserver.imap_port,
        incoming_security="starttls",
        incoming_username=login,
        incoming_secret=encrypt_secret(password or mailserver.users[login]),
        outgoing_host="127.0.0.1",
        outgoing_port=mailserver.submission_port,
        outgoing_security="starttls",
        outgoing_username=login,
    )
