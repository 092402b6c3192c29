"""User actions on mail: check ownership, then enqueue the upstream write on commit.

The cache is not changed here: the write-back task applies the server's answer, so a
failed write never leaves the cache claiming something the server did not do. The page
shows the change at once and reconciles from the event stream.

Undo: flag changes and moves (archive, spam, delete to Trash) record an `UndoableAction`.
A flag change remembers which messages it really changed (from the cache, now); a move
learns where the server put each message (COPYUID) when its write-back task runs. Only the
user's newest action can be undone, once, within UNDO_WINDOW. Expunges cannot be undone.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import MailAccount, User
from webmail import events, tasks
from webmail.models import Folder, Message, UndoableAction, UndoStep
from webmail.queries import get_folder_for_user, search_folder_ids
from webmail.search import parse_query

UNDO_WINDOW = timedelta(minutes=10)

FLAG_ACTIONS = {
    "read": ("\\Seen", True),
    "unread": ("\\Seen", False),
    "flag": ("\\Flagged", True),
    "unflag": ("\\Flagged", False),
}
MOVE_ACTIONS = {"move": "", "archive": Folder.SpecialUse.ARCHIVE, "spam": Folder.SpecialUse.JUNK}


class ActionRefused(Exception):
    """The action cannot be done; the message says why, for the user."""


class NotEmptiable(Exception):
    """Only Trash and Junk can be emptied in one go."""


@dataclass(frozen=True)
class Outcome:
    count: int
    message: str  # what happened, for the page
    undo: int | None = None  # the UndoableAction's id when this can be undone


def _rows_by_folder(user: User, message_ids: Iterable[int]) -> dict[int, list[Message]]:
    rows = Message.objects.filter(pk__in=list(message_ids), folder__account__owner=user)
    grouped: dict[int, list[Message]] = defaultdict(list)
    for row in rows.only(
        "folder_id", "uid", "seen", "flagged", "answered", "draft", "deleted", "keywords"
    ):
        grouped[row.folder_id].append(row)
    return grouped


def _by_folder(user: User, message_ids: Iterable[int]) -> dict[int, list[int]]:
    rows = Message.objects.filter(pk__in=list(message_ids), folder__account__owner=user)
    grouped: dict[int, list[int]] = defaultdict(list)
    for folder_id, uid in rows.values_list("folder_id", "uid"):
        grouped[folder_id].append(uid)
    return grouped


def _start_undo(user: User, count: int) -> UndoableAction:
    # Only the newest action can be undone, so older ones go; one being undone stays until
    # its task is done with it.
    UndoableAction.objects.filter(user=user).exclude(state=UndoableAction.State.UNDOING).delete()
    return UndoableAction.objects.create(user=user, count=count)


def _forget_undo(user: User) -> None:
    """After a change that cannot be undone, an older one must not be undone over it."""
    UndoableAction.objects.filter(user=user, state=UndoableAction.State.ACTIVE).delete()


def _set_flags(
    user: User, message_ids: Iterable[int], flags: list[str], *, add: bool, undoable: bool
) -> tuple[int, UndoableAction | None]:
    grouped = _rows_by_folder(user, message_ids)
    count = sum(len(rows) for rows in grouped.values())
    # Per folder and flag, only the messages whose flag this changes: undo must not clear
    # a \Seen that was there before.
    changed = {
        folder_id: [(flag, [m.uid for m in rows if (flag in m.flags) != add]) for flag in flags]
        for folder_id, rows in grouped.items()
    }
    anything = any(uids for parts in changed.values() for _flag, uids in parts)
    undo = _start_undo(user, count) if undoable and anything else None
    for folder_id, rows in grouped.items():
        step_ids = []
        if undo is not None:
            for flag, uids in changed[folder_id]:
                if uids:
                    step = UndoStep.objects.create(
                        action=undo, folder_id=folder_id, uids=uids, flags=[flag], add=add
                    )
                    step_ids.append(step.pk)
        transaction.on_commit(
            partial(
                tasks.store_flags_task.delay,
                folder_id,
                [m.uid for m in rows],
                flags,
                add=add,
                undo_steps=step_ids,
            )
        )
    return count, undo


def do_set_flags(user: User, message_ids: Iterable[int], flags: list[str], *, add: bool) -> int:
    """Add or remove flags/keywords (read = \\Seen, flag = \\Flagged). Returns messages
    affected. Not undoable (opening a message marks it read this way)."""
    count, _undo = _set_flags(user, message_ids, flags, add=add, undoable=False)
    return count


def _move(
    user: User, message_ids: Iterable[int], dest_folder_id: int, *, undoable: bool
) -> tuple[int, UndoableAction | None, Folder]:
    dest = get_folder_for_user(user, dest_folder_id)
    grouped = _by_folder(user, message_ids)
    sources = [
        pk
        for pk in Folder.objects.filter(pk__in=grouped, account=dest.account).values_list(
            "pk", flat=True
        )
        if pk != dest.pk
    ]
    moved = sum(len(grouped[pk]) for pk in sources)
    undo = _start_undo(user, moved) if undoable and moved else None
    for folder_id in sources:
        _enqueue_move(folder_id, grouped[folder_id], dest, undo)
    return moved, undo, dest


def _enqueue_move(
    folder_id: int, uids: list[int], dest: Folder, undo: UndoableAction | None
) -> None:
    """The move task, after commit; with ``undo``, a step it records the new UIDs in."""
    step = (
        UndoStep.objects.create(action=undo, folder_id=folder_id, dest=dest, uids=uids)
        if undo is not None
        else None
    )
    transaction.on_commit(
        partial(
            tasks.move_task.delay, folder_id, uids, dest.pk, undo_step=step.pk if step else None
        )
    )


def do_move_messages(user: User, message_ids: Iterable[int], dest_folder_id: int) -> int:
    moved, _undo, _dest = _move(user, message_ids, dest_folder_id, undoable=False)
    return moved


def _delete(
    user: User, message_ids: Iterable[int], *, undoable: bool
) -> tuple[int, UndoableAction | None, Folder | None]:
    """Returns (count, undo, trash): undoable only when every message went to a Trash (then
    `trash` is the first of them; None when something was expunged)."""
    grouped = _by_folder(user, message_ids)
    folders = Folder.objects.select_related("account").filter(pk__in=grouped)
    plan: list[tuple[Folder, list[int], Folder | None]] = []
    for folder in folders:
        trash = folder.account.folders.filter(special_use=Folder.SpecialUse.TRASH).first()
        plan.append((folder, grouped[folder.pk], None if trash == folder else trash))
    count = sum(len(uids) for _f, uids, _t in plan)
    expunged = any(trash is None for _f, _u, trash in plan)
    undo = None
    if undoable and count:
        if expunged:
            _forget_undo(user)
        else:
            undo = _start_undo(user, count)
    for folder, uids, trash in plan:
        if trash is None:
            transaction.on_commit(partial(tasks.expunge_task.delay, folder.pk, uids))
            continue
        _enqueue_move(folder.pk, uids, trash, undo)
    return count, undo, None if expunged or not plan else plan[0][2]


def do_delete_messages(user: User, message_ids: Iterable[int]) -> int:
    """To the account's Trash; expunged when already in Trash (or there is no Trash)."""
    count, _undo, _trash = _delete(user, message_ids, undoable=False)
    return count


