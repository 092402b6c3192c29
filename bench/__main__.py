"""`make bench`: the raw IMAP baseline and our sync engine, measured in one run, one table.

    python -m bench [--sizes 10000,100000] [--runs 5] [--keep]

Starts the test rig (tests/servers/mail.py), and for each size seeds a fresh INBOX with that
many realistic messages, then measures on that very mailbox:

* the raw IMAP baseline with plain imaplib (login, SELECT, flags of all, envelopes of all, newest
  50, one body, largest body), median of ``--runs``;
* our first sync (`manage.py sync --account ID --folder INBOX` in its own process) beside the raw
  UID FETCH 1:* of the same envelope items; our no-change resync (median of 3) beside the raw
  SELECT; our resync after 1,000 flag changes and after 100 new messages; the peak RSS of the
  sync processes.

The ``target`` column checks the issue's targets (they are required on the largest size).
Our processes use tests.settings: the local Postgres (a ``*_bench`` database of their own) and
Redis. Progress goes to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import imap_baseline, sync_bench, web_bench
from tests.servers.mail import MailServer, missing_requirements

USERS = ("alice", "bob", "carol")


@dataclass
class Line:
    operation: str
    raw: str = "-"
    ours: str = "-"
    folder: str = "-"
    select: str = "-"
    target: str = ""


def _ms(value: float) -> str:
    if math.isnan(value):
        return "-"  # not measured (an engine without the "folder N synced" log line)
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def _check(ok: bool, text: str) -> str:
    return f"{text}: {'met' if ok else 'MISSED'}"


def sync_lines(
    numbers: sync_bench.SyncNumbers,
    raw_fetch: float,
    raw_select: float,
    raw_login_select: float,
    raw_status: float,
    smaller: sync_bench.SyncNumbers | None,
) -> list[Line]:
    first, resync, flags = numbers.first, numbers.resync, numbers.flags
    first_ratio = first.ms / raw_fetch
    # The folder's resync (sync_folder on the account's open connection) against SELECT on an
    # open connection; the whole command against a new connection's login + SELECT.
    resync_ratio = resync.folder_ms / raw_select
    resync_target = _check(
        resync_ratio <= sync_bench.RESYNC_MAX_RATIO, f"<= {sync_bench.RESYNC_MAX_RATIO:g}x"
    )
    if smaller is not None:
        # 10 % or 0.5 ms, whichever is more: run-to-run noise
        not_slower = resync.folder_ms <= max(
            smaller.resync.folder_ms * 1.1, smaller.resync.folder_ms + 0.5
        )
        resync_target += "; " + _check(
            not_slower,
            f"no slower than {smaller.size // 1000}k ({_ms(smaller.resync.folder_ms)})",
        )
    resync_target += f" [the server's STATUS alone: {_ms(raw_status)}]"
    return [
        Line(
            "our first sync (vs envelopes of all)",
            _ms(raw_fetch),
            f"{_ms(first.ms)} ({first_ratio:.1f}x)",
            _ms(first.folder_ms),
            _ms(first.select_ms),
            _check(
                first_ratio <= sync_bench.FIRST_SYNC_MAX_RATIO,
                f"<= {sync_bench.FIRST_SYNC_MAX_RATIO:g}x",
            ),
        ),
        Line(
            "our no-change resync of INBOX (vs SELECT INBOX)",
            _ms(raw_select),
            f"{_ms(resync.folder_ms)} ({resync_ratio:.1f}x)",
            _ms(resync.folder_ms),
            _ms(resync.select_ms),
            resync_target,
        ),
        Line(
            "  the whole `sync --folder INBOX` (vs login + EXAMINE)",
            _ms(raw_login_select),
            f"{_ms(resync.ms)} ({resync.ms / raw_login_select:.1f}x)",
        ),
        Line(
            "our resync after 1,000 flag changes",
            ours=_ms(flags.ms),
            folder=_ms(flags.folder_ms),
            select=_ms(flags.select_ms),
            target=_check(flags.ms < sync_bench.FLAGS_MAX_MS, "< 500 ms"),
        ),
        Line(
            "our resync after 100 new messages",
            ours=_ms(numbers.new.ms),
            folder=_ms(numbers.new.folder_ms),
            select=_ms(numbers.new.select_ms),
        ),
        Line(
            "sync process peak RSS (MB)",
            ours=f"{numbers.rss:,.0f}",
            target=_check(numbers.rss < sync_bench.RSS_MAX_MB, "< 300 MB"),
        ),
    ]


def format_table(sections: Sequence[tuple[str, list[Line]]]) -> str:
    names = ("operation", "raw IMAP (ms)", "webmail (ms)", "folder sync (ms)", "its SELECT (ms)")
    headers = Line(*names, target="target")
    every = [headers] + [line for _title, lines in sections for line in lines]
    widths = [
        max(len(line.operation) for line in every),
        max(len(line.raw) for line in every),
        max(len(line.ours) for line in every),
        max(len(line.folder) for line in every),
        max(len(line.select) for line in every),
    ]

    def render(line: Line) -> str:
        cells = [
            line.operation.ljust(widths[0]),
            line.raw.rjust(widths[1]),
            line.ours.rjust(widths[2]),
            line.folder.rjust(widths[3]),
            line.select.rjust(widths[4]),
            line.target,
        ]
        return " | ".join(cells).rstrip()

    rule = "-+-".join("-" * w for w in [*widths, len("target")])
    out = [render(headers), rule]
    for title, lines in sections:
        out.append(f"{title}:")
        out.extend(render(line) for line in lines)
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated mailbox sizes")
    parser.add_argument("--runs", type=int, default=5, help="runs per raw operation (median)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, config)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    if len(sizes) > len(USERS):
        parser.error(f"at most {len(USERS)} sizes")

    problem = missing_requirements()
    if problem:
        print(f"cannot run the bench: {problem}", file=sys.stderr)
        return 2
    sync_bench.setup_django()

    root = Path(tempfile.mkdtemp(prefix="webmail-bench-"))
    root.chmod(0o711)  # lets Dovecot's mail uid reach the Maildirs inside
    sections: list[tuple[str, list[Line]]] = []
    try:
        started = time.perf_counter()
        with MailServer.start(root) as server:
            print(f"rig started in {time.perf_counter() - started:.1f} s", file=sys.stderr)
            bench = sync_bench.Bench(server, sync_bench.sync_environment(server))
            previous: sync_bench.SyncNumbers | None = None
            for size, user in zip(sizes, USERS, strict=False):
                server.clear(user)
                started = time.perf_counter()
                server.seed(user, "INBOX", size)
                seeded = time.perf_counter() - started
                print(f"seeded {size} messages in {seeded:.1f} s", file=sys.stderr)
                summary = imap_baseline.inbox_summary(server, user)
                raw = imap_baseline.measure_raw(server, args.runs, user)
                print(f"{size}: raw baseline measured", file=sys.stderr)
                by_name = {row.operation: row.raw_ms or 0.0 for row in raw}
                account_id = sync_bench.make_bench_account(server, user)
                numbers = bench.measure(user, size, account_id)
                print(f"{size}: sync measured", file=sys.stderr)
                web = web_bench.measure(
                    server, bench.env, user, account_id, args.runs, root / f"web-{size}"
                )
                print(f"{size}: web measured", file=sys.stderr)
                lines = [Line(f"seed (Maildir write + resync), {summary}", _ms(seeded * 1000))]
                lines += [Line(row.operation, _ms(row.raw_ms or 0.0)) for row in raw]
                lines += sync_lines(
                    numbers,
                    by_name["envelopes of all"],
                    by_name["SELECT INBOX"],
                    by_name[imap_baseline.LOGIN_SELECT],
                    by_name[imap_baseline.STATUS],
                    previous,
                )
                lines += [
                    Line(r.operation, _ms(r.raw_ms), _ms(r.ours_ms), target=r.target) for r in web
                ]
                sections.append((f"{size:,} messages ({user}'s INBOX)", lines))
                previous = numbers
    finally:
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    print(
        f"make bench: raw imaplib vs webmail on the test Dovecot, median of {args.runs} raw runs."
    )
    print(
        "webmail = `manage.py sync --folder INBOX` in a process of its own: its `in S s` "
        "(connect, STARTTLS, login, the folder, events), except the no-change resync row, "
        "which is the folder's own resync on the open connection (as SELECT is); folder "
        "sync = sync_folder alone; its SELECT = the server's answer to our SELECT (EXAMINE) "
        "within it (0: STATUS showed nothing to do). Raw IMAP uses STARTTLS as our account "
        "does."
    )
    print(web_bench.NOTES)
    print()
    print(format_table(sections))
    return 0


if __name__ == "__main__":
    sys.exit(main())
