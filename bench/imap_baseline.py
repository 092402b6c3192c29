"""Raw IMAP baseline: what the protocol itself costs on a big mailbox, measured in this run.

    python -m bench.imap_baseline [--messages 10000] [--runs 5]

Starts the test rig (tests/servers/mail.py) in a temp dir, seeds alice's INBOX and times each
operation with plain ``imaplib`` (no parsing beyond what imaplib does), the floor any webmail
built on IMAP sits on.  ``make bench`` (``python -m bench``) prints these rows for every mailbox
size in one table with the sync engine's own numbers beside them.
"""

from __future__ import annotations

import argparse
import imaplib
import re
import shutil
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from tests.servers.mail import MailServer, missing_requirements

USER = "alice"
FETCH_ALL = "(UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE)"
LOGIN_SELECT = "login + EXAMINE INBOX (a new connection)"
STATUS_ITEMS = "(MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ)"
STATUS = "STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ)"


@dataclass
class Row:
    operation: str
    raw_ms: float | None
    webmail_ms: float | None = None


def _ms(seconds: float) -> float:
    return seconds * 1000.0


def _ok(method: Callable[..., tuple[str, Sequence[object]]], *args: str) -> list[object]:
    """Call an imaplib command and insist on OK (a failed command would time nothing)."""
    typ, data = method(*args)
    if typ != "OK":
        raise RuntimeError(f"IMAP command failed: {typ} {data!r}")
    return list(data)


def _sizes(fetch_data: list[object]) -> dict[int, int]:
    """{uid: size} from the lines of a ``UID FETCH ... (RFC822.SIZE)`` response."""
    sizes = {}
    for line in fetch_data:
        if isinstance(line, bytes):
            uid = re.search(rb"UID (\d+)", line)
            size = re.search(rb"RFC822\.SIZE (\d+)", line)
            if uid and size:
                sizes[int(uid.group(1))] = int(size.group(1))
    return sizes


def _login(server: MailServer, user: str = USER) -> imaplib.IMAP4:
    """Connect, STARTTLS and LOGIN: the transport the bench's webmail account uses, so both
    sides of the table pay the same TLS."""
    conn = imaplib.IMAP4(server.host, server.imap_port)
    typ, data = conn.starttls(ssl.create_default_context(cafile=str(server.ca_file)))
    if typ != "OK":
        raise RuntimeError(f"STARTTLS failed: {data!r}")
    _ok(conn.login, user, server.users[user])
    return conn


def measure_raw(server: MailServer, runs: int, user: str = USER) -> list[Row]:
    """Median (over ``runs``) wall time of each raw IMAP operation against ``user``'s INBOX."""
    samples: dict[str, list[float]] = {}

    def sample(name: str, fn: Callable[[], object]) -> None:
        start = time.perf_counter()
        fn()
        samples.setdefault(name, []).append(time.perf_counter() - start)

    for _ in range(runs):
        start = time.perf_counter()
        conn = _login(server, user)
        login = time.perf_counter() - start
        samples.setdefault("login (connect, STARTTLS, LOGIN)", []).append(login)
        start = time.perf_counter()
        if conn.select("INBOX", readonly=True)[0] != "OK":
            raise RuntimeError("EXAMINE INBOX failed")
        samples.setdefault(LOGIN_SELECT, []).append(login + time.perf_counter() - start)
        conn.logout()
        # What our no-change resync asks (webmail.sync.folder._unchanged_upstream), on a
        # connection of its own as there.
        conn = _login(server, user)
        sample(STATUS, partial(_ok, conn.status, "INBOX", STATUS_ITEMS))
        conn.logout()

    conn = _login(server, user)
    try:
        for _ in range(runs):
            sample("SELECT INBOX", partial(_ok, conn.select, "INBOX"))
        uid_data = _ok(conn.uid, "SEARCH", "ALL")[0]
        assert isinstance(uid_data, bytes)
        uids = [int(u) for u in uid_data.split()]
        if not uids:
            raise RuntimeError("INBOX is empty: nothing to measure")
        newest50 = uids[-50] if len(uids) >= 50 else uids[0]
        sizes = _ok(conn.uid, "FETCH", "1:*", "(RFC822.SIZE)")
        largest = max(_sizes(sizes).items(), key=lambda item: item[1])[0]
        operations = [
            ("flags of all (UID FETCH 1:* (FLAGS))", ("FETCH", "1:*", "(FLAGS)")),
            ("envelopes of all", ("FETCH", "1:*", FETCH_ALL)),
            ("newest 50 envelopes", ("FETCH", f"{newest50}:*", FETCH_ALL)),
            ("one body (UID FETCH n BODY.PEEK[])", ("FETCH", str(uids[-1]), "BODY.PEEK[]")),
            ("largest body (with attachment)", ("FETCH", str(largest), "BODY.PEEK[]")),
        ]
        for name, command in operations:
            for _ in range(runs):
                sample(name, partial(_ok, conn.uid, *command))
    finally:
        conn.logout()

    rows = []
    for name, values in samples.items():
        rows.append(Row(name, _ms(statistics.median(values))))
        if name == "envelopes of all":
            # The first fetch parses every message; later ones hit Dovecot's cache.  A user
            # opening a mailbox for the first time sees the cold number.
            rows.append(Row("envelopes of all, cold (first fetch)", _ms(values[0])))
    return rows


