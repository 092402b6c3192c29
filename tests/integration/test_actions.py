"""User actions end to end: ownership check, enqueue on commit, the task writes upstream
and the cache takes the server's answer. Tasks run eagerly here, with their arguments
round-tripped through JSON as the broker would."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.http import Http404
from django.test import override_settings

from accounts.models import MailAccount, User
from tests.integration.sync_helpers import make_account, make_message
from tests.servers.mail import MailServer
from webmail import actions
from webmail.models import Folder, MessageBody
from webmail.sync import bodies
from webmail.sync.account import enrich_account, sync_account

pytestmark = [pytest.mark.django_db, pytest.mark.mailserver]


@pytest.fixture
def account(alice: User, mailserver: MailServer, eager: None) -> Iterator[MailAccount]:
    mailserver.clear("alice")
    with override_settings(ALLOWED_MAIL_HOSTS=["127.0.0.1"], CA_FILE=str(mailserver.ca_file)):
        yield make_account(alice, mailserver)


def folder(account: MailAccount, special: str) -> Folder:
    return account.folders.get(special_use=special)


def ids(box: Folder) -> list[int]:
    return list(box.messages.order_by("uid").values_list("pk", flat=True))


def test_mark_read_flag_and_keywords(
    account: MailAccount, mailserver: MailServer, django_capture_on_commit_callbacks: Any
) -> None:
    uid = mailserver.append("alice", "INBOX", make_message("m"))
    sync_account(account.pk)
    inbox = folder(account, "inbox")
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            actions.do_set_flags(
                account.owner, ids(inbox), ["\\Seen", "\\Flagged", "$Todo"], add=True
            )
            == 1
        )
    assert {"\\Seen", "\\Flagged", "$Todo"} <= mailserver.flags("alice", "INBOX", uid)
    row = inbox.messages.get()
    assert row.seen and row.flagged and row.keywords == ["$Todo"]
    with django_capture_on_commit_callbacks(execute=True):
        actions.do_set_flags(account.owner, ids(inbox), ["\\Seen", "$Todo"], add=False)
    assert mailserver.flags("alice", "INBOX", uid) == {"\\Flagged"}
    row.refresh_from_db()
    assert not row.seen and row.keywords == []


def test_mark_folder_read(
    account: MailAccount, mailserver: MailServer, django_capture_on_commit_callbacks: Any
) -> None:
    uids = [mailserver.append("alice", "INBOX", make_message(f"u{i}")) for i in range(3)]
    sync_account(account.pk)
    inbox = folder(account, "inbox")
    with django_capture_on_commit_callbacks(execute=True):
        assert actions.do_mark_folder_read(account.owner, inbox.pk) == 3
    assert all("\\Seen" in mailserver.flags("alice", "INBOX", uid) for uid in uids)
    inbox.refresh_from_db()
    assert inbox.unseen == 0


def test_delete_goes_to_trash_then_expunges(
    account: MailAccount, mailserver: MailServer, django_capture_on_commit_callbacks: Any
) -> None:
    mailserver.append("alice", "INBOX", make_message("doomed"))
    sync_account(account.pk)
    inbox, trash = folder(account, "inbox"), folder(account, "trash")
    with django_capture_on_commit_callbacks(execute=True):
        actions.do_delete_messages(account.owner, ids(inbox))
    assert mailserver.uids("alice", "INBOX") == []
    assert list(trash.messages.values_list("subject", flat=True)) == ["doomed"]
    with django_capture_on_commit_callbacks(execute=True):
        actions.do_delete_messages(account.owner, ids(trash))
    assert mailserver.uids("alice", "Trash") == []
    assert not trash.messages.exists()


def test_move_and_empty_junk(
    account: MailAccount, mailserver: MailServer, django_capture_on_commit_callbacks: Any
) -> None:
    mailserver.append("alice", "INBOX", make_message("spam"))
    sync_account(account.pk)
    inbox, junk = folder(account, "inbox"), folder(account, "junk")
    with django_capture_on_commit_callbacks(execute=True):
        assert actions.do_move_messages(account.owner, ids(inbox), junk.pk) == 1
    assert len(mailserver.uids("alice", "Junk")) == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert actions.do_empty_folder(account.owner, junk.pk) == 1
    assert mailserver.uids("alice", "Junk") == []
    with pytest.raises(actions.NotEmptiable):
        actions.do_empty_folder(account.owner, inbox.pk)


def test_actions_ignore_other_peoples_messages(
    account: MailAccount,
    carol: User,
    mailserver: MailServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    uid = mailserver.append("alice", "INBOX", make_message("mine"))
    sync_account(account.pk)
    inbox = folder(account, "inbox")
    with django_capture_on_commit_callbacks(execute=True):
        assert actions.do_set_flags(carol, ids(inbox), ["\\Seen"], add=True) == 0
        assert actions.do_delete_messages(carol, ids(inbox)) == 0
    assert mailserver.uids("alice", "INBOX") == [uid]
    with pytest.raises(Http404):
        actions.do_mark_folder_read(carol, inbox.pk)
    with pytest.raises(Http404):
        actions.do_move_messages(carol, ids(inbox), inbox.pk)


def test_details_and_bodies(account: MailAccount, mailserver: MailServer) -> None:
    for i in range(7):
        mailserver.append("alice", "INBOX", make_message(f"n{i}", body=f"Body number {i} here."))
    sync_account(account.pk)
    assert not MessageBody.objects.exists()  # the sync itself stays on envelopes
    assert enrich_account(account.pk) == 7
    inbox = folder(account, "inbox")
    newest = inbox.messages.order_by("-internaldate", "-uid")
    assert all(m.details for m in inbox.messages.all())
    assert "Body number" in newest[0].preview
    # The newest few Inbox bodies are fetched ahead; the rest on demand.
    assert MessageBody.objects.filter(message__folder=inbox).count() == bodies.PREFETCH
    # One not prefetched (appended in the same second, the "newest" may include any UID).
    oldest = inbox.messages.filter(body__isnull=True).order_by("uid").first()
    assert oldest is not None
    body = bodies.fetch_body(oldest.pk)
    assert body is not None and b"Body number" in bytes(body.raw)
    assert bodies.evict_bodies(max_bytes=0) == bodies.PREFETCH + 1
    assert not MessageBody.objects.exists()
    assert inbox.messages.count() == 7  # envelopes stay
