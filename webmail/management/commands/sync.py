"""python manage.py sync [--account ID] [--folder NAME] [--verify]

Foreground sync; the last line of stdout is
`synced: F folders, N new, C changed, V vanished in S s` (then `verify: ...` with --verify).
Exit 0 on success, 2 when an upstream server failed, 1 when --verify found differences.
"""

from __future__ import annotations

import sys
import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.models import MailAccount
from webmail.models import Folder
from webmail.protocols.errors import ProtocolError
from webmail.sync.account import SyncFailed, SyncReport, sync_account
from webmail.sync.verify import VerifyReport, verify_account
from webmail.tasks import enrich_account_task

LOCK_WAIT = 60.0


class Command(BaseCommand):
    help = "Sync upstream accounts in the foreground, optionally verifying the cache."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--account", type=int, help="account id (default: all)")
        parser.add_argument("--folder", help="decoded folder name, e.g. INBOX or Archive/2024")
        parser.add_argument(
            "--verify", action="store_true", help="then compare every UID and flag with the server"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        accounts = MailAccount.objects.select_related("owner__organisation").order_by("pk")
        if options["account"] is not None:
            accounts = accounts.filter(pk=options["account"])
            if not accounts.exists():
                raise CommandError(f"no account {options['account']}")
        total = SyncReport()
        failed = False
        start = time.monotonic()
        for account in accounts:
            try:
                report = sync_account(
                    account.pk,
                    folder_name=options["folder"],
                    lock_wait=LOCK_WAIT,
                    progress=self._progress if sys.stderr.isatty() else None,
                )
            except SyncFailed as exc:
                self.stderr.write(f"account {account.pk} ({account.email}): {exc.message}")
                failed = True
                continue
            for name in report.skipped:
                self.stderr.write(
                    f"account {account.pk}: skipped folder {name}: another sync held its lock "
                    f"for {LOCK_WAIT:.0f} s"
                )
            if report.new:
                enrich_account_task.delay(account.pk)  # the second pass, as a worker would
            total.folders += report.folders
            total.new += report.new
            total.changed += report.changed
            total.vanished += report.vanished
        seconds = time.monotonic() - start
        if sys.stderr.isatty():
            sys.stderr.write("\r\033[K")
        self.stdout.write(
            f"synced: {total.folders} folders, {total.new} new, {total.changed} changed, "
            f"{total.vanished} vanished in {seconds:.2f} s"
        )
        if failed:
            sys.exit(2)
        if options["verify"]:
            self._verify(accounts, options["folder"])

    def _verify(self, accounts: Any, folder_name: str | None) -> None:
        report = VerifyReport()
        for account in accounts:
            try:
                verify_account(account, report, folder_name)
            except ProtocolError as exc:
                self.stderr.write(f"account {account.pk}: verify failed: {type(exc).__name__}")
                sys.exit(2)
        if report.differences:
            for line in report.differences:
                self.stdout.write(line)
            self.stdout.write(f"verify: {len(report.differences)} differences")
            sys.exit(1)
        self.stdout.write(f"verify: ok ({report.messages} messages in {report.folders} folders)")

    def _progress(self, folder: Folder, done: int, total: int) -> None:
        width = 30
        filled = int(width * done / total) if total else width
        bar = "#" * filled + "-" * (width - filled)
        sys.stderr.write(f"\r{folder.name[:30]:30} [{bar}] {done}/{total}")
        sys.stderr.flush()
