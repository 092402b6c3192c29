"""`make bench`, sync part: our sync engine against the raw IMAP limit, same run, same data.

For a seeded folder in the test Dovecot it measures our first sync (compared with raw imaplib
UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE)), our no-change
resync (compared with a raw SELECT), our resync after 1,000 flag changes and after 100 new
messages, and the sync process's peak RSS. Our numbers are the `in S s` of `manage.py sync`
(connection to last commit, Django start-up excluded), run as a separate process so its peak
RSS can be read. `python -m bench` runs this together with the raw baseline in one table.
"""

from __future__ import annotations

import argparse
import imaplib
import os
import re
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FETCH_ITEMS = "(UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE)"
SYNCED = re.compile(r"in ([\d.]+) s$")
# webmail.sync.folder's DEBUG line: the folder's sync, and the server's SELECT within it
FOLDER_SYNCED = re.compile(r"folder \d+ synced in ([\d.]+) s(?: \(SELECT ([\d.]+) s\))?")

# The targets (checked on every size, required on the largest).
FIRST_SYNC_MAX_RATIO = 3.0
RESYNC_MAX_RATIO = 2.0
FLAGS_MAX_MS = 500.0
RSS_MAX_MB = 300.0


def median_ms(fn: Callable[[], object], runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


@dataclass
class Sync:
    """One `manage.py sync`: its own `in S s`, the folder sync within it (sync_folder, from the
    DEBUG log) and the server's SELECT within that, in ms; the process's peak RSS in MB."""

    ms: float
    folder_ms: float
    select_ms: float
    rss: float


@dataclass
class SyncNumbers:
    """What one mailbox size measured."""

    size: int
    first: Sync
    resync: Sync  # the median of five by `folder_ms`
    flags: Sync
    new: Sync

    @property
    def rss(self) -> float:
        return max(s.rss for s in (self.first, self.resync, self.flags, self.new))


class Bench:
    def __init__(self, server: Any, env: dict[str, str]) -> None:
        self.server = server
        self.env = env

    def raw(self, user: str) -> imaplib.IMAP4:
        conn = imaplib.IMAP4(self.server.host, self.server.imap_port)
        conn.starttls(ssl.create_default_context(cafile=str(self.server.ca_file)))
        conn.login(user, self.server.users[user])
        return conn

    def raw_fetch_all(self, user: str) -> float:
        conn = self.raw(user)
        conn.select("INBOX", readonly=True)
        ms = median_ms(lambda: conn.uid("FETCH", "1:*", FETCH_ITEMS), runs=2)
        conn.logout()
        return ms

    def raw_select(self, user: str) -> float:
        conn = self.raw(user)
        ms = median_ms(lambda: conn.select("INBOX", readonly=True), runs=5)
        conn.logout()
        return ms

    def our_sync(self, account_id: int) -> Sync:
        """One `manage.py sync` of the account's INBOX, in a process of its own."""
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "manage.py",
                    "sync",
                    "--account",
                    str(account_id),
                    "--folder",
                    "INBOX",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=err,
            )
            # wait4 gives this child's own rusage (RUSAGE_CHILDREN would mix in others).
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read().decode(), err.read().decode()
        if proc.returncode != 0:
            raise SystemExit(f"sync failed:\n{stdout}\n{stderr}")
        match = SYNCED.search(stdout.strip().splitlines()[-1])
        assert match, stdout
        folder = FOLDER_SYNCED.search(stderr)
        nan = float("nan")
        return Sync(
            ms=float(match.group(1)) * 1000,
            folder_ms=float(folder.group(1)) * 1000 if folder else nan,
            select_ms=float(folder.group(2)) * 1000 if folder and folder.group(2) else nan,
            rss=usage.ru_maxrss / 1024,
        )

    def flag_changes(self, user: str, count: int) -> None:
        conn = self.raw(user)
        conn.select("INBOX")
        _, data = conn.uid("SEARCH", "ALL")
        uids = data[0].split()[-count:]
        conn.uid("STORE", b",".join(uids).decode(), "+FLAGS.SILENT", r"(\Flagged)")
        conn.logout()

    def measure(self, user: str, size: int, account_id: int) -> SyncNumbers:
        """Our four syncs of ``user``'s INBOX, already seeded with ``size`` messages."""
        first = self.our_sync(account_id)
        resyncs = sorted((self.our_sync(account_id) for _ in range(5)), key=lambda r: r.folder_ms)
        self.flag_changes(user, 1000)
        flags = self.our_sync(account_id)
        self.server.seed(user, "INBOX", 100, start=size)
        new = self.our_sync(account_id)
        return SyncNumbers(size, first, resyncs[2], flags, new)


