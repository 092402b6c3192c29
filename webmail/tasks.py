"""Celery entry points: thin shells that take ids and call the domain code."""

from __future__ import annotations

from celery import shared_task

from webmail import events


@shared_task(ignore_result=True)
def prune_events() -> None:
    """Drop events older than EVENTS_RETENTION_SECONDS; tabs that old reload anyway."""
    events.do_prune_events()


@shared_task(ignore_result=True)
def publish_event(user_id: int, kind: str, data: dict[str, object]) -> None:
    """Publish from a worker; used by tests to prove broker and event bus cross processes."""
    events.do_publish_event(user_id, kind, dict(data))
