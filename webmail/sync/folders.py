"""Bring an account's folder list to the server's: add, update, and drop removed folders
(a rename upstream arrives as one folder gone and one new)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import transaction

from accounts.models import MailAccount
from webmail.models import Folder
from webmail.protocols.imap import FolderInfo

# Inbox first, then the special folders in the order a mail client lists them.
SPECIAL_ORDER = ["inbox", "drafts", "sent", "archive", "junk", "trash"]


@dataclass
class FolderListResult:
    folders: list[Folder]
    added: list[Folder] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)


def sync_folder_list(account: MailAccount, infos: Sequence[FolderInfo]) -> FolderListResult:
    existing = {folder.raw_name: folder for folder in account.folders.all()}
    taken: set[str] = set()
    result = FolderListResult(folders=[])
    # A server may mark two folders \Sent (or a name guess may collide with a flag):
    # the first wins; flagged ones come first because the adapter lists them so.
    with transaction.atomic():
        for info in infos:
            special = info.special_use or ""
            if special in taken:
                special = ""
            if special:
                taken.add(special)
            folder = existing.pop(info.raw_name, None)
            created = folder is None
            if folder is None:
                folder = Folder(account=account, raw_name=info.raw_name)
            folder.name = info.name
            folder.delimiter = info.delimiter or ""
            folder.special_use = special
            folder.subscribed = info.subscribed
            folder.selectable = info.selectable
            folder.save()
            result.folders.append(folder)
            if created:
                result.added.append(folder)
        for folder in existing.values():
            result.removed.append(folder.pk)
            folder.delete()
    result.folders.sort(key=sync_order)
    return result


def sync_order(folder: Folder) -> tuple[int, str]:
    rank = SPECIAL_ORDER.index(folder.special_use) if folder.special_use else len(SPECIAL_ORDER)
    return (rank, folder.name.lower())
