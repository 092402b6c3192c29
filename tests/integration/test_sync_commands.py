"""`manage.py sync`, `--verify`, `mailaccount`, and convergence after SIGKILL, through the
real manage.py against the real Dovecot."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from accounts.models import MailAccount, User
from tests.integration.sync_helpers import make_account, make_message
from tests.servers.live import app_environment
from tests.servers.mail import MailServer
from webmail.models import Folder, Message

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.mailserver]
SYNCED = re.compile(
    r"^synced: (\d+) folders, (\d+) new, (\d+) changed, (\d+) vanished in [\d.]+ s$"
)


@pytest.fixture
def upstream(mailserver: MailServer) -> Iterator[MailServer]:
    mailserver.clear("alice")
    yield mailserver


def sync_env(mailserver: MailServer) -> dict[str, str]:
    return {
        **app_environment(),
        "WEBMAIL_ALLOWED_MAIL_HOSTS": "127.0.0.1",
        "WEBMAIL_CA_FILE": str(mailserver.ca_file),
    }


def manage(mailserver: MailServer, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = sync_env(mailserver)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout.strip().splitlines()[-1]


def test_sync_prints_the_summary_line(alice: User, upstream: MailServer) -> None:
    account = make_account(alice, upstream)
    upstream.append("alice", "INBOX", make_message("x"))
    upstream.append("alice", "INBOX", make_message("y"))
    result = manage(upstream, "sync", "--account", str(account.pk))
    assert result.returncode == 0, result.stderr
    match = SYNCED.match(last_line(result))
    assert match, result.stdout
    assert match.groups()[:4] == ("6", "2", "0", "0")  # INBOX + 5 special folders
    again = manage(upstream, "sync", "--account", str(account.pk), "--folder", "INBOX")
    assert SYNCED.match(last_line(again)).groups()[:4] == ("1", "0", "0", "0")  # type: ignore[union-attr]


def test_sync_exits_2_when_upstream_fails(alice: User, upstream: MailServer) -> None:
    account = make_account(alice, upstream, password="nope nope")
    result = manage(upstream, "sync", "--account", str(account.pk))
    assert result.returncode == 2
    assert "refused the login or password" in result.stderr
    assert SYNCED.match(last_line(result))


def test_verify_passes_then_lists_each_corruption(alice: User, upstream: MailServer) -> None:
    account = make_account(alice, upstream)
    uids = [upstream.append("alice", "INBOX", make_message(f"m{i}")) for i in range(3)]
    assert (
        manage(upstream, "sync", "--verify")
        .stdout.strip()
        .endswith("verify: ok (3 messages in 6 folders)")
    )
    inbox = Folder.objects.get(account=account, special_use="inbox")
    Message.objects.filter(folder=inbox, uid=uids[0]).delete()  # a dropped row
    Message.objects.filter(folder=inbox, uid=uids[1]).update(flagged=True)  # a flipped flag
    phantom = Message.objects.get(folder=inbox, uid=uids[2])
    phantom.pk, phantom.uid = None, 99999  # a phantom UID
    phantom.save()
    # Nothing changed upstream, so the sync before the check is a no-op and leaves the
    # corruption for --verify to find.
    result = manage(upstream, "sync", "--account", str(account.pk), "--verify")
    assert result.returncode == 1
    out = result.stdout
    assert f"UID {uids[0]} on the server, not in the cache" in out
    assert f"UID {uids[1]} flags" in out
    assert "UID 99999 in the cache, not on the server" in out
    assert "verify: 3 differences" in out


def test_mailaccount_add_list_remove(alice: User, upstream: MailServer) -> None:
    incoming = f"imap://alice@127.0.0.1:{upstream.imap_port}"
    outgoing = f"smtp://alice@127.0.0.1:{upstream.submission_port}"

    def add(password: str) -> subprocess.CompletedProcess[str]:
        return manage(
            upstream,
            "mailaccount",
            "add",
            "--user",
            "alice",
            "--email",
            "alice@example.test",
            "--incoming",
            incoming,
            "--outgoing",
            outgoing,
            "--password-stdin",
            stdin=password + "\n",
        )

    added = add(upstream.users["alice"])
    assert added.returncode == 0, added.stderr
    account_id = int(added.stdout.strip().removeprefix("account "))
    account = MailAccount.objects.get(pk=account_id)
    assert account.incoming_security == "starttls" and account.owner == alice
    assert upstream.users["alice"] not in account.incoming_secret  # encrypted at rest
    listed = manage(upstream, "mailaccount", "list")
    # The status depends on whether a worker already ran the first sync it enqueued.
    line = rf"{account_id} alice@example\.test imap://alice@127\.0\.0\.1:{upstream.imap_port} "
    assert re.fullmatch(line + r"(new|syncing|ok|error)", listed.stdout.strip()), listed.stdout
    bad = add("wrong")
    assert bad.returncode == 1
    assert "refused the login or password" in bad.stderr
    closed = manage(
        upstream,
        "mailaccount",
        "add",
        "--user",
        "alice",
        "--email",
        "a@example.test",
        "--incoming",
        "imaps://alice@127.0.0.1:1",
        "--outgoing",
        outgoing,
        "--password-stdin",
        stdin="x\n",
    )
    assert closed.returncode == 1 and "Cannot reach" in closed.stderr
    removed = manage(upstream, "mailaccount", "remove", str(account_id))
    assert removed.returncode == 0
    assert not MailAccount.objects.filter(pk=account_id).exists()


def test_sigkill_mid_first_sync_converges(alice: User, upstream: MailServer) -> None:
    """GIVEN a first sync killed after at least one batch and before the last, WHEN it runs
    again THEN the cache matches the server exactly (verify passes)."""
    upstream.seed("alice", "INBOX", 6000)
    account = make_account(alice, upstream)
    env = sync_env(upstream)
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "sync", "--account", str(account.pk)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        cached = 0
        while time.monotonic() < deadline and proc.poll() is None:
            cached = Message.objects.filter(folder__account=account).count()
            if cached >= 1000:
                break
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    partial = Message.objects.filter(folder__account=account).count()
    assert 0 < partial < 6000, partial
    # The killed process left its folder lock behind; its holder is dead, so it is taken.
    result = manage(upstream, "sync", "--account", str(account.pk), "--folder", "INBOX", "--verify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verify: ok (6000 messages in 1 folders)" in result.stdout
    assert Message.objects.filter(folder__account=account).count() == 6000
