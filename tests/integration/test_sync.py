"""The sync engine against the real Dovecot: first sync, incremental changes, expunges,
UIDVALIDITY, folder renames, failures and write-back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import override_settings

from accounts.models import MailAccount, User
from tests.integration.sync_helpers import make_account, make_message
from tests.servers.mail import MailServer
from webmail.models import Event, Folder, Message
from webmail.sync import writeback
from webmail.sync.account import SyncFailed, sync_account

pytestmark = [pytest.mark.django_db, pytest.mark.mailserver]


@pytest.fixture
def upstream(mailserver: MailServer) -> Iterator[MailServer]:
    """alice's mailbox emptied, and the loopback rig allowed as an upstream host."""
    mailserver.clear("alice")
    with override_settings(ALLOWED_MAIL_HOSTS=["127.0.0.1"], CA_FILE=str(mailserver.ca_file)):
        yield mailserver


@pytest.fixture
def account(alice: User, upstream: MailServer) -> MailAccount:
    return make_account(alice, upstream)


def inbox(account: MailAccount) -> Folder:
    return account.folders.get(special_use="inbox")


def test_first_sync_lists_folders_and_caches_envelopes(
    account: MailAccount, upstream: MailServer
) -> None:
    upstream.append("alice", "INBOX", make_message("Grüße aus Köln"), flags=["\\Seen"])
    upstream.append(
        "alice",
        "INBOX",
        make_message("Quarterly", attachment=b"%PDF-1.4 x"),
        flags=["\\Flagged", "$Work"],
    )
    upstream.create_folder("alice", "Projekte/Entwürfe")
    report = sync_account(account.pk)
    assert report.new == 2
    specials = dict(account.folders.exclude(special_use="").values_list("special_use", "name"))
    assert specials == {
        "inbox": "INBOX",
        "sent": "Sent",
        "drafts": "Drafts",
        "trash": "Trash",
        "junk": "Junk",
        "archive": "Archive",
    }
    assert account.folders.filter(name="Projekte/Entwürfe").exists()
    rows = {m.subject: m for m in inbox(account).messages.all()}
    assert set(rows) == {"Grüße aus Köln", "Quarterly"}
    assert rows["Grüße aus Köln"].seen and not rows["Grüße aus Köln"].has_attachments
    quarterly = rows["Quarterly"]
    assert quarterly.flagged and quarterly.keywords == ["$Work"] and not quarterly.seen
    assert quarterly.has_attachments
    assert (quarterly.from_name, quarterly.from_email) == ("Zoë Sender", "zoe@example.test")
    assert quarterly.to == [["", "alice@example.test"]]
    folder = inbox(account)
    assert (folder.total, folder.unseen, folder.complete) == (2, 1, True)
    account.refresh_from_db()
    assert account.status == "ok"
    assert Event.objects.filter(user=account.owner, kind="folder").exists()


def test_incremental_sync_takes_new_changed_and_vanished(
    account: MailAccount, upstream: MailServer
) -> None:
    first = upstream.append("alice", "INBOX", make_message("one"))
    second = upstream.append("alice", "INBOX", make_message("two"))
    sync_account(account.pk)
    assert sync_account(account.pk).new == 0  # nothing changed: nothing done

    upstream.flag("alice", "INBOX", first, ["\\Seen", "$Label1"])
    upstream.expunge_externally("alice", "INBOX", [second])
    upstream.deliver("zoe@example.test", ["alice@example.test"], make_message("three"))
    report = sync_account(account.pk)
    assert (report.new, report.changed, report.vanished) == (1, 1, 1)
    rows = {m.subject: m for m in inbox(account).messages.all()}
    assert set(rows) == {"one", "three"}
    assert rows["one"].seen and rows["one"].keywords == ["$Label1"]
    upstream.flag("alice", "INBOX", first, ["\\Seen"], add=False)
    assert sync_account(account.pk).changed == 1
    assert not inbox(account).messages.get(uid=first).seen


def test_uidvalidity_change_rebuilds_the_folder(account: MailAccount, upstream: MailServer) -> None:
    upstream.create_folder("alice", "Work")
    upstream.append("alice", "Work", make_message("old a"))
    upstream.append("alice", "Work", make_message("old b"))
    sync_account(account.pk)
    work = account.folders.get(name="Work")
    old_validity = work.uidvalidity
    with upstream.imap("alice") as client:
        client.delete_folder("Work")
        client.create_folder("Work")
    upstream.append("alice", "Work", make_message("new"))
    report = sync_account(account.pk)
    work = account.folders.get(name="Work")
    assert work.uidvalidity != old_validity
    assert list(work.messages.values_list("subject", flat=True)) == ["new"]
    assert report.vanished >= 2


def test_a_renamed_folder_moves_in_the_cache(account: MailAccount, upstream: MailServer) -> None:
    upstream.create_folder("alice", "Old")
    upstream.append("alice", "Old", make_message("kept"))
    sync_account(account.pk)
    with upstream.imap("alice") as client:
        client.rename_folder("Old", "New")
    sync_account(account.pk)
    assert not account.folders.filter(name="Old").exists()
    assert list(account.folders.get(name="New").messages.values_list("subject", flat=True)) == [
        "kept"
    ]


