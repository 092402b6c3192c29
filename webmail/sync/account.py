"""Sync one upstream account: its folder list, then each folder under its lock, publishing
events for open tabs as each folder applies."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from accounts.credentials import CredentialError
from accounts.models import MailAccount
from accounts.upstream import connect_options, describe_error, incoming_endpoint
from webmail import events
from webmail.models import Folder, Message
from webmail.protocols import errors
from webmail.protocols.imap import ImapSession
from webmail.sync.bodies import prefetch_newest
from webmail.sync.details import fill_details
from webmail.sync.folder import FolderResult, sync_folder
from webmail.sync.folders import sync_folder_list
from webmail.sync.locks import LockBusy, folder_lock
from webmail.sync.threads import assign_threads

logger = logging.getLogger(__name__)
ID_LIST_LIMIT = 500  # beyond this a `messages` event says "reload" instead of listing ids
PROGRESS_EVERY = 0.5


@dataclass
class SyncReport:
    account_id: int = 0
    folders: int = 0
    new: int = 0
    changed: int = 0
    vanished: int = 0
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, result: FolderResult) -> None:
        self.folders += 1
        self.new += result.new
        self.changed += result.changed
        self.vanished += result.vanished


class SyncFailed(Exception):
    """Upstream failed; `message` is for the user, `cause` is the protocol error."""

    def __init__(self, message: str, cause: Exception) -> None:
        super().__init__(message)
        self.message = message
        self.cause = cause


FolderProgress = Callable[[Folder, int, int], None]


def sync_account(
    account_id: int,
    *,
    folder_name: str | None = None,
    folder_ids: list[int] | None = None,
    lock_wait: float = 0.0,
    progress: FolderProgress | None = None,
    known_change: bool = False,
) -> SyncReport:
    """Raises SyncFailed (account marked in error, cached mail untouched) or LookupError.
    When the report counts new mail, the caller runs `enrich_account` (the second pass)."""
    account = MailAccount.objects.select_related("owner__organisation").get(pk=account_id)
    report = SyncReport(account_id=account.pk)
    publisher = _Publisher(account, progress)
    try:
        endpoint = incoming_endpoint(account)
    except CredentialError as exc:
        raise _fail(account, str(exc), exc) from exc
    options = connect_options(account.owner.organisation)
    MailAccount.objects.filter(pk=account.pk).update(status=MailAccount.Status.SYNCING)
    start = time.monotonic()
    try:
        with ImapSession.connect(endpoint, options) as session:
            capabilities = " ".join(sorted(session.capabilities))
            folders = _known_targets(account, folder_name, folder_ids)
            if not folders:
                folders = _list_folders(account, session)
            for folder in folders:
                if not folder.selectable:
                    continue
                if folder_name is not None and folder.name != folder_name:
                    continue
                if folder_ids is not None and folder.pk not in folder_ids:
                    continue
                try:
                    with folder_lock(folder.pk, wait=lock_wait) as lock:
                        result = sync_folder(
                            folder,
                            session,
                            lock,
                            progress=publisher.progress,
                            known_change=known_change,
                        )
                except LockBusy:
                    report.skipped.append(folder.name)
                    continue
                except errors.FolderGone:
                    folder.delete()
                    continue
                report.add(result)
                publisher.folder_done(folder, result)
    except errors.ProtocolError as exc:
        message = describe_error(exc, host=account.incoming_host)
        raise _fail(account, message, exc) from exc
    MailAccount.objects.filter(pk=account.pk).update(
        status=MailAccount.Status.OK,
        last_error="",
        last_sync_at=timezone.now(),
        capabilities=capabilities,
    )
    report.seconds = time.monotonic() - start
    events.do_publish_event(account.owner_id, "sync", {"account": account.pk, "state": "done"})
    return report


def _known_targets(
    account: MailAccount, folder_name: str | None, folder_ids: list[int] | None
) -> list[Folder]:
    """The cached folders a targeted sync asks for (a push for the Inbox, `sync --folder`):
    they need no LIST first, which costs as much as the rest of a no-change resync. Empty
    when the sync is not targeted or a target is unknown (new on the server?): then LIST."""
    if folder_name is None and folder_ids is None:
        return []
    folders = account.folders.filter(selectable=True)
    if folder_name is not None:
        folders = folders.filter(name=folder_name)
    if folder_ids is not None:
        folders = folders.filter(pk__in=folder_ids)
    found = list(folders)
    wanted = 1 if folder_ids is None else len(set(folder_ids))
    return found if len(found) == wanted else []


def _list_folders(account: MailAccount, session: ImapSession) -> list[Folder]:
    listing = sync_folder_list(account, session.list_folders())
    for removed in listing.removed:
        events.do_publish_event(
            account.owner_id, "folder", {"account": account.pk, "folder": removed, "removed": True}
        )
    return listing.folders


def enrich_account(account_id: int) -> int:
    """The second pass over an account's new mail; returns messages given details."""
    account = MailAccount.objects.select_related("owner__organisation").get(pk=account_id)
    filled = 0
    try:
        with ImapSession.connect(
            incoming_endpoint(account), connect_options(account.owner.organisation)
        ) as session:
            folders = Folder.objects.filter(
                account=account, selectable=True, messages__details=False
            )
            for folder in folders.distinct():
                session.select(folder.raw_name)
                while (done := fill_details(folder, session)) > 0:  # newest first
                    filled += done
                if folder.special_use == Folder.SpecialUse.INBOX:
                    prefetch_newest(folder, session)
    except errors.ProtocolError as exc:
        raise _fail(account, describe_error(exc, host=account.incoming_host), exc) from exc
    while assign_threads(account) > 0:
        pass
    if filled:
        events.do_publish_event(
            account.owner_id, "messages", {"account": account.pk, "reload": True}
        )
    return filled