def format_table(rows: Sequence[Row]) -> str:
    headers = ("operation", "raw IMAP (ms)", "webmail (ms)")

    def cell(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    body = [(r.operation, cell(r.raw_ms), cell(r.webmail_ms)) for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(headers)]
    lines = [
        " | ".join(
            [headers[0].ljust(widths[0]), headers[1].rjust(widths[1]), headers[2].rjust(widths[2])]
        ),
        "-|-".join("-" * w for w in widths),
    ]
    for op, raw, web in body:
        lines.append(" | ".join([op.ljust(widths[0]), raw.rjust(widths[1]), web.rjust(widths[2])]))
    return "\n".join(lines)


def inbox_summary(server: MailServer, user: str = USER) -> str:
    conn = _login(server, user)
    try:
        data = _ok(conn.status, "INBOX", "(MESSAGES SIZE)")[0]
    finally:
        conn.logout()
    text = data.decode() if isinstance(data, bytes) else str(data)
    messages = re.search(r"MESSAGES (\d+)", text)
    size = re.search(r"SIZE (\d+)", text)
    parts = []
    if messages:
        parts.append(f"{int(messages.group(1))} messages")
    if size:
        parts.append(f"{int(size.group(1)) / 1e6:.1f} MB")
    return ", ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.imap_baseline",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--messages", type=int, default=10_000, help="INBOX size to seed")
    parser.add_argument("--runs", type=int, default=5, help="runs per operation (median)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, config)")
    args = parser.parse_args(argv)

    problem = missing_requirements()
    if problem:
        print(f"cannot run the IMAP baseline: {problem}", file=sys.stderr)
        return 2

    root = Path(tempfile.mkdtemp(prefix="webmail-bench-"))
    # Others may traverse (not list): lets Dovecot's mail uid reach the Maildirs inside, so
    # the whole rig lives in this one directory.
    root.chmod(0o711)
    try:
        started = time.perf_counter()
        with MailServer.start(root) as server:
            startup = time.perf_counter() - started
            started = time.perf_counter()
            server.seed(USER, "INBOX", args.messages)
            seed = time.perf_counter() - started
            rows = [
                Row("start-up (Dovecot + Postfix)", _ms(startup)),
                Row(f"seed {args.messages} messages (Maildir write + resync)", _ms(seed)),
                *measure_raw(server, args.runs),
            ]
            print(f"IMAP baseline: {USER}'s INBOX, {inbox_summary(server)}; ", end="")
            print(f"median of {args.runs} runs; Dovecot on {server.host}:{server.imap_port}")
            print()
            print(format_table(rows))
    finally:
        if args.keep:
            print(f"\nkept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
