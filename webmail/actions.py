"""User actions on mail: check ownership, then enqueue the upstream write on commit.

The cache is not changed here: the write-back task applies the server's answer, so a
failed write never leaves the cache claiming something the server did not do. The page
shows the change at once and reconciles from the event stream.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from functools import partial

from django.db import transaction

from accounts.models import MailAccount, User
from webmail import tasks
from webmail.models import Folder, Message
from webmail.queries import get_folder_for_user


def _by_folder(user: User, message_ids: Iterable[int]) -> dict[int, list[int]]:
    rows = Message.objects.filter(pk__in=list(message_ids), folder__account__owner=user)
    grouped: dict[int, list[int]] = defaultdict(list)
    for folder_id, uid in rows.values_list("folder_id", "uid"):
        grouped[folder_id].append(uid)
    return grouped


def do_set_flags(user: User, message_ids: Iterable[int], flags: list[str], *, add: bool) -> int:
    """Add or remove flags/keywords (read = \\Seen, flag = \\Flagged). Returns messages
    affected."""
    grouped = _by_folder(user, message_ids)
    for folder_id, uids in grouped.items():
        transaction.on_commit(
            partial(tasks.store_flags_task.delay, folder_id, uids, flags, add=add)
        )
    return sum(len(uids) for uids in grouped.values())


def do_move_messages(user: User, message_ids: Iterable[int], dest_folder_id: int) -> int:
    dest = get_folder_for_user(user, dest_folder_id)
    grouped = _by_folder(user, message_ids)
    sources = Folder.objects.filter(pk__in=grouped, account=dest.account).values_list(
        "pk", flat=True
    )
    moved = 0
    for folder_id in sources:
        if folder_id == dest.pk:
            continue
        uids = grouped[folder_id]
        moved += len(uids)
        transaction.on_commit(partial(tasks.move_task.delay, folder_id, uids, dest.pk))
    return moved


def do_delete_messages(user: User, message_ids: Iterable[int]) -> int:
    """To the account's Trash; expunged when already in Trash (or there is no Trash)."""
    grouped = _by_folder(user, message_ids)
    folders = Folder.objects.select_related("account").filter(pk__in=grouped)
    for folder in folders:
        uids = grouped[folder.pk]
        trash = folder.account.folders.filter(special_use=Folder.SpecialUse.TRASH).first()
        if trash is None or trash.pk == folder.pk:
            transaction.on_commit(partial(tasks.expunge_task.delay, folder.pk, uids))
        else:
            transaction.on_commit(partial(tasks.move_task.delay, folder.pk, uids, trash.pk))
    return sum(len(uids) for uids in grouped.values())


def do_mark_folder_read(user: User, folder_id: int) -> int:
    folder = get_folder_for_user(user, folder_id)
    uids = list(folder.messages.filter(seen=False).values_list("uid", flat=True))
    if uids:
        transaction.on_commit(
            partial(tasks.store_flags_task.delay, folder.pk, uids, ["\\Seen"], add=True)
        )
    return len(uids)


class NotEmptiable(Exception):
    """Only Trash and Junk can be emptied in one go."""


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
