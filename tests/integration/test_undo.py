"""Undo of the last action against the real Dovecot: flags revert only where the action
changed them, moves go back by the server's COPYUID map, only the owner's newest action
undoes, once. Tasks run eagerly (arguments round-tripped through JSON, as by the broker)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.http import Http404
from django.test import Client, override_settings
from django.utils import translation

from accounts.models import MailAccount, User
from tests.conftest import PASSWORD
from tests.integration.sync_helpers import make_account, make_message
from tests.integration.test_actions import folder, ids
from tests.servers.mail import MailServer
from webmail import actions
from webmail.models import Event, UndoableAction, UndoStep
from webmail.sync import writeback
from webmail.sync.account import sync_account

pytestmark = [pytest.mark.django_db, pytest.mark.mailserver]


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    # Messages are asserted in English; a request another test made in Persian leaves its
    # language active on this thread.
    with translation.override("en"):
        yield


@pytest.fixture
def account(alice: User, mailserver: MailServer, eager: None) -> Iterator[MailAccount]:
    """alice's account; tasks run at once."""
    mailserver.clear("alice")
    with override_settings(ALLOWED_MAIL_HOSTS=["127.0.0.1"], CA_FILE=str(mailserver.ca_file)):
        yield make_account(alice, mailserver)


def server_subjects(mailserver: MailServer, user: str, box: str) -> list[str]:
    with mailserver.imap(user) as client:
        client.select_folder(box, readonly=True)
        found = client.fetch(client.search("ALL"), ["ENVELOPE"])
    return sorted(m[b"ENVELOPE"].subject.decode() for m in found.values())


def test_undo_of_read_reverts_only_what_it_changed(
    account: MailAccount, mailserver: MailServer, django_capture_on_commit_callbacks: Any
) -> None:
    uids = [mailserver.append("alice", "INBOX", make_message(f"m{i}")) for i in range(3)]
    mailserver.flag("alice", "INBOX", uids[0], "\\Seen")  # already read before the action
    sync_account(account.pk)
    inbox = folder(account, "inbox")
    with django_capture_on_commit_callbacks(execute=True):
        outcome = actions.do_action(account.owner, "read", ids(inbox))
    assert outcome.count == 3 and outcome.message == "Marked 3 messages as read."
    assert outcome.undo is not None
    assert all("\\Seen" in mailserver.flags("alice", "INBOX", uid) for uid in uids)
    step = UndoStep.objects.get(action_id=outcome.undo)
    assert sorted(step.uids) == uids[1:] and step.state == UndoStep.State.DONE
    with django_capture_on_commit_callbacks(execute=True):
        actions.do_action(account.owner, "undo", [], token=outcome.undo)
    assert "\\Seen" in mailserver.flags("alice", "INBOX", uids[0])
    assert all("\\Seen" not in mailserver.flags("alice", "INBOX", uid) for uid in uids[1:])
    assert sorted(inbox.messages.filter(seen=False).values_list("uid", flat=True)) == uids[1:]
    assert UndoableAction.objects.get(pk=outcome.undo).state == UndoableAction.State.UNDONE
    assert Event.objects.filter(kind="undo", data__state="done").exists()
    # Once only.
    with pytest.raises(actions.ActionRefused, match="no longer"):
        actions.do_action(account.owner, "undo", [], token=outcome.undo)


def test_nothing_changed_offers_no_undo(
    account: MailAccount, mailserver: MailServer, django_capture_on_commit_callbacks: Any
) -> None:
    uid = mailserver.append("alice", "INBOX", make_message("flagged"))
    mailserver.flag("alice", "INBOX", uid, "\\Flagged")
    sync_account(account.pk)
    with django_capture_on_commit_callbacks(execute=True):
        outcome = actions.do_action(account.owner, "flag", ids(folder(account, "inbox")))
    assert outcome.count == 1 and outcome.undo is None


