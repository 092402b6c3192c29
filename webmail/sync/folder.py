"""Bring one cached folder to the server's state: a delta of new, changed and vanished
messages, applied in one transaction per batch under the folder's sync lock.

Paths (DESIGN.md "How one IMAP folder syncs"): with CONDSTORE/QRESYNC (RFC 7162) and a
completed earlier sync, only what changed since the stored HIGHESTMODSEQ is read; otherwise
the server's UID list and flags are compared with the cache. HIGHESTMODSEQ is stored last,
so a crash replays the interrupted work instead of skipping it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from webmail.models import Folder, Message
from webmail.protocols.imap import Envelope, ImapSession
from webmail.sync.flags import flag_columns, normalise, row_flags
from webmail.sync.locks import FolderLock

logger = logging.getLogger(__name__)

FIRST_BATCH = 200  # small, so the newest page is in the list within a second
BATCH = 1000
FLAG_WINDOW = 5000
Progress = Callable[[Folder, int, int], None]


@dataclass
class FolderResult:
    folder_id: int
    new: int = 0
    changed: int = 0
    vanished: int = 0
    new_ids: list[int] = field(default_factory=list)
    changed_ids: list[int] = field(default_factory=list)
    vanished_ids: list[int] = field(default_factory=list)

    @property
    def any(self) -> bool:
        return bool(self.new or self.changed or self.vanished)


def envelope_row(folder: Folder, env: Envelope) -> Message:
    first = env.from_[0] if env.from_ else None
    return Message(
        folder=folder,
        uid=env.uid,
        modseq=env.modseq,
        internaldate=env.internaldate,
        size=env.size,
        subject=env.subject,
        from_name=first.name[:300] if first else "",
        from_email=first.email[:320] if first else "",
        to=[[a.name, a.email] for a in env.to],
        cc=[[a.name, a.email] for a in env.cc],
        reply_to=[[a.name, a.email] for a in env.reply_to],
        date=env.date,
        message_id=(env.message_id or "")[:998],
        in_reply_to=(env.in_reply_to or "")[:998],
        has_attachments=env.has_attachments,
        **flag_columns(env.flags),
    )


def sync_folder(
    folder: Folder, session: ImapSession, lock: FolderLock, *, progress: Progress | None = None
) -> FolderResult:
    state = session.select(folder.raw_name)
    result = FolderResult(folder.pk)

    if folder.uidvalidity is not None and folder.uidvalidity != state.uidvalidity:
        # RFC 3501 2.3.1.1: the cached UIDs no longer name the same messages.
        logger.warning(
            "folder %s: UIDVALIDITY %s -> %s, rebuilding its cache",
            folder.pk,
            folder.uidvalidity,
            state.uidvalidity,
        )
        with transaction.atomic():
            result.vanished_ids = list(folder.messages.values_list("pk", flat=True))
            result.vanished = folder.messages.all().delete()[1].get("webmail.Message", 0)
            folder.highestmodseq = folder.uidnext = None
            folder.complete = False
            folder.uidvalidity = state.uidvalidity
            folder.save(update_fields=["highestmodseq", "uidnext", "complete", "uidvalidity"])
    elif folder.uidvalidity is None:
        folder.uidvalidity = state.uidvalidity
        folder.save(update_fields=["uidvalidity"])

    incremental = (
        folder.complete
        and folder.highestmodseq is not None
        and state.highestmodseq is not None
        and session.has_condstore
    )
    if incremental:
        assert folder.highestmodseq is not None  # noqa: S101 - checked above; for mypy
        if state.highestmodseq == folder.highestmodseq and state.uidnext == folder.uidnext:
            _finish(folder, state.highestmodseq, state.uidnext, result)
            return result
        _sync_changes(folder, session, state.exists, folder.highestmodseq, state.uidnext, result)
    else:
        _sync_full(folder, session, lock, result, progress)
    _finish(folder, state.highestmodseq, state.uidnext, result)
    return result


def _cached_flags(
    folder: Folder, uids: Sequence[int] | None = None
) -> dict[int, dict[str, object]]:
    rows = folder.messages.all()
    if uids is not None:
        rows = rows.filter(uid__in=uids)
    fields = ("pk", "uid", "seen", "flagged", "answered", "draft", "deleted", "keywords")
    return {row["uid"]: row for row in rows.values(*fields)}


def _apply_flags(folder: Folder, server: dict[int, frozenset[str]], result: FolderResult) -> None:
    """Take the server's flags for every cached UID whose set differs (the server wins).

    Rows going to the same flag set share one UPDATE: 1,000 messages marked read elsewhere
    cost one statement, not 1,000."""
    cached = _cached_flags(folder, list(server))
    groups: dict[frozenset[str], list[int]] = {}
    for uid, flags in server.items():
        row = cached.get(uid)
        target = normalise(flags)
        if row is not None and row_flags(row) != target:
            groups.setdefault(target, []).append(int(str(row["pk"])))
    with transaction.atomic():
        for target, pks in groups.items():
            for start in range(0, len(pks), BATCH):
                chunk = pks[start : start + BATCH]
                Message.objects.filter(pk__in=chunk).update(**flag_columns(target))
            result.changed += len(pks)
            result.changed_ids.extend(pks)


def _apply_vanished(folder: Folder, uids: Sequence[int], result: FolderResult) -> None:
    for start in range(0, len(uids), BATCH):
        chunk = uids[start : start + BATCH]
        with transaction.atomic():
            doomed = folder.messages.filter(uid__in=chunk)
            result.vanished_ids.extend(doomed.values_list("pk", flat=True))
            result.vanished += doomed.delete()[1].get("webmail.Message", 0)


def _fetch_new(
    folder: Folder,
    session: ImapSession,
    uids: Sequence[int],
    result: FolderResult,
    lock: FolderLock | None = None,
    progress: Progress | None = None,
    already: int = 0,
) -> None:
    """Fetch envelopes newest first, one transaction per batch."""
    ordered = sorted(uids, reverse=True)
    total = already + len(ordered)
    done = already
    start = 0
    size = FIRST_BATCH
    while start < len(ordered):
        batch = ordered[start : start + size]
        envelopes = session.fetch_envelopes(batch)
        rows = [envelope_row(folder, env) for env in envelopes]
        with transaction.atomic():
            Message.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
        result.new += len(rows)
        if len(batch) <= 200:
            result.new_ids.extend(
                folder.messages.filter(uid__in=batch).values_list("pk", flat=True)
            )
        done += len(batch)
        start += size
        size = BATCH
        if lock is not None:
            lock.renew()
        if progress is not None:
            progress(folder, done, total)


def _sync_full(
    folder: Folder,
    session: ImapSession,
    lock: FolderLock,
    result: FolderResult,
    progress: Progress | None,
) -> None:
    server_uids = session.uid_list()
    server_set = set(server_uids)
    cached_uids = set(folder.messages.values_list("uid", flat=True))
    _apply_vanished(folder, sorted(cached_uids - server_set), result)
    keep = sorted(cached_uids & server_set)
    for start in range(0, len(keep), FLAG_WINDOW):
        window = keep[start : start + FLAG_WINDOW]
        _apply_flags(folder, session.flags_in(window), result)
        lock.renew()
    missing = sorted(server_set - cached_uids)
    _fetch_new(folder, session, missing, result, lock, progress, already=len(keep))


def _sync_changes(
    folder: Folder,
    session: ImapSession,
    exists: int,
    since: int,
    uidnext: int | None,
    result: FolderResult,
) -> None:
    changes = session.changes_since(since, vanished=session.has_qresync)
    server = {change.uid: change.flags for change in changes.changed}
    _apply_flags(folder, server, result)
    if changes.vanished:
        _apply_vanished(folder, sorted(changes.vanished), result)
    top = folder.messages.aggregate(top=Max("uid"))["top"] or 0
    new = [uid for uid in server if uid > top]
    if uidnext is not None and folder.uidnext is not None and uidnext > folder.uidnext:
        # Messages without flag changes still show up in CHANGEDSINCE (their modseq is
        # new), but a server may omit them; the UID list is the authority for new mail.
        new = sorted(set(new) | {uid for uid in session.uid_list() if uid > top})
    _fetch_new(folder, session, new, result)
    if not session.has_qresync and folder.messages.count() != exists:
        # CONDSTORE alone does not report expunges: compare UID lists.
        server_set = set(session.uid_list())
        gone = sorted(set(folder.messages.values_list("uid", flat=True)) - server_set)
        _apply_vanished(folder, gone, result)


def _finish(folder: Folder, modseq: int | None, uidnext: int | None, result: FolderResult) -> None:
    folder.highestmodseq = modseq
    folder.uidnext = uidnext
    folder.complete = True
    folder.total = folder.messages.count()
    folder.unseen = folder.messages.filter(seen=False).count()
    folder.last_synced = timezone.now()
    folder.save(
        update_fields=["highestmodseq", "uidnext", "complete", "total", "unseen", "last_synced"]
    )
    if result.any:
        logger.info(
            "folder %s: %s new, %s changed, %s vanished",
            folder.pk,
            result.new,
            result.changed,
            result.vanished,
        )


def elapsed(start: float) -> float:
    return time.monotonic() - start
