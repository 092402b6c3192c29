"""python manage.py webmail_push — holds IMAP IDLE on each account's Inbox and triggers an
incremental sync when the server reports a change (RFC 2177).

One thread per watched account; the account list is re-read every RELOAD_SECONDS so new and
removed accounts are picked up. IDLE is re-issued before the 29-minute limit; a dropped
connection reconnects with exponential backoff. Servers without IDLE are left to beat's
periodic sync. `--shard N/M` watches only accounts with id % M == N (several push processes).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from argparse import ArgumentParser
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections

from accounts.models import MailAccount
from accounts.upstream import connect_options, incoming_endpoint
from webmail.models import Folder
from webmail.protocols.errors import ProtocolError
from webmail.protocols.imap import ImapSession
from webmail.tasks import sync_folders_task

logger = logging.getLogger("webmail.push")
RELOAD_SECONDS = 15.0
REIDLE_SECONDS = 25 * 60  # RFC 2177: servers may drop IDLE after 30 minutes
WAIT_SLICE = 1.0  # how often a watcher checks whether it should stop
MAX_BACKOFF = 300.0
NO_IDLE_RECHECK = 600.0


class Watcher(threading.Thread):
    def __init__(self, account_id: int) -> None:
        super().__init__(name=f"push-{account_id}", daemon=True)
        self.account_id = account_id
        self.stop = threading.Event()

    def run(self) -> None:
        backoff = 1.0
        while not self.stop.is_set():
            try:
                self.watch()
                backoff = 1.0
            except ProtocolError as exc:
                logger.info(
                    "account %s: %s; reconnecting in %.0f s",
                    self.account_id,
                    type(exc).__name__,
                    backoff,
                )
            except MailAccount.DoesNotExist:
                return
            except Exception:
                # Top of a long-lived loop: log and keep the other accounts going.
                logger.exception("account %s: push watcher failed", self.account_id)
            finally:
                close_old_connections()
            self.stop.wait(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    def inbox(self, account: MailAccount) -> tuple[int | None, str]:
        folder = account.folders.filter(special_use=Folder.SpecialUse.INBOX).first()
        return (folder.pk, folder.raw_name) if folder else (None, "INBOX")

    def trigger(self, account: MailAccount, folder_id: int | None, *, changed: bool) -> None:
        """``changed``: IDLE reported a change, so the sync need not ask STATUS first."""
        if folder_id is None:
            from webmail.tasks import sync_account_task

            sync_account_task.delay(account.pk)
        else:
            sync_folders_task.delay(account.pk, [folder_id], changed=changed)

    def watch(self) -> None:
        account = MailAccount.objects.select_related("owner__organisation").get(pk=self.account_id)
        options = connect_options(account.owner.organisation)
        with ImapSession.connect(incoming_endpoint(account), options) as session:
            if not session.has_idle:
                logger.info("account %s: no IDLE; beat's periodic sync covers it", account.pk)
                self.stop.wait(NO_IDLE_RECHECK)
                return
            folder_id, raw_name = self.inbox(account)
            session.select(raw_name)
            close_old_connections()
            # Catch up on anything that happened while we were not listening.
            self.trigger(account, folder_id, changed=False)
            logger.info("account %s: idling on %s", account.pk, raw_name)
            while not self.stop.is_set():
                session.idle_start()
                started = time.monotonic()
                changed = False
                try:
                    while not self.stop.is_set() and time.monotonic() - started < REIDLE_SECONDS:
                        happened = session.idle_wait(WAIT_SLICE)
                        if any(event.kind != "other" for event in happened):
                            changed = True
                            break
                finally:
                    session.idle_done()
                if changed:
                    if folder_id is None:
                        folder_id, _ = self.inbox(account)
                    self.trigger(account, folder_id, changed=True)
                    close_old_connections()
                else:
                    session.noop()


class Command(BaseCommand):
    help = "Hold IMAP IDLE per account and trigger incremental syncs on changes."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--shard", default="0/1", help="N/M: watch accounts with id %% M == N")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            shard, shards = (int(part) for part in options["shard"].split("/"))
            assert 0 <= shard < shards  # noqa: S101 - turned into CommandError below
        except (ValueError, AssertionError) as exc:
            raise CommandError("--shard takes N/M with 0 <= N < M") from exc
        stopping = threading.Event()

        def stop(signum: int, frame: FrameType | None) -> None:
            stopping.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        watchers: dict[int, Watcher] = {}
        logger.info("push: watching shard %s/%s", shard, shards)
        while not stopping.is_set():
            wanted = {
                pk
                for pk in MailAccount.objects.filter(incoming_protocol="imap").values_list(
                    "pk", flat=True
                )
                if pk % shards == shard
            }
            close_old_connections()
            for pk in wanted - watchers.keys():
                watchers[pk] = Watcher(pk)
                watchers[pk].start()
            for pk in list(watchers):
                if pk not in wanted or not watchers[pk].is_alive():
                    watchers.pop(pk).stop.set()
            stopping.wait(RELOAD_SECONDS)
        for watcher in watchers.values():
            watcher.stop.set()
        for watcher in watchers.values():
            watcher.join(timeout=5)
