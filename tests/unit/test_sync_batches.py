"""The folder sync's batches against the test database, with a scripted IMAP session: every
batch is one transaction, committed in order before the lock is renewed; an interrupted first
sync resumes without duplicates; COPY fills what bulk_create would; flags are compared like
the Python comparison did; a sync that finds nothing new does not count the folder again."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from django.db import connection

from accounts.models import MailAccount, User
from webmail.models import Folder, Message
from webmail.protocols.errors import TransientError
from webmail.protocols.imap import Address, Changes, Envelope, FolderStatus, SelectState
from webmail.sync import folder as engine
from webmail.sync.flags import flag_columns, normalise, row_flags

COUNT = 12_345  # batches of 200, 1000, 5000, 5000 and 1145
BASE = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def envelope(uid: int, **changes: Any) -> Envelope:
    values: dict[str, Any] = {
        "uid": uid,
        "flags": frozenset({"\\Seen"} if uid % 2 == 0 else {"$Work", "\\Flagged"}),
        "internaldate": BASE + dt.timedelta(minutes=uid),
        "size": 1000 + uid,
        "subject": f"message {uid}",
        "from_": (Address("Zoë Sender", "zoe@example.test"),),
        "to": (Address("", "alice@example.test"),),
        "cc": (Address("Bob", "bob@example.test"), Address("", "carol@example.test"))
        if uid % 3 == 0
        else (),
        "bcc": (),
        "reply_to": (Address("Zoë Sender", "zoe@example.test"),),
        "date": BASE + dt.timedelta(minutes=uid, hours=-1),
        "message_id": f"<{uid}@example.test>",
        "in_reply_to": f"<{uid - 1}@example.test>" if uid > 1 else "",
        "has_attachments": uid % 7 == 0,
        "modseq": 10 + uid,
    }
    values.update(changes)
    return Envelope(**values)


class Session:
    """The parts of ImapSession the folder sync uses, answering from a script."""

    has_condstore = True
    has_qresync = True

    def __init__(self, count: int, *, fail_at_batch: int | None = None) -> None:
        self.uids = list(range(1, count + 1))
        self.fail_at_batch = fail_at_batch
        self.batches: list[int] = []
        self.closed_early = False
        self.modseq = 99
        self.selects = 0

    def select(self, raw_name: str, **_kwargs: Any) -> SelectState:
        self.selects += 1
        return SelectState(
            uidvalidity=7,
            uidnext=len(self.uids) + 1,
            exists=len(self.uids),
            highestmodseq=self.modseq,
        )

    def status(self, raw_name: str, *, unseen: bool = True) -> FolderStatus:
        return FolderStatus(
            messages=len(self.uids),
            unseen=0,
            uidnext=len(self.uids) + 1,
            uidvalidity=7,
            highestmodseq=self.modseq,
        )

    def uid_list(self, first: int = 1) -> list[int]:
        return [uid for uid in self.uids if uid >= first]

    def flags_in(self, uids: Sequence[int]) -> dict[int, frozenset[str]]:
        return {uid: envelope(uid).flags for uid in uids}

    def changes_since(self, modseq: int, *, vanished: bool) -> Changes:
        return Changes(changed=[], vanished=[])

    def fetch_envelope_batches(self, batches: Sequence[Sequence[int]]) -> Iterator[list[Envelope]]:
        try:
            for index, batch in enumerate(batches):
                if index == self.fail_at_batch:
                    raise TransientError("the server closed the connection")
                self.batches.append(len(batch))
                yield [envelope(uid) for uid in batch]
        except GeneratorExit:
            self.closed_early = True
            raise


class Lock:
    """Records how many rows of the folder were committed whenever the lock was renewed."""

    def __init__(self, folder: Folder) -> None:
        self.folder = folder
        self.committed: list[int] = []

    def renew(self) -> None:
        self.committed.append(Message.objects.filter(folder=self.folder).count())


@pytest.fixture
def folder(alice: User) -> Folder:
    account = MailAccount.objects.create(
        owner=alice,
        email="syncer@example.test",
        incoming_host="imap.example.test",
        incoming_port=143,
        incoming_security="starttls",
        incoming_username="syncer",
        outgoing_host="smtp.example.test",
        outgoing_port=587,
        outgoing_security="starttls",
    )
    return Folder.objects.create(account=account, name="INBOX", raw_name="INBOX")


def _sync(folder: Folder, session: Session) -> tuple[engine.FolderResult, Lock, list[int]]:
    lock = Lock(folder)
    progress: list[int] = []
    result = engine.sync_folder(
        folder,
        session,  # type: ignore[arg-type]
        lock,  # type: ignore[arg-type]
        progress=lambda _folder, done, _total: progress.append(done),
    )
    return result, lock, progress


def _assert_complete(folder: Folder) -> None:
    folder.refresh_from_db()
    rows = Message.objects.filter(folder=folder)
    assert rows.count() == COUNT
    assert sorted(rows.values_list("uid", flat=True)) == list(range(1, COUNT + 1))
    assert (folder.complete, folder.highestmodseq, folder.uidnext) == (True, 99, COUNT + 1)
    assert (folder.total, folder.unseen) == (COUNT, (COUNT + 1) // 2)


def _spy_writer(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    submitted: list[int] = []
    submit = engine._Writer.submit

    def spy(self: engine._Writer, batch: Sequence[int], envelopes: list[Envelope]) -> None:
        submitted.append(len(batch))
        submit(self, batch, envelopes)

    monkeypatch.setattr(engine._Writer, "submit", spy)
    return submitted


@pytest.mark.django_db(transaction=True)
def test_a_first_sync_commits_batch_by_batch_before_renewing_the_lock(folder, monkeypatch):
    submitted = _spy_writer(monkeypatch)
    session = Session(COUNT)
    result, lock, progress = _sync(folder, session)
    assert session.batches == [200, 1000, 5000, 5000, 1145]
    assert submitted == [1000, 5000, 5000, 1145]  # stored by the writer thread, in order
    # Each renewal sees exactly the batches before it committed, and none after.
    assert lock.committed == [200, 1200, 6200, 11200, 12345]
    assert progress == [200, 1200, 6200, 11200, 12345]
    assert result.new == COUNT
    assert len(result.new_ids) == 200  # the newest page, for the open tabs
    assert set(Message.objects.filter(pk__in=result.new_ids).values_list("uid", flat=True)) == (
        set(range(COUNT - 199, COUNT + 1))
    )
    _assert_complete(folder)


@pytest.mark.django_db(transaction=True)
def test_an_interrupted_first_sync_resumes_without_duplicates(folder):
    broken = Session(COUNT, fail_at_batch=2)
    with pytest.raises(TransientError):
        _sync(folder, broken)
    folder.refresh_from_db()
    # The batches before the failure are committed; the sync state is not (stored last).
    assert Message.objects.filter(folder=folder).count() == 1200
    assert (folder.complete, folder.highestmodseq) == (False, None)
    again = Session(COUNT)
    result, _lock, _progress = _sync(folder, again)
    assert again.batches == [200, 1000, 5000, 4945]  # only what is missing
    assert result.new == COUNT - 1200
    _assert_complete(folder)


def test_inside_a_callers_transaction_batches_are_stored_inline(folder, monkeypatch):
    # pytest-django's `db` runs the test in a transaction another connection cannot see into.
    assert connection.in_atomic_block
    submitted = _spy_writer(monkeypatch)
    _result, lock, _progress = _sync(folder, Session(COUNT))
    assert submitted == []
    assert lock.committed == [200, 1200, 6200, 11200, 12345]
    _assert_complete(folder)


def test_stopping_early_closes_the_fetch(folder):
    class Stop(Exception):
        pass

    class StopLock(Lock):
        def renew(self) -> None:
            raise Stop

    session = Session(COUNT)
    with pytest.raises(Stop):
        engine.sync_folder(folder, session, StopLock(folder))  # type: ignore[arg-type]
    assert session.closed_early  # so the real session reads what is still in flight


def test_copy_stores_what_bulk_create_would(folder):
    huge = envelope(3, size=2**40, modseq=2**64, flags=frozenset({"b", "\\Seen", "a"}))
    engine.insert_envelopes(folder, [envelope(1), huge])
    engine.insert_envelopes(folder, [envelope(1), envelope(2)])  # 1 again: left alone
    rows = {m.uid: m for m in Message.objects.filter(folder=folder)}
    assert sorted(rows) == [1, 2, 3]
    assert (rows[3].size, rows[3].modseq, rows[3].keywords) == (2**31 - 1, None, ["a", "b"])
    one = rows[1]
    assert (one.subject, one.from_name, one.from_email) == (
        "message 1",
        "Zoë Sender",
        "zoe@example.test",
    )
    assert one.to == [["", "alice@example.test"]] and one.cc == []
    assert rows[3].cc == [["Bob", "bob@example.test"], ["", "carol@example.test"]]
    assert (one.flagged, one.seen, one.keywords) == (True, False, ["$Work"])
    assert one.internaldate == BASE + dt.timedelta(minutes=1)
    assert one.date == BASE + dt.timedelta(minutes=1, hours=-1)
    assert (one.details, one.thread, one.preview, one.references, one.list_id) == (
        False,
        "",
        "",
        "",
        "",
    )
    # The same rows as bulk_create makes from envelope_row (the SQLite path).
    reference = engine.envelope_row(folder, envelope(2))
    stored = Message.objects.get(folder=folder, uid=2)
    fields = [f.name for f in Message._meta.concrete_fields if not f.primary_key]
    assert {f: getattr(stored, f) for f in fields} == {f: getattr(reference, f) for f in fields}


_FLAG_SETS = [
    frozenset(),
    frozenset({"\\Seen"}),
    frozenset({"\\seen", "\\Flagged"}),
    frozenset({"$Work", "Later"}),
    frozenset({"Later", "$Work", "\\Answered", "\\Recent"}),
    frozenset({"\\Deleted", "\\Draft"}),
]


def test_flag_changes_match_the_row_by_row_comparison(folder):
    engine.insert_envelopes(folder, [envelope(uid) for uid in range(1, 37)])
    server = {uid: _FLAG_SETS[uid % len(_FLAG_SETS)] for uid in range(1, 40)}  # 37+ not cached
    # uid 10 already has the server's set, its keywords stored out of order by some writer:
    # the same set, so no change.
    Message.objects.filter(folder=folder, uid=10).update(
        seen=False, flagged=False, answered=True, keywords=["Later", "$Work"]
    )
    before = engine._cached_flags(folder)
    expected = {
        int(str(row["pk"]))
        for uid, row in before.items()
        if row_flags(row) != normalise(server[uid])
    }
    assert int(str(before[10]["pk"])) not in expected
    result = engine.FolderResult(folder.pk)
    engine._apply_flags(folder, server, result)
    assert set(result.changed_ids) == expected
    assert result.changed == len(expected) == 35  # all but uid 10
    for uid, row in engine._cached_flags(folder).items():
        assert row_flags(row) == normalise(server[uid])
        if uid != 10:
            assert row["keywords"] == flag_columns(server[uid])["keywords"]
    again = engine.FolderResult(folder.pk)
    engine._apply_flags(folder, server, again)
    assert again.changed == 0


def test_a_resync_that_finds_nothing_new_does_not_count_again(folder, monkeypatch):
    session = Session(300)
    _sync(folder, session)
    folder.refresh_from_db()
    synced = folder.last_synced
    finished: list[int] = []
    finish = engine._finish

    def counting_finish(*args: Any) -> None:
        finished.append(1)
        finish(*args)

    monkeypatch.setattr(engine, "_finish", counting_finish)
    selects = session.selects
    result, _lock, _progress = _sync(folder, session)
    folder.refresh_from_db()
    assert not result.any and finished == []
    assert session.selects == selects  # STATUS said nothing changed: no SELECT
    assert folder.last_synced is not None and synced is not None and folder.last_synced > synced
    # Stored counts that disagree with the server's are counted again.
    Folder.objects.filter(pk=folder.pk).update(total=5)
    folder.refresh_from_db()
    _sync(folder, session)
    folder.refresh_from_db()
    assert finished == [1] and folder.total == 300


def test_json_columns_are_json(folder):
    engine.insert_envelopes(folder, [envelope(9, to=(Address('Q "x" \\ y', "q@example.test"),))])
    stored = Message.objects.get(folder=folder, uid=9)
    assert stored.to == [['Q "x" \\ y', "q@example.test"]]


def test_a_changed_modseq_in_status_leads_to_select(folder):
    session = Session(50)
    _sync(folder, session)
    selects = session.selects
    session.modseq = 100  # a flag changed elsewhere
    _sync(folder, session)
    folder.refresh_from_db()
    assert session.selects == selects + 1
    assert folder.highestmodseq == 100


def test_a_known_change_goes_straight_to_select(folder):
    session = Session(20)
    _sync(folder, session)
    selects = session.selects
    engine.sync_folder(folder, session, Lock(folder), known_change=True)  # type: ignore[arg-type]
    assert session.selects == selects + 1  # no STATUS shortcut when push saw a change
