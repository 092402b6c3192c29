"""Conversations across folders, built from Message-ID / In-Reply-To / References."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from django.test import override_settings

from accounts.models import MailAccount, User
from tests.integration.sync_helpers import make_account
from tests.servers.mail import MailServer
from webmail.models import Message
from webmail.sync.account import enrich_account, sync_account
from webmail.sync.threads import base_subject

pytestmark = [pytest.mark.django_db, pytest.mark.mailserver]


def mail(subject: str, message_id: str, in_reply_to: str = "", references: str = "") -> bytes:
    msg = EmailMessage()
    msg["From"] = "Zoë <zoe@example.test>"
    msg["To"] = "alice@example.test"
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    msg.set_content("text")
    return msg.as_bytes()


@pytest.fixture
def account(alice: User, mailserver: MailServer) -> Iterator[MailAccount]:
    mailserver.clear("alice")
    with override_settings(ALLOWED_MAIL_HOSTS=["127.0.0.1"], CA_FILE=str(mailserver.ca_file)):
        yield make_account(alice, mailserver)


def thread_of(subject: str) -> str:
    return Message.objects.get(subject=subject).thread


def test_replies_in_sent_join_and_late_parents_adopt(
    account: MailAccount, mailserver: MailServer
) -> None:
    # The reply arrives (and is threaded) before the message it answers.
    mailserver.append("alice", "INBOX", mail("Re: plan", "<c@x>", "<b@x>", "<a@x> <b@x>"))
    sync_account(account.pk)
    enrich_account(account.pk)
    mailserver.append("alice", "INBOX", mail("plan", "<a@x>"))
    mailserver.append("alice", "Sent", mail("Re: plan", "<b@x>", "<a@x>", "<a@x>"))
    mailserver.append("alice", "INBOX", mail("unrelated", "<z@x>"))
    sync_account(account.pk)
    enrich_account(account.pk)
    root = thread_of("plan")
    assert set(Message.objects.filter(thread=root).values_list("message_id", flat=True)) == {
        "<a@x>",
        "<b@x>",
        "<c@x>",
    }
    assert thread_of("unrelated") == "<z@x>"


def test_subject_is_the_last_resort(account: MailAccount, mailserver: MailServer) -> None:
    mailserver.append("alice", "INBOX", mail("Budget 2027", "<p@x>"))
    mailserver.append("alice", "INBOX", mail("RE: Fwd: budget 2027", "<q@x>"))
    sync_account(account.pk)
    enrich_account(account.pk)
    assert thread_of("Budget 2027") == thread_of("RE: Fwd: budget 2027")


def test_base_subject() -> None:
    assert base_subject("Re: AW: Fwd[2]: Hello  world") == "hello world"
    assert base_subject("پاسخ: سلام") == "سلام"
