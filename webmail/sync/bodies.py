"""Message bodies: fetched on demand (and prefetched for the newest few), cached as raw
source, evicted least-recently-read first once the cache passes its size budget."""

from __future__ import annotations

from django.db.models import Sum
from django.utils import timezone

from accounts.upstream import connect_options, incoming_endpoint
from webmail.models import Folder, Message, MessageBody
from webmail.protocols.imap import ImapSession

PREFETCH = 5
PREFETCH_MAX_SIZE = 2 * 1024 * 1024  # big messages wait until someone opens them


def store_body(message: Message, raw: bytes) -> MessageBody:
    body, _ = MessageBody.objects.update_or_create(
        message=message, defaults={"raw": raw, "size": len(raw)}
    )
    return body


def fetch_body(message_id: int) -> MessageBody | None:
    """The cached body, fetching it first if needed; None if the server no longer has it."""
    message = Message.objects.select_related("folder__account__owner__organisation").get(
        pk=message_id
    )
    body = MessageBody.objects.filter(message=message).first()
    if body is not None:
        MessageBody.objects.filter(pk=body.pk).update(last_read=timezone.now())
        return body
    account = message.folder.account
    with ImapSession.connect(
        incoming_endpoint(account), connect_options(account.owner.organisation)
    ) as session:
        session.select(message.folder.raw_name)
        raw = session.fetch_raw(message.uid)
    return store_body(message, raw) if raw is not None else None


def prefetch_newest(folder: Folder, session: ImapSession, count: int = PREFETCH) -> int:
    """Bodies of the newest few messages, so opening them needs no round trip. The folder
    must be selected in `session`."""
    wanted = list(
        folder.messages.filter(body__isnull=True, size__lte=PREFETCH_MAX_SIZE).order_by(
            "-internaldate"
        )[:count]
    )
    fetched = 0
    for message in wanted:
        raw = session.fetch_raw(message.uid)
        if raw is not None:
            store_body(message, raw)
            fetched += 1
    return fetched


def evict_bodies(max_bytes: int) -> int:
    """Drop least-recently-read bodies until the cache is within `max_bytes`. Only IMAP
    bodies: the server still has them."""
    evictable = MessageBody.objects.filter(message__folder__account__incoming_protocol="imap")
    total = evictable.aggregate(total=Sum("size"))["total"] or 0
    dropped = 0
    if total <= max_bytes:
        return 0
    for pk, size in evictable.order_by("last_read").values_list("pk", "size").iterator():
        if total <= max_bytes:
            break
        MessageBody.objects.filter(pk=pk).delete()
        total -= size
        dropped += 1
    return dropped
