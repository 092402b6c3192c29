"""Push end to end: mail delivered upstream reaches the cache and the user's /events/
stream through the real webmail_push process, worker and web server."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from accounts.models import MailAccount, User
from tests.integration.sync_helpers import make_account, make_message
from tests.integration.test_health_and_events import read_sse, session_cookie
from tests.servers.live import LiveApp
from tests.servers.mail import MailServer
from webmail import events
from webmail.models import Message

pytestmark = [pytest.mark.mailserver]


def wait_until(check: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def plain_account(transactional_db: None, alice: User, mailserver: MailServer) -> MailAccount:
    """Plaintext to loopback (allowed only there), so live processes need no CA file."""
    mailserver.clear("alice")
    account = make_account(alice, mailserver)
    account.incoming_security = "none"
    account.save()
    return account


def test_new_mail_reaches_cache_and_stream_by_itself(
    plain_account: MailAccount, live_app: LiveApp, mailserver: MailServer
) -> None:
    user_id = plain_account.owner_id
    # The push process finds the new account, catches up (first sync), then idles.
    assert wait_until(
        lambda: plain_account.folders.filter(special_use="inbox", complete=True).exists(), 60
    ), live_app.log("push")[-3000:] + live_app.log("worker")[-3000:]
    assert wait_until(lambda: "idling on INBOX" in live_app.log("push"), 30), live_app.log("push")
    start = events.get_last_event_id(user_id)
    cookie = session_cookie(plain_account.owner)
    mailserver.deliver("zoe@example.test", ["alice@example.test"], make_message("pushed"))
    text = read_sse(
        live_app,
        cookie,
        {"Last-Event-ID": str(start)},
        until="\n\n",
        after="event: messages",
        timeout=30,
    )
    assert "event: messages" in text, text + live_app.log("worker")[-3000:]
    payloads = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]
    new_ids = [i for p in payloads if "new" in p for i in p["new"]]
    assert Message.objects.filter(pk__in=new_ids, subject="pushed").exists()


def test_changes_from_another_client_arrive(
    plain_account: MailAccount, live_app: LiveApp, mailserver: MailServer
) -> None:
    uid = mailserver.append("alice", "INBOX", make_message("to be read elsewhere"))
    assert wait_until(
        lambda: Message.objects.filter(folder__account=plain_account, uid=uid).exists(), 60
    ), live_app.log("push")[-3000:]
    mailserver.flag("alice", "INBOX", uid, ["\\Seen"])
    assert wait_until(
        lambda: Message.objects.filter(folder__account=plain_account, uid=uid, seen=True).exists(),
        30,
    )
    mailserver.expunge_externally("alice", "INBOX", [uid])
    assert wait_until(
        lambda: not Message.objects.filter(folder__account=plain_account, uid=uid).exists(), 30
    )