def _fail(account: MailAccount, message: str, cause: Exception) -> SyncFailed:
    logger.warning("account %s: sync failed: %s", account.pk, type(cause).__name__)
    MailAccount.objects.filter(pk=account.pk).update(
        status=MailAccount.Status.ERROR, last_error=message, last_error_at=timezone.now()
    )
    events.do_publish_event(
        account.owner_id, "sync", {"account": account.pk, "state": "error", "error": message}
    )
    return SyncFailed(message, cause)


class _Publisher:
    """Turns engine progress into events, at most every PROGRESS_EVERY seconds."""

    def __init__(self, account: MailAccount, progress: FolderProgress | None) -> None:
        self.account = account
        self.callback = progress
        self.last = 0.0

    def progress(self, folder: Folder, done: int, total: int) -> None:
        if self.callback is not None:
            self.callback(folder, done, total)
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY and done < total:
            return
        self.last = now
        events.do_publish_event(
            self.account.owner_id,
            "sync",
            {
                "account": self.account.pk,
                "folder": folder.pk,
                "state": "running",
                "done": done,
                "total": total,
            },
        )

    def folder_done(self, folder: Folder, result: FolderResult) -> None:
        user = self.account.owner_id
        base: dict[str, Any] = {"account": self.account.pk, "folder": folder.pk}
        events.do_publish_event(
            user,
            "folder",
            {**base, "name": folder.name, "total": folder.total, "unseen": folder.unseen},
        )
        if not result.any:
            return
        lists = {
            "new": result.new_ids,
            "changed": result.changed_ids,
            "vanished": result.vanished_ids,
        }
        if any(len(ids) > ID_LIST_LIMIT for ids in lists.values()) or (
            result.new > len(result.new_ids)
        ):
            events.do_publish_event(user, "messages", {**base, "reload": True})
        else:
            inbox = folder.special_use == Folder.SpecialUse.INBOX
            arrived = _arrived(result.new_ids) if inbox else None
            extra = {"arrived": arrived} if arrived else {}
            events.do_publish_event(user, "messages", {**base, **lists, **extra})


def _arrived(new_ids: list[int]) -> dict[str, Any] | None:
    """New unread Inbox mail, for the page's desktop notification: how many, and the sender
    and subject of the newest."""
    unread = Message.objects.filter(pk__in=new_ids, seen=False)
    latest = unread.order_by("-internaldate").values("from_name", "from_email", "subject").first()
    if latest is None:
        return None
    return {
        "count": unread.count(),
        "from": latest["from_name"] or latest["from_email"],
        "subject": latest["subject"][:200],
    }
