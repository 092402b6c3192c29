"""Conversations, built in the database from Message-ID / In-Reply-To / References across
all folders of an account (so the user's own replies in Sent join), not from the server's
per-folder THREAD. A message's `thread` is the Message-ID of the oldest ancestor we know.

Messages arrive in any order (a first sync goes newest first), so a parent that arrives after
its replies adopts them: their thread is renamed to the parent's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from django.db import transaction

from accounts.models import MailAccount
from webmail.models import Message

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


def assign_threads(account: MailAccount, limit: int = PER_PASS) -> int:
    pending = list(
        Message.objects.filter(folder__account=account, thread="")
        .order_by("internaldate", "uid")
        .values("pk", "message_id", "in_reply_to", "references", "subject")[:limit]
    )
    if not pending:
        return 0
    wanted = {ref for row in pending for ref in _ancestors(row)}
    known: dict[str, str] = dict(
        Message.objects.filter(folder__account=account, message_id__in=wanted)
        .exclude(thread="")
        .values_list("message_id", "thread")
    )
    by_subject: dict[str, str] = {}
    assigned: dict[int, str] = {}
    for row in pending:
        key = next((known[ref] for ref in _ancestors(row) if ref in known), None)
        subject = base_subject(row["subject"])
        if key is None and not _ancestors(row) and _PREFIX.match(row["subject"] or ""):
            key = by_subject.get(subject)  # last resort: "Re: same subject", same batch
        key = key or row["message_id"] or f"<local-{row['pk']}>"
        assigned[row["pk"]] = key
        if row["message_id"]:
            known.setdefault(row["message_id"], key)
        if subject:
            by_subject.setdefault(subject, key)
    groups: dict[str, list[int]] = {}
    for pk, key in assigned.items():
        groups.setdefault(key, []).append(pk)
    with transaction.atomic():
        for key, pks in groups.items():
            Message.objects.filter(pk__in=pks).update(thread=key)
        _adopt_replies(
            account,
            {row["message_id"]: assigned[row["pk"]] for row in pending if row["message_id"]},
        )
    return len(pending)


def _adopt_replies(account: MailAccount, parents: dict[str, str]) -> None:
    """Replies threaded before their parent arrived move into the parent's thread."""
    ids = list(parents)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        replies = (
            Message.objects.filter(folder__account=account, in_reply_to__in=chunk)
            .exclude(thread="")
            .values_list("in_reply_to", "thread")
        )
        for parent_id, thread in replies:
            target = parents[parent_id]
            if thread != target:
                Message.objects.filter(folder__account=account, thread=thread).update(thread=target)
