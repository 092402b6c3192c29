"""Bring one cached folder to the server's state: a delta of new, changed and vanished
messages, applied in one transaction per batch under the folder's sync lock.

Paths (DESIGN.md "How one IMAP folder syncs"): with CONDSTORE/QRESYNC (RFC 7162) and a
completed earlier sync, only what changed since the stored HIGHESTMODSEQ is read; otherwise
the server's UID list and flags are compared with the cache. HIGHESTMODSEQ is stored last,
so a crash replays the interrupted work instead of skipping it.
"""

from __future__ import annotations

import gc
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, cast

from django.db import connection, connections, transaction
from django.db.models import Count, Field, JSONField, Max, Q
from django.utils import timezone

from webmail.models import Folder, Message
from webmail.protocols.imap import Envelope, ImapSession
from webmail.sync.flags import flag_columns, normalise, row_flags
from webmail.sync.locks import FolderLock

logger = logging.getLogger(__name__)

FIRST_BATCH = 200  # small, so the newest page is in the list within a second
SECOND_BATCH = 1000  # the next pages soon after
ENVELOPE_BATCH = 5000  # then envelopes per FETCH and per transaction (~3.5 MB of responses)
BATCH = 1000  # rows per UPDATE or DELETE statement
FLAG_WINDOW = 5000
ANALYZE_AFTER = 10_000  # new rows after which a sync refreshes the planner's statistics
_PLANNER_COLUMNS = ("folder", "uid", "seen", "flagged", "internaldate", "thread")
MAX_SIZE = 2**31 - 1  # Message.size is a PositiveIntegerField
MAX_MODSEQ = 2**63 - 1  # RFC 7162 mod-sequence-value; Message.modseq is a BigIntegerField
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
    select_seconds: float = 0.0  # the server's SELECT, for the DEBUG log (and make bench)

    @property
    def any(self) -> bool:
        return bool(self.new or self.changed or self.vanished)


def envelope_row(folder: Folder, env: Envelope) -> Message:
    first = env.from_[0] if env.from_ else None
    return Message(
        folder=folder,
        uid=env.uid,
        modseq=env.modseq if env.modseq is None or env.modseq <= MAX_MODSEQ else None,
        internaldate=env.internaldate,
        size=min(env.size, MAX_SIZE),
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


def insert_envelopes(folder: Folder, envelopes: Sequence[Envelope]) -> None:
    """Add rows for these envelopes; a UID already cached is left alone (so a sync rerun after
    a crash never duplicates). Call inside a transaction.

    On Postgres the rows go by COPY (`_copy_envelopes`): Django's bulk_create spends ~0.4 ms
    per row preparing and binding values in Python, COPY a few microseconds."""
    if not envelopes:
        return
    if connection.vendor == "postgresql":
        _copy_envelopes(folder, envelopes)
    else:
        rows = [envelope_row(folder, env) for env in envelopes]
        Message.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)


# Columns filled from each envelope, in the order `_envelope_values` returns them.
_ENVELOPE_FIELDS = (
    "uid", "modseq", "internaldate", "size", "subject", "from_name", "from_email",
    "to", "cc", "reply_to", "date", "message_id", "in_reply_to", "has_attachments",
    "seen", "flagged", "answered", "draft", "deleted", "keywords",
)  # fmt: skip
_LOAD_TABLE = "webmail_message_load"
_FLAG_VALUES: dict[frozenset[str], tuple[bool, bool, bool, bool, bool, str]] = {}
# id() of an address tuple -> (the tuple, its JSON). Holding the tuple keeps its id from being
# reused; the fast path returns the same tuple for the same recipients (hashing frozen
# dataclasses for every message would cost more than the JSON saved).
_ADDRESS_JSON: dict[int, tuple[tuple[Any, ...], str]] = {}


def _column_default(model_field: Field[Any, Any]) -> object:
    """What bulk_create would store for a field the envelope does not fill."""
    if getattr(model_field, "auto_now", False) or getattr(model_field, "auto_now_add", False):
        return timezone.now()
    value = model_field.get_default()
    if isinstance(model_field, JSONField):
        return json.dumps(value)
    return model_field.get_db_prep_save(value, connection)


