"""Failed-login throttle, kept in the database so every web process sees the same counts.

Rule: 5 failures for one username, or 20 from one address, within 15 minutes lock that
username / address until 15 minutes after the newest failure. Refused attempts are not
recorded, so the lock does not extend itself while someone keeps trying.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Max
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import LoginFailure


def client_ip(request: HttpRequest) -> str:
    if settings.WEBMAIL_TRUST_X_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            # The proxy appends the address it saw; the rightmost entry is the one we trust.
            return forwarded.split(",")[-1].strip()
    return str(request.META.get("REMOTE_ADDR") or "0.0.0.0")  # noqa: S104 - not a bind


def _window() -> timedelta:
    return timedelta(seconds=settings.LOGIN_THROTTLE_WINDOW_SECONDS)


def _normal(username: str) -> str:
    return username.strip().lower()[:150]


def locked_until(username: str, ip: str) -> datetime | None:
    """When the lock on this username or address ends, or None if not locked."""
    since = timezone.now() - _window()
    recent = LoginFailure.objects.filter(created__gte=since)
    ends: list[datetime] = []
    for filtered, limit in (
        (recent.filter(username=_normal(username)), settings.LOGIN_FAILURES_PER_USERNAME),
        (recent.filter(ip=ip), settings.LOGIN_FAILURES_PER_IP),
    ):
        stats = filtered.aggregate(count=Count("id"), newest=Max("created"))
        if stats["count"] >= limit and stats["newest"] is not None:
            ends.append(stats["newest"] + _window())
    return max(ends) if ends else None


def do_record_failure(username: str, ip: str) -> None:
    LoginFailure.objects.create(username=_normal(username), ip=ip)


def do_clear_failures(username: str) -> None:
    LoginFailure.objects.filter(username=_normal(username)).delete()


def do_prune_failures() -> int:
    deleted, _ = LoginFailure.objects.filter(created__lt=timezone.now() - _window()).delete()
    return deleted