def test_undo_of_archive_moves_exactly_those_messages_back(
    account: MailAccount, mailserver: MailServer, django_capture_on_commit_callbacks: Any
) -> None:
    for subject in ("keep", "go 1", "go 2"):
        mailserver.append("alice", "INBOX", make_message(subject))
    sync_account(account.pk)
    inbox, archive = folder(account, "inbox"), folder(account, "archive")
    going = list(inbox.messages.filter(subject__startswith="go").values_list("pk", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        outcome = actions.do_action(account.owner, "archive", going)
    assert outcome.message == f"Moved 2 messages to {archive.name}."
    assert server_subjects(mailserver, "alice", "Archive") == ["go 1", "go 2"]
    step = UndoStep.objects.get(action_id=outcome.undo)
    assert step.state == UndoStep.State.DONE
    assert sorted(new for _old, new in step.mapping) == mailserver.uids("alice", "Archive")
    # Something else lands in Archive meanwhile: undo must leave it there.
    mailserver.append("alice", "Archive", make_message("archived elsewhere"))
    assert outcome.undo is not None
    with django_capture_on_commit_callbacks(execute=True):
        actions.do_undo(account.owner, outcome.undo)
    assert server_subjects(mailserver, "alice", "INBOX") == ["go 1", "go 2", "keep"]
    assert server_subjects(mailserver, "alice", "Archive") == ["archived elsewhere"]
    assert sorted(inbox.messages.values_list("subject", flat=True)) == ["go 1", "go 2", "keep"]


def test_undo_waits_for_the_move_to_be_written(
    account: MailAccount, mailserver: MailServer, django_capture_on_commit_callbacks: Any
) -> None:
    mailserver.append("alice", "INBOX", make_message("soon spam"))
    sync_account(account.pk)
    inbox = folder(account, "inbox")
    with django_capture_on_commit_callbacks(execute=False) as queued:
        outcome = actions.do_action(account.owner, "spam", ids(inbox))
    assert outcome.undo is not None
    with django_capture_on_commit_callbacks(execute=False):
        actions.do_undo(account.owner, outcome.undo)  # before the move task ran
    with pytest.raises(writeback.UndoNotReady):
        writeback.undo(outcome.undo)
    for callback in queued:
        callback()  # the move task runs now and records the map
    assert mailserver.uids("alice", "INBOX") == []
    writeback.undo(outcome.undo)
    assert server_subjects(mailserver, "alice", "INBOX") == ["soon spam"]
    assert mailserver.uids("alice", "Junk") == []


def test_no_copyuid_means_no_undo(account: MailAccount, mailserver: MailServer) -> None:
    mailserver.append("alice", "INBOX", make_message("moved blind"))
    sync_account(account.pk)
    outcome = actions.do_action(account.owner, "archive", ids(folder(account, "inbox")))
    assert outcome.undo is not None
    step = UndoStep.objects.get(action_id=outcome.undo)
    writeback.record_move(step.pk, {})  # what a server without UIDPLUS answers
    step.refresh_from_db()
    assert step.state == UndoStep.State.UNMAPPED
    assert Event.objects.filter(kind="undo", data__state="unavailable").exists()
    with pytest.raises(actions.ActionRefused, match="did not say where"):
        actions.do_undo(account.owner, outcome.undo)
    # A retry that finds the messages gone does not overwrite the first answer.
    writeback.record_move(step.pk, {7: 8})
    step.refresh_from_db()
    assert step.state == UndoStep.State.UNMAPPED and step.mapping == []


def test_only_the_newest_action_within_the_window(
    account: MailAccount, mailserver: MailServer, django_capture_on_commit_callbacks: Any
) -> None:
    for i in range(2):
        mailserver.append("alice", "INBOX", make_message(f"n{i}"))
    sync_account(account.pk)
    first, second = ids(folder(account, "inbox"))
    with django_capture_on_commit_callbacks(execute=True):
        older = actions.do_action(account.owner, "flag", [first])
        newer = actions.do_action(account.owner, "flag", [second])
    assert older.undo is not None and newer.undo is not None
    with pytest.raises(Http404):
        actions.do_undo(account.owner, older.undo)  # superseded: gone
    UndoableAction.objects.filter(pk=newer.undo).update(
        created=dt.datetime.now(dt.UTC) - actions.UNDO_WINDOW - dt.timedelta(seconds=1)
    )
    with pytest.raises(actions.ActionRefused, match="no longer"):
        actions.do_undo(account.owner, newer.undo)


def test_expunges_are_not_undoable_and_forget_the_last_undo(
    account: MailAccount, mailserver: MailServer, django_capture_on_commit_callbacks: Any
) -> None:
    mailserver.append("alice", "INBOX", make_message("bin me"))
    mailserver.append("alice", "Trash", make_message("already binned"))
    sync_account(account.pk)
    with django_capture_on_commit_callbacks(execute=True):
        moved = actions.do_action(account.owner, "delete", ids(folder(account, "inbox")))
    assert moved.undo is not None and moved.message == "Moved 1 message to Trash."
    trash = folder(account, "trash")
    doomed = list(trash.messages.filter(subject="already binned").values_list("pk", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        gone = actions.do_action(account.owner, "delete", doomed)
    assert gone.undo is None and gone.message == "Deleted 1 message for good."
    with pytest.raises(Http404):
        actions.do_undo(account.owner, moved.undo)
    with django_capture_on_commit_callbacks(execute=True):
        emptied = actions.do_action(account.owner, "empty", [], folder=trash.pk)
    assert emptied.undo is None and emptied.count == 1


def test_over_http_bob_cannot_undo_alices_action(
    account: MailAccount,
    bob: User,
    mailserver: MailServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    mailserver.append("alice", "INBOX", make_message("alice's"))
    sync_account(account.pk)
    alice_client, bob_client = Client(), Client()
    assert alice_client.login(username="alice", password=PASSWORD)
    assert bob_client.login(username="bob", password=PASSWORD)
    as_json = {"Accept": "application/json"}
    with django_capture_on_commit_callbacks(execute=True):
        answer = alice_client.post(
            "/mail/act/",
            {"action": "archive", "ids": ids(folder(account, "inbox"))},
            headers=as_json,
        ).json()
    assert answer["ok"] and answer["undo"] and answer["message"].startswith("Moved 1 message")
    token = answer["undo"]
    refused = bob_client.post("/mail/act/", {"action": "undo", "token": token}, headers=as_json)
    assert refused.status_code == 404 and not refused.json()["ok"]
    assert bob_client.post("/mail/act/", {"action": "undo", "token": token}).status_code == 404
    assert UndoableAction.objects.get(pk=token).state == UndoableAction.State.ACTIVE
    assert mailserver.uids("alice", "INBOX") == []
    # The no-script form post: the flash message carries the Undo form.
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post("/mail/act/", {"action": "flag", "ids": ids(folder(account, "archive"))})
    page = alice_client.get("/mail/").content.decode()
    assert 'class="undo-form"' in page and 'name="action" value="undo"' in page
    latest = UndoableAction.objects.get(user=account.owner)
    with django_capture_on_commit_callbacks(execute=True):
        undone = alice_client.post(
            "/mail/act/", {"action": "undo", "token": latest.pk, "next": "/mail/"}
        )
    assert undone.status_code == 302
    assert mailserver.flags("alice", "Archive", mailserver.uids("alice", "Archive")[0]) == set()