def _flag_values(flags: frozenset[str]) -> tuple[bool, bool, bool, bool, bool, str]:
    values = _FLAG_VALUES.get(flags)
    if values is None:
        columns = flag_columns(flags)
        values = (
            columns["seen"],
            columns["flagged"],
            columns["answered"],
            columns["draft"],
            columns["deleted"],
            json.dumps(columns["keywords"]),
        )
        if len(_FLAG_VALUES) < 1024:  # few distinct flag sets per mailbox
            _FLAG_VALUES[flags] = values
    return values


def _address_json(addresses: tuple[Any, ...]) -> str:
    if not addresses:
        return "[]"
    cached = _ADDRESS_JSON.get(id(addresses))
    if cached is not None and cached[0] is addresses:
        return cached[1]
    text = json.dumps([[a.name, a.email] for a in addresses])
    if len(addresses) <= 8:  # the same few recipients recur; long lists are rarely repeated
        if len(_ADDRESS_JSON) >= 4096:
            _ADDRESS_JSON.clear()
        _ADDRESS_JSON[id(addresses)] = (addresses, text)
    return text


def _envelope_values(env: Envelope) -> tuple[object, ...]:
    """`envelope_row` as database values, in `_ENVELOPE_FIELDS` order. Timestamps go as ISO
    8601 text (with their offset): psycopg's own datetime dumper costs more than the rest of
    the row together."""
    first = env.from_[0] if env.from_ else None
    modseq = env.modseq
    date = env.date
    return (
        env.uid,
        modseq if modseq is None or modseq <= MAX_MODSEQ else None,
        env.internaldate.isoformat(),
        env.size if env.size <= MAX_SIZE else MAX_SIZE,
        env.subject,
        first.name[:300] if first else "",
        first.email[:320] if first else "",
        _address_json(env.to),
        _address_json(env.cc),
        _address_json(env.reply_to),
        date.isoformat() if date is not None else None,
        env.message_id[:998],
        env.in_reply_to[:998],
        env.has_attachments,
        *_flag_values(env.flags),
    )


def _copy_envelopes(folder: Folder, envelopes: Sequence[Envelope]) -> None:
    """COPY the rows straight into the table, in a savepoint. Should any UID be cached
    already (it cannot under the folder lock, but bulk_create's ignore_conflicts promised to
    skip it), roll that back and go the long way round: COPY the per-message columns into a
    temporary table, then INSERT ... SELECT the rest (the folder, defaults) ... ON CONFLICT
    DO NOTHING."""
    from psycopg.errors import UniqueViolation

    meta = Message._meta
    copied = [cast("Field[Any, Any]", meta.get_field(name)) for name in _ENVELOPE_FIELDS]
    rest = [f for f in meta.concrete_fields if not f.primary_key and f not in copied]
    constants: tuple[Any, ...] = tuple(
        folder.pk if f.name == "folder" else _column_default(f) for f in rest
    )
    quote = connection.ops.quote_name
    columns = ", ".join(quote(str(f.column)) for f in copied)
    all_columns = ", ".join(quote(str(f.column)) for f in [*copied, *rest])
    table, load = quote(meta.db_table), quote(_LOAD_TABLE)
    try:
        with (
            transaction.atomic(),
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {table} ({all_columns}) FROM STDIN") as copy,
        ):
            for env in envelopes:
                copy.write_row(_envelope_values(env) + constants)
        return
    except UniqueViolation:
        pass  # the savepoint is rolled back
    placeholders = ", ".join(f"CAST(%s AS {f.db_type(connection)})" for f in rest)
    # Identifiers and types come from the model; every value goes as a parameter or by COPY.
    create = f"CREATE TEMPORARY TABLE IF NOT EXISTS {load} ON COMMIT DROP AS SELECT {columns} "
    create += f"FROM {table} WITH NO DATA"  # noqa: S608
    insert = f"INSERT INTO {table} ({all_columns}) SELECT {columns}, {placeholders} "
    insert += f"FROM {load} ON CONFLICT DO NOTHING"  # noqa: S608
    with connection.cursor() as cursor:
        # Dropped at commit; IF NOT EXISTS and TRUNCATE for a caller's enclosing transaction.
        cursor.execute(create)
        with cursor.cursor.copy(f"COPY {load} ({columns}) FROM STDIN") as copy:
            for env in envelopes:
                copy.write_row(_envelope_values(env))
        cursor.execute(insert, list(constants))
        cursor.execute(f"TRUNCATE {load}")


