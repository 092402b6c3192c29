"""Per-folder sync lock held in the database, never in process memory.

Claimed by a conditional UPDATE that succeeds only when the row is free or expired, so two
workers (or a worker and `manage.py sync`) never sync one folder at once. The holder renews
it after every batch; a holder killed with SIGKILL stops renewing and the lock expires, or
is taken at once by a process on the same host that sees the holder's pid is gone.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from webmail.models import SyncLock

LOCK_SECONDS = 90


class LockBusy(Exception):
    """Another process holds the folder's lock."""


class FolderLock:
    def __init__(self, folder_id: int) -> None:
        self.folder_id = folder_id
        self.token = f"{socket.gethostname()[:30]}:{os.getpid()}:{secrets.token_hex(8)}"

    def try_claim(self) -> bool:
        SyncLock.objects.get_or_create(folder_id=self.folder_id)
        now = timezone.now()
        free = Q(expires__isnull=True) | Q(expires__lt=now) | Q(holder=self.token)
        dead = _dead_local_holder(self.folder_id)
        if dead is not None:
            free |= Q(holder=dead)
        claimed = (
            SyncLock.objects.filter(folder_id=self.folder_id)
            .filter(free)
            .update(holder=self.token, expires=now + timedelta(seconds=LOCK_SECONDS))
        )
        return claimed == 1

    def renew(self) -> None:
        """Extend the lock; raises LockBusy if it expired and someone else took it."""
        renewed = SyncLock.objects.filter(folder_id=self.folder_id, holder=self.token).update(
            expires=timezone.now() + timedelta(seconds=LOCK_SECONDS)
        )
        if renewed != 1:
            raise LockBusy(self.folder_id)

    def release(self) -> None:
        SyncLock.objects.filter(folder_id=self.folder_id, holder=self.token).update(
            holder="", expires=None
        )


def _dead_local_holder(folder_id: int) -> str | None:
    """The holder's token if it is a process on this host that no longer exists."""
    holder = SyncLock.objects.filter(folder_id=folder_id).values_list("holder", flat=True).first()
    if not holder:
        return None
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname()[:30] or not pid_text.isdigit():
        return None
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return holder
    except PermissionError:
        return None  # exists, owned by someone else
    return None


@contextmanager
def folder_lock(folder_id: int, *, wait: float = 0.0) -> Iterator[FolderLock]:
    """Hold the folder's lock for the block; wait up to `wait` seconds, then LockBusy."""
    lock = FolderLock(folder_id)
    deadline = time.monotonic() + wait
    while not lock.try_claim():
        if time.monotonic() >= deadline:
            raise LockBusy(folder_id)
        time.sleep(0.5)
    try:
        yield lock
    finally:
        lock.release()
