"""Celery entry points: thin shells that take ids and call the domain code.

Every task is idempotent: syncs converge on the server's state, flag stores and expunges
of UIDs already changed or gone are no-ops upstream. Transient upstream errors retry with
backoff; a held folder lock retries shortly after.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from django.conf import settings

from accounts.models import MailAccount
from webmail import events
from webmail.models import Folder, Message
from webmail.protocols.errors import TransientError
from webmail.sync import bodies, search, writeback
from webmail.sync.account import SyncFailed, SyncReport, enrich_account, sync_account
from webmail.sync.locks import LockBusy

logger = logging.getLogger(__name__)


class Retryable(Exception):
    """Raised inside tasks for failures worth another try (transient upstream, busy lock)."""


# Tasks that talk to an upstream server: Retryable (transient trouble, a busy lock) tries
# again with growing, jittered delays, for about half an hour in all.
UPSTREAM_RETRIES: dict[str, Any] = {
    "ignore_result": True,
    "autoretry_for": (Retryable,),
    "max_retries": 8,
    "retry_backoff": 15,
    "retry_backoff_max": 600,
    "retry_jitter": True,
}


def _reraise(exc: SyncFailed) -> None:
    # Transient upstream trouble retries with backoff; anything else (bad password, TLS,
    # refused host) waits for the user, and beat's periodic sync, instead.
    if isinstance(exc.cause, TransientError):
        raise Retryable(exc.message) from exc


@shared_task(bind=True, **UPSTREAM_RETRIES)
def sync_account_task(self: Task[Any, Any], account_id: int) -> None:
    """Full pass over an account: folder list, then every folder."""
    try:
        report = sync_account(account_id)
    except MailAccount.DoesNotExist:
        return  # removed since it was queued
    except SyncFailed as exc:
        _reraise(exc)
        return
    _then_enrich(report)
    if report.skipped:
        # Another sync holds those folders; it may have started before the change we
        # were asked to pick up, so look again shortly.
        raise self.retry(countdown=5, max_retries=20)


@shared_task(bind=True, **UPSTREAM_RETRIES)
def sync_folders_task(
    self: Task[Any, Any], account_id: int, folder_ids: list[int], *, changed: bool = False
) -> None:
    """Incremental sync of some folders (push saw a change there, if ``changed``)."""
    try:
        report = sync_account(account_id, folder_ids=folder_ids, known_change=changed)
    except MailAccount.DoesNotExist:
        return
    except SyncFailed as exc:
        _reraise(exc)
        return
    _then_enrich(report)
    if report.skipped:
        raise self.retry(countdown=2, max_retries=30)


def _then_enrich(report: SyncReport) -> None:
    """The second pass, off the sync's critical path: previews, References/List-Id,
    conversations, the newest Inbox bodies."""
    if report.new:
        enrich_account_task.delay(report.account_id)


@shared_task(**UPSTREAM_RETRIES)
def enrich_account_task(account_id: int) -> None:
    """Second pass after new mail: previews, References/List-Id, threads, newest bodies."""
    try:
        enrich_account(account_id)
    except MailAccount.DoesNotExist:
        return
    except SyncFailed as exc:
        _reraise(exc)


@shared_task(ignore_result=True)
def sync_all_accounts() -> None:
    """Beat's fallback for servers without IDLE, and recovery after upstream outages."""
    for account_id in MailAccount.objects.values_list("pk", flat=True):
        sync_account_task.delay(account_id)


def _writeback(call: Any, *args: Any, **kwargs: Any) -> None:
    try:
        call(*args, **kwargs)
    except Folder.DoesNotExist:
        return
    except LockBusy as exc:
        raise Retryable("folder busy") from exc
    except SyncFailed as exc:
        _reraise(exc)


@shared_task(**UPSTREAM_RETRIES)
def store_flags_task(
    folder_id: int,
    uids: list[int],
    flags: list[str],
    *,
    add: bool,
    undo_steps: list[int] | None = None,
) -> None:
    _writeback(writeback.store_flags, folder_id, uids, flags, add=add, undo_steps=undo_steps or [])


@shared_task(**UPSTREAM_RETRIES)
def move_task(
    folder_id: int, uids: list[int], dest_folder_id: int, *, undo_step: int | None = None
) -> None:
    _writeback(writeback.move, folder_id, uids, dest_folder_id, undo_step=undo_step)


@shared_task(**UPSTREAM_RETRIES)
def expunge_task(folder_id: int, uids: list[int]) -> None:
    _writeback(writeback.expunge, folder_id, uids)


UNDO_WAIT_TRIES = 60  # every 2 s: how long an undo waits for its action's write-back


@shared_task(
    bind=True,
    ignore_result=True,
    autoretry_for=(Retryable,),
    max_retries=UNDO_WAIT_TRIES + 8,
    retry_backoff=5,
    retry_backoff_max=60,
    retry_jitter=True,
)
def undo_task(self: Task[Any, Any], action_id: int) -> None:
    """Reverse an action; waits while the action's own write-back has not run yet."""
    give_up = self.request.retries >= UNDO_WAIT_TRIES
    try:
        _writeback(writeback.undo, action_id, give_up=give_up)
    except writeback.UndoNotReady as exc:
        raise self.retry(countdown=2, exc=exc) from exc


@shared_task(
    ignore_result=True,
    autoretry_for=(TransientError,),
    max_retries=3,
    retry_backoff=5,
    retry_jitter=True,
)
def fetch_body_task(message_id: int) -> None:
    """Download a body someone asked for; the page waits for the `body` event."""
    try:
        body = bodies.fetch_body(message_id)
    except Message.DoesNotExist:
        return
    message = Message.objects.select_related("folder__account").get(pk=message_id)
    events.do_publish_event(
        message.folder.account.owner_id,
        "body",
        {"message": message_id, "available": body is not None},
    )


@shared_task(ignore_result=True)
def server_search_task(user_id: int, token: str, folder_ids: list[int], terms: list[str]) -> None:
    """Search message text on the upstream servers; the page waits for this `search` event
    (webmail/views/mailbox.py reads it back by its token)."""
    hits = search.search_server_text(user_id, folder_ids, terms)
    events.do_publish_event(
        user_id,
        "search",
        {"token": token, "state": "done", "ids": hits.ids, "errors": hits.errors},
    )


@shared_task(ignore_result=True)
def evict_bodies() -> None:
    """Keep the body cache within WEBMAIL_BODY_CACHE_MB; evicted bodies refetch on demand."""
    bodies.evict_bodies(settings.BODY_CACHE_BYTES)


@shared_task(ignore_result=True)
def prune_events() -> None:
    """Drop events older than EVENTS_RETENTION_SECONDS; tabs that old reload anyway."""
    events.do_prune_events()


@shared_task(ignore_result=True)
def publish_event(user_id: int, kind: str, data: dict[str, object]) -> None:
    """Publish from a worker; used by tests to prove broker and event bus cross processes."""
    events.do_publish_event(user_id, kind, dict(data))