def sync_folder(
    folder: Folder,
    session: ImapSession,
    lock: FolderLock,
    *,
    progress: Progress | None = None,
    known_change: bool = False,
) -> FolderResult:
    """``known_change``: the caller knows the folder changed (push), so STATUS would only
    cost a round trip (on Dovecot's Maildir, as much as the SELECT after it)."""
    start = time.monotonic()
    result = _sync_folder(folder, session, lock, progress, known_change=known_change)
    logger.debug(
        "folder %s synced in %.4f s (SELECT %.4f s): %s new, %s changed, %s vanished",
        folder.pk,
        elapsed(start),
        result.select_seconds,
        result.new,
        result.changed,
        result.vanished,
    )
    return result


def _sync_folder(
    folder: Folder,
    session: ImapSession,
    lock: FolderLock,
    progress: Progress | None,
    *,
    known_change: bool = False,
) -> FolderResult:
    if not known_change and _unchanged_upstream(folder, session):
        folder.last_synced = timezone.now()
        folder.save(update_fields=["last_synced"])
        return FolderResult(folder.pk)
    start = time.monotonic()
    state = session.select(folder.raw_name)
    result = FolderResult(folder.pk, select_seconds=elapsed(start))

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
            if state.exists == folder.total:
                # Nothing changed upstream, so the counts stored last time hold: counting the
                # cached rows again would make this check grow with the folder.
                folder.last_synced = timezone.now()
                folder.save(update_fields=["last_synced"])
            else:
                _finish(folder, state.highestmodseq, state.uidnext, result)
            return result
        _sync_changes(folder, session, state.exists, folder.highestmodseq, state.uidnext, result)
        # Flag changes only: the rows are the same, so is their number.
        _finish(
            folder,
            state.highestmodseq,
            state.uidnext,
            result,
            same_rows=not (result.new or result.vanished),
        )
        return result
    _sync_full(folder, session, lock, result, progress)
    _finish(folder, state.highestmodseq, state.uidnext, result)
    return result