def test_a_bad_password_marks_the_account_and_keeps_the_cache(
    alice: User, upstream: MailServer
) -> None:
    account = make_account(alice, upstream)
    upstream.append("alice", "INBOX", make_message("cached"))
    sync_account(account.pk)
    wrong = make_account(alice, upstream, password="wrong password")
    with pytest.raises(SyncFailed) as info:
        sync_account(wrong.pk)
    wrong.refresh_from_db()
    assert wrong.status == "error"
    assert "refused the login or password" in wrong.last_error
    assert "wrong password" not in wrong.last_error
    assert info.value.message == wrong.last_error
    assert inbox(account).messages.count() == 1


def test_upstream_down_then_back(account: MailAccount, upstream: MailServer) -> None:
    upstream.append("alice", "INBOX", make_message("before"))
    sync_account(account.pk)
    from tests.servers.services import free_port

    MailAccount.objects.filter(pk=account.pk).update(incoming_port=free_port())
    with pytest.raises(SyncFailed):
        sync_account(account.pk)
    account.refresh_from_db()
    assert account.status == "error" and "Cannot reach" in account.last_error
    assert inbox(account).messages.count() == 1  # still readable
    MailAccount.objects.filter(pk=account.pk).update(incoming_port=upstream.imap_port)
    upstream.append("alice", "INBOX", make_message("after"))
    assert sync_account(account.pk).new == 1
    account.refresh_from_db()
    assert (account.status, account.last_error) == ("ok", "")


def test_an_address_not_allowed_is_refused_at_connect_time(
    alice: User, mailserver: MailServer
) -> None:
    account = make_account(alice, mailserver)
    with override_settings(ALLOWED_MAIL_HOSTS=[]), pytest.raises(SyncFailed) as info:
        sync_account(account.pk)
    assert "not allowed" in info.value.message


def test_write_back_flags_move_delete_and_empty(account: MailAccount, upstream: MailServer) -> None:
    a = upstream.append("alice", "INBOX", make_message("a"))
    b = upstream.append("alice", "INBOX", make_message("b"))
    sync_account(account.pk)
    box = inbox(account)
    writeback.store_flags(box.pk, [a], ["\\Seen", "$Important"], add=True)
    assert {"\\Seen", "$Important"} <= upstream.flags("alice", "INBOX", a)
    row = box.messages.get(uid=a)
    assert row.seen and row.keywords == ["$Important"]

    archive = account.folders.get(special_use="archive")
    writeback.move(box.pk, [b], archive.pk)
    assert upstream.uids("alice", "INBOX") == [a]
    assert list(archive.messages.values_list("subject", flat=True)) == ["b"]
    assert not box.messages.filter(uid=b).exists()

    trash = account.folders.get(special_use="trash")
    writeback.move(box.pk, [a], trash.pk)
    assert trash.messages.count() == 1
    writeback.expunge(trash.pk, list(trash.messages.values_list("uid", flat=True)))
    assert upstream.uids("alice", "Trash") == []
    assert trash.messages.count() == 0


def test_the_cache_takes_the_servers_answer(account: MailAccount, upstream: MailServer) -> None:
    """Another device flagged the message meanwhile: our \\Seen adds to it, not over it."""
    uid = upstream.append("alice", "INBOX", make_message("shared"))
    sync_account(account.pk)
    upstream.flag("alice", "INBOX", uid, ["\\Flagged"])
    writeback.store_flags(inbox(account).pk, [uid], ["\\Seen"], add=True)
    row = inbox(account).messages.get(uid=uid)
    assert row.seen and row.flagged


def test_one_users_cache_is_not_anothers(
    account: MailAccount, carol: User, upstream: MailServer
) -> None:
    upstream.append("alice", "INBOX", make_message("private"))
    sync_account(account.pk)
    assert not Message.objects.filter(folder__account__owner=carol).exists()
    assert not Event.objects.filter(user=carol).exists()


def test_a_server_without_condstore_syncs_by_comparing_uids(
    alice: User, plain_mailserver: MailServer
) -> None:
    server = plain_mailserver
    server.clear("alice")
    with override_settings(ALLOWED_MAIL_HOSTS=["127.0.0.1"], CA_FILE=str(server.ca_file)):
        account = make_account(alice, server)
        a = server.append("alice", "INBOX", make_message("a"))
        b = server.append("alice", "INBOX", make_message("b"))
        assert sync_account(account.pk).new == 2
        assert inbox(account).highestmodseq is None
        server.flag("alice", "INBOX", a, ["\\Answered"])
        server.expunge_externally("alice", "INBOX", [b])
        server.append("alice", "INBOX", make_message("c"))
        report = sync_account(account.pk)
        assert (report.new, report.changed, report.vanished) == (1, 1, 1)
        assert inbox(account).messages.get(uid=a).answered
        account.refresh_from_db()
        assert "CONDSTORE" not in account.capabilities.split()
