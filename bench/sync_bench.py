"""`make bench`, sync part: our sync engine against the raw IMAP limit, same run, same data.

For each mailbox size it seeds a fresh folder in the test Dovecot, then measures:
raw imaplib UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE) vs
our first sync; raw SELECT vs our no-change resync; our resync after 1,000 flag changes and
after 100 new messages; the sync process's peak RSS. Our numbers are the `in S s` of
`manage.py sync` (connection to last commit, Django start-up excluded), run as a separate
process so its peak RSS can be read.
"""

from __future__ import annotations

import argparse
import imaplib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FETCH_ITEMS = "(UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE)"
SYNCED = re.compile(r"in ([\d.]+) s$")


def median_ms(fn: Callable[[], object], runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


class Bench:
    def __init__(self, server: object, env: dict[str, str]) -> None:
        self.server = server
        self.env = env

    def raw(self, user: str) -> imaplib.IMAP4:
        conn = imaplib.IMAP4(self.server.host, self.server.imap_port)  # type: ignore[attr-defined]
        conn.login(user, self.server.users[user])  # type: ignore[attr-defined]
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

    def our_sync(self, account_id: int) -> tuple[float, float]:
        """(ms reported by `manage.py sync`, peak RSS in MB of that very process)."""
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
        return float(match.group(1)) * 1000, usage.ru_maxrss / 1024

    def flag_changes(self, user: str, count: int) -> None:
        conn = self.raw(user)
        conn.select("INBOX")
        _, data = conn.uid("SEARCH", "ALL")
        uids = data[0].split()[-count:]
        conn.uid("STORE", b",".join(uids).decode(), "+FLAGS.SILENT", r"(\Flagged)")
        conn.logout()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated mailbox sizes")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from tests.servers.live import app_environment
    from tests.servers.mail import MailServer

    # A database of its own, so the bench never touches the test or production data.
    db = settings.DATABASES["default"]
    db["NAME"] = f"{db['NAME']}_bench" if db["ENGINE"].endswith("postgresql") else db["NAME"]
    _recreate_database(db)
    call_command("migrate", verbosity=0)
    from accounts.models import Organisation, User
    from tests.integration.sync_helpers import make_account

    org, _ = Organisation.objects.get_or_create(name="Bench")
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="webmail-bench-") as tmp:
        server = MailServer.start(Path(tmp))
        try:
            env = {**app_environment(), "WEBMAIL_ALLOWED_MAIL_HOSTS": "127.0.0.1"}
            bench = Bench(server, env)
            for size, user in zip(sizes, ["alice", "bob", "carol"], strict=False):
                server.clear(user)
                start = time.perf_counter()
                server.seed(user, "INBOX", size)
                print(
                    f"seeded {size} messages in {time.perf_counter() - start:.1f} s",
                    file=sys.stderr,
                )
                owner, _ = User.objects.get_or_create(
                    username=f"bench-{user}", defaults={"organisation": org}
                )
                account = make_account(owner, server, user)
                raw_fetch = bench.raw_fetch_all(user)
                raw_select = bench.raw_select(user)
                first, rss = bench.our_sync(account.pk)
                resync = statistics.median(bench.our_sync(account.pk)[0] for _ in range(3))
                bench.flag_changes(user, 1000)
                flags, _ = bench.our_sync(account.pk)
                server.seed(user, "INBOX", 100, start=size)
                new, rss2 = bench.our_sync(account.pk)
                label = f"{size // 1000}k"
                rows += [
                    (
                        f"{label}: first sync vs raw UID FETCH 1:* envelopes",
                        f"{raw_fetch:,.0f}",
                        f"{first:,.0f} ({first / raw_fetch:.1f}x)",
                    ),
                    (
                        f"{label}: no-change resync vs raw SELECT",
                        f"{raw_select:,.1f}",
                        f"{resync:,.1f} ({resync / raw_select:.1f}x)",
                    ),
                    (f"{label}: resync after 1,000 flag changes", "-", f"{flags:,.0f}"),
                    (f"{label}: resync after 100 new messages", "-", f"{new:,.0f}"),
                    (f"{label}: sync process peak RSS (MB)", "-", f"{max(rss, rss2):,.0f}"),
                ]
        finally:
            server.stop()
    width = max(len(r[0]) for r in rows)
    print(f"{'operation':{width}} | {'raw IMAP (ms)':>14} | webmail (ms)")
    print(f"{'-' * width}-+-{'-' * 14}-+-{'-' * 20}")
    for name, raw, ours in rows:
        print(f"{name:{width}} | {raw:>14} | {ours}")


def _recreate_database(db: dict[str, object]) -> None:
    if not str(db["ENGINE"]).endswith("postgresql"):
        Path(str(db["NAME"])).unlink(missing_ok=True)
        return
    import psycopg

    dsn = f"host={db['HOST']} port={db['PORT']} user={db['USER'] or 'postgres'} dbname=postgres"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db["NAME"]}"')
        conn.execute(f'CREATE DATABASE "{db["NAME"]}"')


if __name__ == "__main__":
    main()
