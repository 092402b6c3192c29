"""Per-user event stream that crosses processes (push and worker -> web).

Every event is a row in the events table, so a reconnecting tab resumes from its
Last-Event-ID. The row is the truth; Redis pub/sub (when REDIS_URL is set) only wakes
listeners early. Without Redis, listeners poll the table every EVENTS_POLL_INTERVAL.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from webmail.models import Event


@dataclass(frozen=True)
class StreamEvent:
    id: int
    kind: str
    data: dict[str, Any]


def _channel(user_id: int) -> str:
    return f"webmail:events:{user_id}"


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2)


def do_publish_event(user_id: int, kind: str, data: dict[str, Any]) -> int:
    """Store the event; wake listeners once the transaction commits (never before: a
    listener woken early would query and miss the uncommitted row)."""
    event = Event.objects.create(user_id=user_id, kind=kind, data=data)
    if settings.REDIS_URL:
        transaction.on_commit(lambda: _notify(user_id, event.pk))
    return event.pk


def _notify(user_id: int, event_id: int) -> None:
    # On failure listeners still find the row when their wait times out: nothing is lost.
    with contextlib.suppress(redis.RedisError, OSError):
        _redis().publish(_channel(user_id), str(event_id))


def get_events_after(user_id: int, last_id: int, limit: int = 500) -> list[StreamEvent]:
    rows = Event.objects.filter(user_id=user_id, pk__gt=last_id).order_by("pk")[:limit]
    return [StreamEvent(row.pk, row.kind, row.data) for row in rows]


def get_last_event_id(user_id: int) -> int:
    last = Event.objects.filter(user_id=user_id).order_by("-pk").values_list("pk", flat=True)
    return last.first() or 0


def wait_for_events(user_id: int, last_id: int, timeout: float) -> list[StreamEvent]:
    """Block up to `timeout` seconds for events after `last_id`; [] on timeout."""
    deadline = time.monotonic() + timeout
    if settings.REDIS_URL:
        try:
            return _wait_redis(user_id, last_id, deadline)
        except (redis.RedisError, OSError):
            pass  # Redis down: the table still has every event
    return _wait_polling(user_id, last_id, deadline)


def _wait_redis(user_id: int, last_id: int, deadline: float) -> list[StreamEvent]:
    pubsub = _redis().pubsub(ignore_subscribe_messages=True)
    try:
        # Subscribe before reading the table so an event committed in between still wakes us.
        pubsub.subscribe(_channel(user_id))
        while True:
            events = get_events_after(user_id, last_id)
            remaining = deadline - time.monotonic()
            if events or remaining <= 0:
                return events
            pubsub.get_message(timeout=min(remaining, 5.0))
    finally:
        pubsub.close()


def _wait_polling(user_id: int, last_id: int, deadline: float) -> list[StreamEvent]:
    while True:
        events = get_events_after(user_id, last_id)
        remaining = deadline - time.monotonic()
        if events or remaining <= 0:
            return events
        time.sleep(min(settings.EVENTS_POLL_INTERVAL, remaining))


def do_prune_events() -> int:
    cutoff = timezone.now() - timedelta(seconds=settings.EVENTS_RETENTION_SECONDS)
    deleted, _ = Event.objects.filter(created__lt=cutoff).delete()
    return deleted
