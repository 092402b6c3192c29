"""Failed sign-in throttle, in the database so every web process sees the same counts.

The policy (README "Sign-in throttle") is built so that an attacker cannot aim it at someone:
- per (username, address): 5 failures are free; then each further try waits 1, 2, 4, ... up to
  60 minutes after the newest failure (failures older than a day are forgotten);
- per address (IPv4, or the /64 of an IPv6 client): 20 failures within 15 minutes, for any
  usernames, refuse that address until 15 minutes after its newest failure;
- per username, from all addresses: 10 failures within 15 minutes put the username in slow mode:
  each try waits (1, 2, 4, at most 8 s) before the password is checked, but the right password
  from an address that has not been failing is never refused.
Every try first reserves a failure row (deleted again when the password was right), inside one
serialised transaction with the checks, so concurrent POSTs cannot multiply the allowed guesses.
Refused tries are not recorded, so a lock does not extend itself while someone keeps trying.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Max
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import LoginFailure

# pg_advisory_xact_lock key: one lock serialises the few milliseconds of bookkeeping per try.
_LOCK_KEY = 0x7765626D61696C  # "webmail"


def client_ip(request: HttpRequest) -> str:
    """The client's address. Behind WEBMAIL_TRUSTED_PROXY_HOPS proxies that each append the
    address they saw to X-Forwarded-For, the client is the entry the outermost one appended:
    entries left of it are whatever the client sent, so they are never read."""
    remote = str(request.META.get("REMOTE_ADDR") or "0.0.0.0")  # noqa: S104 - not a bind
    if not settings.WEBMAIL_TRUST_X_FORWARDED_FOR:
        return remote
    hops = settings.WEBMAIL_TRUSTED_PROXY_HOPS
    entries = [e.strip() for e in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    entries = [e for e in entries if e]
    if len(entries) < hops:
        return remote  # did not come through all the proxies: trust only the socket
    candidate = entries[-hops]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


def address_key(ip: str) -> str:
    """What the throttle counts: the address, or its /64 for IPv6 (one subscriber's
    allocation; a client can pick any of 2**64 addresses inside it)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return "0.0.0.0"  # noqa: S104 - not a bind
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False).network_address)
    return str(address)


def normal_username(username: str) -> str:
    return username.strip().lower()[:150]


@dataclass(frozen=True)
class Decision:
    """The outcome of `begin_attempt`: refused until a time, or allowed with a reserved row."""

    locked_until: datetime | None
    reservation: int | None = None


def _pair_backoff(failures: int) -> timedelta | None:
    free = settings.LOGIN_FREE_FAILURES_PER_PAIR
    if failures < free:
        return None
    minutes = min(2 ** (failures - free), settings.LOGIN_MAX_BACKOFF_MINUTES)
    return timedelta(minutes=minutes)


def _stats(username: str | None, address: str | None, since: datetime) -> tuple[int, datetime]:
    rows = LoginFailure.objects.filter(created__gte=since)
    if username is not None:
        rows = rows.filter(username=username)
    if address is not None:
        rows = rows.filter(ip=address)
    stats = rows.aggregate(count=Count("id"), newest=Max("created"))
    return int(stats["count"]), stats["newest"] or since


def _serialise() -> None:
    # SQLite runs every transaction BEGIN IMMEDIATE (webmail/config.py): already one writer.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])


def locked_until(username: str, ip: str) -> datetime | None:
    """When this username may next be tried from this address; None if it may now."""
    now = timezone.now()
    user, address = normal_username(username), address_key(ip)
    ends: list[datetime] = []
    count, newest = _stats(user, address, now - timedelta(seconds=settings.LOGIN_PAIR_MEMORY))
    backoff = _pair_backoff(count)
    if backoff is not None:
        ends.append(newest + backoff)
    window = timedelta(seconds=settings.LOGIN_THROTTLE_WINDOW_SECONDS)
    count, newest = _stats(None, address, now - window)
    if count >= settings.LOGIN_FAILURES_PER_IP:
        ends.append(newest + window)
    until = max(ends, default=None)
    return until if until is not None and until > now else None


def slow_down_seconds(username: str) -> float:
    """How long to wait before checking a password for this username (slow mode), 0 if not."""
    window = timedelta(seconds=settings.LOGIN_THROTTLE_WINDOW_SECONDS)
    count, _newest = _stats(normal_username(username), None, timezone.now() - window)
    over = count - settings.LOGIN_FAILURES_PER_USERNAME
    if over < 0:
        return 0.0
    return float(min(2**over, settings.LOGIN_MAX_DELAY_SECONDS))


def begin_attempt(username: str, ip: str) -> Decision:
    """Check the locks and, if allowed, reserve a failure row in the same serialised
    transaction; `end_attempt` settles it once the password has been checked."""
    with transaction.atomic():
        _serialise()
        until = locked_until(username, ip)
        if until is not None:
            return Decision(until)
        row = LoginFailure.objects.create(username=normal_username(username), ip=address_key(ip))
    return Decision(None, row.pk)


def end_attempt(decision: Decision, *, succeeded: bool) -> None:
    """A failure keeps its reserved row; a success deletes it and forgives this address's
    earlier failures for the username (other addresses' failures still count)."""
    if not succeeded or decision.reservation is None:
        return
    row = LoginFailure.objects.filter(pk=decision.reservation).first()
    if row is None:
        return
    LoginFailure.objects.filter(username=row.username, ip=row.ip).delete()


def do_prune_failures() -> int:
    keep = max(settings.LOGIN_PAIR_MEMORY, settings.LOGIN_THROTTLE_WINDOW_SECONDS)
    cutoff = timezone.now() - timedelta(seconds=keep)
    deleted, _ = LoginFailure.objects.filter(created__lt=cutoff).delete()
    return deleted
