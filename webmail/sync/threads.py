"""Conversations, built in the database from Message-ID / In-Reply-To / References across
all folders of an account (so the user's own replies in Sent join), not from the server's
per-folder THREAD. A message's `thread` is a key shared by the conversation: the Message-ID
of its oldest member when it started, kept when more arrive (renaming is never needed for a
thread that only grows).

Messages arrive in any order (a first sync goes newest first): a parent that arrives after its
replies joins their thread, and two threads it connects are merged into the older key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from django.db import transaction

from accounts.models import MailAccount
from webmail.models import THREADED, Message

PER_PASS = 2000
_PREFIX = re.compile(
    r"^\s*((re|fwd?|aw|wg|sv|vs|rif|r|tr|رد|پاسخ|هدایت)\s*(\[\d+\])?\s*:\s*)+", re.I
)


def base_subject(subject: str) -> str:
    return " ".join(_PREFIX.sub("", subject or "").split()).lower()


def _ancestors(row: Mapping[str, object]) -> list[str]:
    """Closest first: In-Reply-To, then References from the last (the parent) backwards."""
    refs = str(row["references"] or "").split()
    parent = str(row["in_reply_to"] or "")
    ids = [parent, *reversed(refs)] if parent else list(reversed(refs))
    return [i for i in ids if i]


class _Groups:
    """Union-find over Message-IDs and thread keys."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, item: str) -> str:
        self.parent.setdefault(item, item)
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra


def assign_threads(account: MailAccount, limit: int = PER_PASS) -> int:
    """Thread up to `limit` unthreaded messages of the account; returns how many."""
    pending = list(
        Message.objects.filter(folder__account=account, thread="")
        .order_by("internaldate", "uid")
        .values("pk", "message_id", "in_reply_to", "references", "subject")[:limit]
    )
    if not pending:
        return 0
    in_account = Message.objects.filter(folder__account=account)
    groups = _Groups()
    own = {row["pk"]: str(row["message_id"] or f"<local-{row['pk']}>") for row in pending}
    by_subject: dict[str, str] = {}
    for row in pending:
        node = own[row["pk"]]
        groups.find(node)
        ancestors = _ancestors(row)
        for ref in ancestors:
            groups.union(ref, node)
        subject = base_subject(row["subject"])
        if not ancestors and _PREFIX.match(row["subject"] or "") and subject in by_subject:
            groups.union(by_subject[subject], node)  # last resort: "Re: same subject"
        if subject:
            by_subject.setdefault(subject, node)
    ids = set(groups.parent)
    # Threads already in the database that these messages belong to: as ancestors, or as
    # replies that arrived earlier and wait for their parent.
    existing: dict[str, str] = {}
    for start in range(0, len(ids), 500):
        chunk = list(ids)[start : start + 500]
        existing.update(
            in_account.filter(message_id__in=chunk)
            .filter(THREADED)
            .values_list("message_id", "thread")
        )
        for reply_to, thread in (
            in_account.filter(in_reply_to__in=chunk)
            .filter(THREADED)
            .values_list("in_reply_to", "thread")
        ):
            groups.union(reply_to, f"thread:{thread}")
    for message_id, thread in existing.items():
        groups.union(message_id, f"thread:{thread}")
    # One key per group: the oldest existing thread it touches, else its oldest message.
    members: dict[str, list[str]] = {}
    for item in list(groups.parent):
        members.setdefault(groups.find(item), []).append(item)
    order = {node: index for index, node in enumerate(own.values())}
    key_of: dict[str, str] = {}
    renames: dict[str, str] = {}
    for root, items in members.items():
        threads = sorted(i.removeprefix("thread:") for i in items if i.startswith("thread:"))
        if threads:
            key = min(threads, key=lambda t: order.get(t, -1))
            renames.update({t: key for t in threads if t != key})
        else:
            key = min((i for i in items if i in order), key=order.__getitem__, default=root)
        key_of[root] = key
    with transaction.atomic():
        for old, new in renames.items():
            in_account.filter(THREADED, thread=old).update(thread=new)
        batches: dict[str, list[int]] = {}
        for pk, node in own.items():
            batches.setdefault(key_of[groups.find(node)], []).append(pk)
        for key, pks in batches.items():
            Message.objects.filter(pk__in=pks).update(thread=key)
    return len(pending)
