"""Second pass over new envelopes: preview text and the headers ENVELOPE does not carry
(References, List-Id). The newest messages first, a bounded number per sync, so a first sync
of 100k shows its list at once and fills these in over the following syncs."""

from __future__ import annotations

from django.db import transaction

from webmail.models import Folder, Message
from webmail.protocols.imap import ImapSession

PER_SYNC = 500
BATCH = 250


def fill_details(folder: Folder, session: ImapSession, limit: int = PER_SYNC) -> int:
    """Returns how many messages got their details. The folder must be selected."""
    pending = list(
        folder.messages.filter(details=False)
        .order_by("-internaldate")
        .values_list("pk", "uid")[:limit]
    )
    for start in range(0, len(pending), BATCH):
        chunk = pending[start : start + BATCH]
        uids = [uid for _, uid in chunk]
        previews = session.fetch_preview(uids)
        headers = session.fetch_headers(uids, ["References", "List-Id"])
        with transaction.atomic():
            for pk, uid in chunk:
                fields = headers.get(uid, {})
                Message.objects.filter(pk=pk).update(
                    preview=previews.get(uid, "")[:300],
                    references=" ".join(fields.get("References", "").split())[:10000],
                    list_id=fields.get("List-Id", "").strip()[:500],
                    details=True,
                )
    return len(pending)
