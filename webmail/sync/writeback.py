"""Changes the user made, written to the server first; the cache then takes the server's
answer by an incremental sync of the folder under the same lock, so a change another
device made meanwhile wins where it should.

Undo (webmail/actions.py records what to reverse): a write-back marks its undo steps done
(a move with the server's COPYUID map), and `undo` reverses exactly those steps."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from django.db.models import QuerySet

from accounts.upstream import connect_options, describe_error, incoming_endpoint
from webmail import events
from webmail.models import Folder, UndoableAction, UndoStep
from webmail.protocols import errors
from webmail.protocols.imap import ImapSession
from webmail.sync.account import SyncFailed, _fail, _Publisher
from webmail.sync.folder import sync_folder
from webmail.sync.locks import folder_lock

logger = logging.getLogger(__name__)

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


def store_flags(
    folder_id: int, uids: list[int], flags: list[str], *, add: bool, undo_steps: Sequence[int] = ()
) -> None:
    steps = UndoStep.objects.filter(pk__in=undo_steps)
    # A retry after the write (the sync failed) must not write again over an undo that
    # has run meanwhile.
    written = bool(undo_steps) and steps.exists() and not _pending(steps).exists()

    def operation(session: ImapSession) -> None:
        if not written:
            session.store_flags(uids, flags, add=add)
        _pending(steps).update(state=UndoStep.State.DONE)

    run_on_folder(folder_id, operation)


def move(
    folder_id: int, uids: list[int], dest_folder_id: int, *, undo_step: int | None = None
) -> None:
    dest = Folder.objects.get(pk=dest_folder_id)

    def operation(session: ImapSession) -> None:
        mapping = session.move(uids, dest.raw_name)
        if undo_step is not None:
            record_move(undo_step, mapping)

    run_on_folder(folder_id, operation, also_sync=[dest.pk])


def record_move(step_id: int, mapping: dict[int, int]) -> None:
    """Keep where the server put the messages. Only the first try's answer counts: a retry
    finds the UIDs already gone and maps nothing. No COPYUID (no UIDPLUS): not undoable."""
    pairs = sorted(mapping.items())
    state = UndoStep.State.DONE if pairs else UndoStep.State.UNMAPPED
    recorded = _pending(UndoStep.objects.filter(pk=step_id)).update(mapping=pairs, state=state)
    if recorded and not pairs:
        step = UndoStep.objects.select_related("action").filter(pk=step_id).first()
        if step is not None:
            _tell(step.action, "unavailable")


def expunge(folder_id: int, uids: list[int]) -> None:
    run_on_folder(folder_id, lambda s: s.expunge(uids))


class UndoNotReady(Exception):
    """The action's own write-back has not run yet; try again shortly."""


def undo(action_id: int, *, give_up: bool = False) -> None:
    """Reverse every step of an action the user asked to undo (state UNDOING). Raises
    UndoNotReady while a step waits for its write-back, unless `give_up`: then, as when a
    move has no COPYUID map or the server refuses, the action fails and the page is told."""
    action = UndoableAction.objects.filter(pk=action_id).first()
    if action is None or action.state != UndoableAction.State.UNDOING:
        return
    steps = list(action.steps.select_related("folder", "dest").order_by("pk"))
    if any(step.state == UndoStep.State.UNMAPPED for step in steps):
        _finish(action, UndoableAction.State.FAILED, "unavailable")
        return
    if any(step.state == UndoStep.State.PENDING for step in steps):
        if give_up:
            _finish(action, UndoableAction.State.FAILED, "failed")
            return
        raise UndoNotReady(f"undoable action {action_id} is still being written")
    try:
        for step in steps:
            if step.state == UndoStep.State.DONE:
                _undo_step(step)
    except SyncFailed as exc:
        if isinstance(exc.cause, errors.TransientError) and not give_up:
            raise  # the task retries
        logger.warning("undo of action %s failed: %s", action_id, exc.message)
        _finish(action, UndoableAction.State.FAILED, "failed")
        return
    _finish(action, UndoableAction.State.UNDONE, "done")


def _undo_step(step: UndoStep) -> None:
    def mark_undone() -> None:
        UndoStep.objects.filter(pk=step.pk).update(state=UndoStep.State.UNDONE)

    if step.dest is None:

        def unflag(session: ImapSession) -> None:
            session.store_flags(step.uids, step.flags, add=not step.add)
            mark_undone()

        run_on_folder(step.folder.pk, unflag)
        return
    new_uids = [new for _old, new in step.mapping]
    source = step.folder

    def move_back(session: ImapSession) -> None:
        session.move(new_uids, source.raw_name)
        mark_undone()

    run_on_folder(step.dest.pk, move_back, also_sync=[source.pk])


def _finish(action: UndoableAction, state: str, said: str) -> None:
    UndoableAction.objects.filter(pk=action.pk).update(state=state)
    _tell(action, said)


def _tell(action: UndoableAction, state: str) -> None:
    # The page's toast: "done", "failed", or "unavailable" (the server gave no COPYUID).
    events.do_publish_event(action.user_id, "undo", {"token": action.pk, "state": state})


def _pending(steps: QuerySet[UndoStep]) -> QuerySet[UndoStep]:
    return steps.filter(state=UndoStep.State.PENDING)


__all__ = ["SyncFailed", "UndoNotReady", "expunge", "move", "run_on_folder", "store_flags", "undo"]