def setup_django() -> None:
    """tests.settings (local Postgres and Redis), with a database of the bench's own."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    # A database of its own, so the bench never touches the test or production data.
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("postgresql") and not str(db["NAME"]).endswith("_bench"):
        db["NAME"] = f"{db['NAME']}_bench"
    _recreate_database(db)
    call_command("migrate", verbosity=0)


def make_bench_account(server: Any, user: str) -> int:
    from accounts.models import Organisation, User
    from tests.integration.sync_helpers import make_account

    org, _ = Organisation.objects.get_or_create(name="Bench")
    owner, _ = User.objects.get_or_create(username=f"bench-{user}", defaults={"organisation": org})
    return int(make_account(owner, server, user).pk)


def sync_environment(server: Any) -> dict[str, str]:
    """What `manage.py sync` needs: the bench database, loopback allowed, the rig's CA."""
    from tests.servers.live import app_environment

    return {
        **app_environment(),
        "WEBMAIL_ALLOWED_MAIL_HOSTS": "127.0.0.1",
        "WEBMAIL_CA_FILE": str(server.ca_file),
        "WEBMAIL_LOG_LEVEL": "DEBUG",  # for the "folder N synced in S s" line
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated mailbox sizes")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    setup_django()
    from tests.servers.mail import MailServer

    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="webmail-bench-") as tmp:
        server = MailServer.start(Path(tmp))
        try:
            bench = Bench(server, sync_environment(server))
            for size, user in zip(sizes, ["alice", "bob", "carol"], strict=False):
                server.clear(user)
                start = time.perf_counter()
                server.seed(user, "INBOX", size)
                print(
                    f"seeded {size} messages in {time.perf_counter() - start:.1f} s",
                    file=sys.stderr,
                )
                account_id = make_bench_account(server, user)
                raw_fetch = bench.raw_fetch_all(user)
                raw_select = bench.raw_select(user)
                ours = bench.measure(user, size, account_id)
                label = f"{size // 1000}k"
                rows += [
                    (
                        f"{label}: first sync vs raw UID FETCH 1:* envelopes",
                        f"{raw_fetch:,.0f}",
                        f"{ours.first.ms:,.0f} ({ours.first.ms / raw_fetch:.1f}x)",
                    ),
                    (
                        f"{label}: no-change resync vs raw SELECT",
                        f"{raw_select:,.1f}",
                        f"{ours.resync.ms:,.1f} ({ours.resync.ms / raw_select:.1f}x)",
                    ),
                    (f"{label}: resync after 1,000 flag changes", "-", f"{ours.flags.ms:,.0f}"),
                    (f"{label}: resync after 100 new messages", "-", f"{ours.new.ms:,.0f}"),
                    (f"{label}: sync process peak RSS (MB)", "-", f"{ours.rss:,.0f}"),
                ]
        finally:
            server.stop()
    width = max(len(r[0]) for r in rows)
    print(f"{'operation':{width}} | {'raw IMAP (ms)':>14} | webmail (ms)")
    print(f"{'-' * width}-+-{'-' * 14}-+-{'-' * 20}")
    for name, raw, ours_text in rows:
        print(f"{name:{width}} | {raw:>14} | {ours_text}")


def _recreate_database(db: dict[str, Any]) -> None:
    if not str(db["ENGINE"]).endswith("postgresql"):
        Path(str(db["NAME"])).unlink(missing_ok=True)
        return
    import psycopg

    dsn = f"host={db['HOST']} port={db['PORT']} user={db['USER'] or 'postgres'} dbname=postgres"
    if db.get("PASSWORD"):
        dsn += f" password={db['PASSWORD']}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db["NAME"]}"')
        conn.execute(f'CREATE DATABASE "{db["NAME"]}"')


if __name__ == "__main__":
    main()
