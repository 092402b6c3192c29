"""Changes the user made, written to the server first; the cache then takes the server's
answer by an incremental sync of the folder under the same lock, so a change another
device made meanwhile wins where it should."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from accounts.upstream import connect_options, describe_error, incoming_endpoint
from webmail.models import Folder
from webmail.protocols import errors
from webmail.protocols.imap import ImapSession
from webmail.sync.account import SyncFailed, _fail, _Publisher
from webmail.sync.folder import sync_folder
from webmail.sync.locks import folder_lock

LOCK_WAIT = 30.0
Operation = Callable[[ImapSession], None]


def run_on_folder(folder_id: int, operation: Operation, *, also_sync: Sequence[int] = ()) -> None:
    folder = Folder.objects.select_related("account__owner__organisation").get(pk=folder_id)
    account = folder.account
    publisher = _Publisher(account, None)
    try:
        with ImapSession.connect(
            incoming_endpoint(account), connect_options(account.owner.organisation)
        ) as session:
            with folder_lock(folder.pk, wait=LOCK_WAIT) as lock:
                session.select(folder.raw_name, readonly=False)
                operation(session)
                publisher.folder_done(folder, sync_folder(folder, session, lock))
            for other in Folder.objects.filter(pk__in=also_sync, account=account):
                with folder_lock(other.pk, wait=LOCK_WAIT) as lock:
                    publisher.folder_done(other, sync_folder(other, session, lock))
    except errors.ProtocolError as exc:
        raise _fail(account, describe_error(exc, host=account.incoming_host), exc) from exc


def store_flags(folder_id: int, uids: list[int], flags: list[str], *, add: bool) -> None:
    def operation(session: ImapSession) -> None:
        session.store_flags(uids, flags, add=add)

    run_on_folder(folder_id, operation)


def move(folder_id: int, uids: list[int], dest_folder_id: int) -> None:
    dest = Folder.objects.get(pk=dest_folder_id)

    def operation(session: ImapSession) -> None:
        session.move(uids, dest.raw_name)

    run_on_folder(folder_id, operation, also_sync=[dest.pk])


def expunge(folder_id: int, uids: list[int]) -> None:
    run_on_folder(folder_id, lambda s: s.expunge(uids))


__all__ = ["SyncFailed", "expunge", "move", "run_on_folder", "store_flags"]