def do_mark_folder_read(user: User, folder_id: int) -> int:
    folder = get_folder_for_user(user, folder_id)
    uids = list(folder.messages.filter(seen=False).values_list("uid", flat=True))
    if uids:
        transaction.on_commit(
            partial(tasks.store_flags_task.delay, folder.pk, uids, ["\\Seen"], add=True)
        )
    return len(uids)


def do_empty_folder(user: User, folder_id: int) -> int:
    folder = get_folder_for_user(user, folder_id)
    if folder.special_use not in (Folder.SpecialUse.TRASH, Folder.SpecialUse.JUNK):
        raise NotEmptiable(folder.name)
    uids = list(folder.messages.values_list("uid", flat=True))
    if uids:
        transaction.on_commit(lambda: tasks.expunge_task.delay(folder.pk, uids))
    return len(uids)


def do_request_sync(account: MailAccount) -> None:
    transaction.on_commit(lambda: tasks.sync_account_task.delay(account.pk))


# -- the bulk action endpoint ------------------------------------------------------------


def _special_target(user: User, ids: list[int], special: str) -> int | None:
    """The Archive / Junk folder of the (first) account the selection belongs to."""
    account_id = (
        Message.objects.filter(pk__in=ids, folder__account__owner=user)
        .values_list("folder__account_id", flat=True)
        .first()
    )
    folder = Folder.objects.filter(account_id=account_id, special_use=special).first()
    return folder.pk if folder else None


def _flag_message(action: str, n: int) -> str:
    texts = {
        "read": ngettext("Marked %(n)d message as read.", "Marked %(n)d messages as read.", n),
        "unread": ngettext(
            "Marked %(n)d message as unread.", "Marked %(n)d messages as unread.", n
        ),
        "flag": ngettext("Flagged %(n)d message.", "Flagged %(n)d messages.", n),
        "unflag": ngettext(
            "Removed the flag from %(n)d message.", "Removed the flag from %(n)d messages.", n
        ),
    }
    return texts[action] % {"n": n}


