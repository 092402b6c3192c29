"""Housekeeping tasks for accounts."""

from __future__ import annotations

from celery import shared_task

from accounts import throttle


@shared_task(ignore_result=True)
def prune_login_failures() -> None:
    """Failures older than the throttle window no longer count; drop them."""
    throttle.do_prune_failures()