def _unchanged_upstream(folder: Folder, session: ImapSession) -> bool:
    """Nothing to do, by STATUS alone: with CONDSTORE every flag change and expunge raises
    HIGHESTMODSEQ and new mail raises UIDNEXT (RFC 7162 section 3.1.1). STATUS costs the
    server the same for any folder size (Dovecot answers from its mailbox list index); SELECT
    grows with the folder (~90 ms for 100k messages on Dovecot)."""
    if not (folder.complete and folder.highestmodseq and folder.uidvalidity):
        return False
    if not session.has_condstore:
        return False
    status = session.status(folder.raw_name, unseen=False)
    return (
        status.highestmodseq == folder.highestmodseq
        and status.uidvalidity == folder.uidvalidity
        and status.uidnext == folder.uidnext
        and status.messages == folder.total
    )


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
    cost one statement, not 1,000. On Postgres that statement also finds the rows that
    differ (and returns their ids), instead of reading every row into Python first."""
    if connection.vendor == "postgresql":
        _apply_flags_in_database(folder, server, result)
        return
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


def _apply_flags_in_database(
    folder: Folder, server: dict[int, frozenset[str]], result: FolderResult
) -> None:
    by_target: dict[frozenset[str], list[int]] = {}
    for uid, server_flags in server.items():
        by_target.setdefault(normalise(server_flags), []).append(uid)
    meta = Message._meta
    names = ("folder", "uid", "seen", "flagged", "answered", "draft", "deleted", "keywords")
    column = {
        name: connection.ops.quote_name(cast("Field[Any, Any]", meta.get_field(name)).column)
        for name in names
    }
    column["pk"] = connection.ops.quote_name(cast("Field[Any, Any]", meta.pk).column)
    system = ("seen", "flagged", "answered", "draft", "deleted")
    assign = ", ".join(f"{column[name]} = %s" for name in system)
    same = " AND ".join(f"{column[name]} = %s" for name in system)
    keywords = column["keywords"]
    # Keywords compare as sets, like row_flags: each list contains the other.
    update = (
        f"UPDATE {connection.ops.quote_name(meta.db_table)} "  # noqa: S608 - model names only
        f"SET {assign}, {keywords} = %s::jsonb "
        f"WHERE {column['folder']} = %s AND {column['uid']} = ANY(%s::bigint[]) AND NOT ({same} "
        f"AND {keywords} @> %s::jsonb AND {keywords} <@ %s::jsonb) RETURNING {column['pk']}"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        for target, uids in by_target.items():
            columns = flag_columns(target)
            flags = [columns[name] for name in system]
            wanted = json.dumps(columns["keywords"])
            for start in range(0, len(uids), FLAG_WINDOW):
                chunk = uids[start : start + FLAG_WINDOW]
                cursor.execute(update, [*flags, wanted, folder.pk, chunk, *flags, wanted, wanted])
                pks = [int(row[0]) for row in cursor.fetchall()]
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
    """Fetch envelopes newest first, one transaction per batch.

    Three things overlap: the server prepares batch n+1 (the FETCHes are pipelined, see
    `ImapSession.fetch_envelope_batches`) while we read and parse batch n, while the database
    stores batch n-1 (`_Writer`). The invariants hold all the same: every batch is its own
    transaction, they commit in order, the lock is renewed after each commit, and the caller
    stores HIGHESTMODSEQ only after the last one, so an interruption leaves nothing skipped."""
    ordered = sorted(uids, reverse=True)
    total = already + len(ordered)
    done = already
    batches: list[list[int]] = []
    start, size = 0, FIRST_BATCH
    while start < len(ordered):
        batches.append(ordered[start : start + size])
        start += size
        size = SECOND_BATCH if size == FIRST_BATCH else ENVELOPE_BATCH

    def committed(batch: Sequence[int], stored: int) -> None:
        nonlocal done
        result.new += stored
        done += len(batch)
        if lock is not None:
            lock.renew()
        if progress is not None:
            progress(folder, done, total)

    with (
        _no_cycle_collection(),
        closing(session.fetch_envelope_batches(batches)) as fetched,
        _Writer(folder) as writer,
    ):
        for batch, envelopes in zip(batches, fetched, strict=True):
            if (stored := writer.wait()) is not None:
                committed(*stored)
            if len(batch) > FIRST_BATCH and writer.threaded:
                writer.submit(batch, envelopes)
                continue
            # Small batches (the newest page, a few new messages) are stored at once, and
            # their ids go into the event that tells open tabs about them.
            with transaction.atomic():
                insert_envelopes(folder, envelopes)
            if len(batch) <= FIRST_BATCH and batch:
                # A range, not 200 parameters: this batch is the newest of what was missing.
                wanted = set(batch)
                rows = folder.messages.filter(uid__range=(min(batch), max(batch)))
                result.new_ids.extend(
                    pk for pk, uid in rows.values_list("pk", "uid") if uid in wanted
                )
            committed(batch, len(envelopes))
        if (stored := writer.wait()) is not None:
            committed(*stored)
    if connection.vendor == "postgresql" and result.new >= ANALYZE_AFTER:
        # Fresh planner statistics after a bulk load: until autovacuum gets round to it (it
        # may be off), Postgres plans this folder's queries for the table it last sampled,
        # e.g. a 1,000-row flag update as a scan of the whole folder.
        # Only the columns this folder's queries filter and sort on: the wide text and JSON
        # columns would triple its cost.
        meta = Message._meta
        columns = ", ".join(
            connection.ops.quote_name(cast("Field[Any, Any]", meta.get_field(name)).column)
            for name in _PLANNER_COLUMNS
        )
        # A small sample (3,000 rows, not 30,000) is enough not to plan for an empty table,
        # and ten times cheaper; autovacuum's next ANALYZE refines it.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL default_statistics_target = 10")
            cursor.execute(f"ANALYZE {connection.ops.quote_name(meta.db_table)} ({columns})")


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Python's cycle collector off while envelopes pour in: 100,000 of them are millions of
    young objects, and each collection walks them all again (~10 % of a first sync's CPU).
    They hold no reference cycles, so reference counting frees them as before."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Writer:
    """Stores batches of envelopes in a thread of its own (with its own database connection),
    one transaction per batch and one batch at a time, so the next batch is parsed while the
    database works on this one. `wait` returns once the last submitted batch is committed.

    Only on Postgres and outside a caller's transaction (whose uncommitted rows another
    connection could not see); otherwise `threaded` is False and the caller stores inline."""

    def __init__(self, folder: Folder) -> None:
        self.folder = folder
        self.threaded = connection.vendor == "postgresql" and not connection.in_atomic_block
        self._pool: ThreadPoolExecutor | None = None
        self._pending: tuple[Sequence[int], Future[int]] | None = None

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is None:
            return
        try:
            if self._pending is not None:
                # An error elsewhere: let the batch in flight finish (or fail) before leaving.
                with suppress(Exception):
                    self._pending[1].result()
            self._pool.submit(connections.close_all).result()
        finally:
            self._pool.shutdown()

    def submit(self, batch: Sequence[int], envelopes: list[Envelope]) -> None:
        assert self._pending is None  # noqa: S101 - wait() first: one batch at a time
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sync-writer")
        self._pending = (batch, self._pool.submit(self._store, envelopes))

    def wait(self) -> tuple[Sequence[int], int] | None:
        """(batch, rows stored) of the batch in flight, once committed; None if none."""
        if self._pending is None:
            return None
        batch, future = self._pending
        self._pending = None
        return batch, future.result()

    def _store(self, envelopes: list[Envelope]) -> int:
        with transaction.atomic():
            insert_envelopes(self.folder, envelopes)
        return len(envelopes)


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
        new = sorted(set(new) | set(session.uid_list(first=top + 1)))
    _fetch_new(folder, session, new, result)
    if not session.has_qresync and folder.messages.count() != exists:
        # CONDSTORE alone does not report expunges: compare UID lists.
        server_set = set(session.uid_list())
        gone = sorted(set(folder.messages.values_list("uid", flat=True)) - server_set)
        _apply_vanished(folder, gone, result)


def _finish(
    folder: Folder,
    modseq: int | None,
    uidnext: int | None,
    result: FolderResult,
    *,
    same_rows: bool = False,
) -> None:
    """Store the folder's new state and counts (``same_rows``: no row was added or removed,
    so only the unread and flagged counts are taken again, from their partial indexes)."""
    folder.highestmodseq = modseq
    folder.uidnext = uidnext
    folder.complete = True
    if same_rows:
        folder.unseen = folder.messages.filter(seen=False).count()
        folder.flagged = folder.messages.filter(flagged=True).count()
    else:
        counts = folder.messages.aggregate(
            total=Count("pk"),
            unseen=Count("pk", filter=Q(seen=False)),
            flagged=Count("pk", filter=Q(flagged=True)),
        )
        folder.total, folder.unseen, folder.flagged = (
            counts["total"],
            counts["unseen"],
            counts["flagged"],
        )
    folder.last_synced = timezone.now()
    folder.save(
        update_fields=[
            "highestmodseq",
            "uidnext",
            "complete",
            "total",
            "unseen",
            "flagged",
            "last_synced",
        ]
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