def _moved_message(n: int, folder: str) -> str:
    return ngettext(
        "Moved %(n)d message to %(folder)s.", "Moved %(n)d messages to %(folder)s.", n
    ) % {"n": n, "folder": folder}


def _expunged_message(n: int) -> str:
    return ngettext("Deleted %(n)d message for good.", "Deleted %(n)d messages for good.", n) % {
        "n": n
    }


def do_action(
    user: User,
    action: str,
    ids: list[int],
    *,
    dest: int | None = None,
    folder: int | None = None,
    token: int | None = None,
    undoable: bool = True,
) -> Outcome:
    """One POST /mail/act/. `undoable=False` for changes the page makes by itself (marking
    an opened message read), which must not replace the undo the user may still want.
    Raises ActionRefused (with the reason) or Http404 (a folder or undo not the user's)."""
    if action == "undo":
        if token is None:
            raise ActionRefused(_("There is nothing to undo."))
        return do_undo(user, token)
    if action in FLAG_ACTIONS:
        flag, add = FLAG_ACTIONS[action]
        count, undo = _set_flags(user, ids, [flag], add=add, undoable=undoable)
        return Outcome(count, _flag_message(action, count), undo.pk if undo else None)
    if action in MOVE_ACTIONS:
        special = MOVE_ACTIONS[action]
        target = _special_target(user, ids, special) if special else dest
        if target is None:
            raise ActionRefused(_("This account has no such folder."))
        count, undo, to = _move(user, ids, target, undoable=undoable)
        return Outcome(count, _moved_message(count, to.name), undo.pk if undo else None)
    if action == "delete":
        count, undo, trash = _delete(user, ids, undoable=undoable)
        if trash is None:
            return Outcome(count, _expunged_message(count))
        return Outcome(count, _moved_message(count, trash.name), undo.pk if undo else None)
    if action == "mark-folder-read":
        count = do_mark_folder_read(user, folder or 0)
        return Outcome(count, _flag_message("read", count))
    if action == "empty":
        try:
            count = do_empty_folder(user, folder or 0)
        except NotEmptiable:
            raise ActionRefused(_("Only Trash and Junk can be emptied.")) from None
        _forget_undo(user)
        return Outcome(count, _expunged_message(count))
    raise ActionRefused(_("Unknown action."))


def do_undo(user: User, token: int) -> Outcome:
    """Take back the user's newest action: checks, then the undo task does it (waiting for
    the action's own write-back when that has not run yet)."""
    action = UndoableAction.objects.filter(pk=token, user=user).first()
    if action is None:
        raise Http404  # another user's, or long gone: do not say which
    newest = UndoableAction.objects.filter(user=user).order_by("-pk").values_list("pk", flat=True)
    if (
        action.state != UndoableAction.State.ACTIVE
        or action.created < timezone.now() - UNDO_WINDOW
        or newest.first() != action.pk
    ):
        raise ActionRefused(_("This can no longer be undone."))
    if action.steps.filter(state=UndoStep.State.UNMAPPED).exists():
        raise ActionRefused(
            _("This cannot be undone: the mail server did not say where the messages went.")
        )
    # A conditional UPDATE, so two clicks (or two tabs) undo it once.
    claimed = UndoableAction.objects.filter(pk=action.pk, state=UndoableAction.State.ACTIVE).update(
        state=UndoableAction.State.UNDOING
    )
    if not claimed:
        raise ActionRefused(_("This can no longer be undone."))
    transaction.on_commit(partial(tasks.undo_task.delay, action.pk))
    return Outcome(action.count, _("Undoing; the server is being told."))


def do_server_search(user: User, text: str, within: Folder | str | None) -> str | None:
    """Start a search of the message text on the upstream servers (the cache holds no bodies)
    in ``within`` (a folder, a unified view's key, or None for all folders); returns the token
    its `search` event will carry, or None when the query has no words to search for."""
    words = list(parse_query(text).words)
    if not words:
        return None
    token = uuid.uuid4().hex
    folder_ids = search_folder_ids(user, within)
    events.do_publish_event(user.pk, "search", {"token": token, "state": "running"})
    transaction.on_commit(
        partial(tasks.server_search_task.delay, user.pk, token, folder_ids, words)
    )
    return token


def do_fetch_body(message: Message) -> None:
    """Download a message's body in the worker; the page waits for its `body` event.
    (Nothing to commit first: the task reads only the message row, which exists.)"""
    tasks.fetch_body_task.delay(message.pk)
