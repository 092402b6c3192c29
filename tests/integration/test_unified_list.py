"""Unified views over several accounts: each folder's newest rows merged (Postgres) or one
query (SQLite) must give exactly the rows, order, totals and pages of the whole view sorted
at once, on every page, and never another user's mail. Totals and the sidebar counts come
from the per-folder counts the sync keeps (flagged included). The folder list serves its
rows without a join, each holding the folder it was asked for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.models import Count, Q
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from accounts.models import MailAccount, User
from tests.integration.sync_helpers import make_account, make_message
from tests.servers.mail import MailServer
from webmail import queries
from webmail.models import Folder, Message
from webmail.sync.account import sync_account

pytestmark = pytest.mark.django_db

BASE = datetime(2026, 1, 1, tzinfo=UTC)


def _account(user: User, n: int) -> MailAccount:
    return MailAccount.objects.create(
        owner=user,
        email=f"{user.username}{n}@example.test",
        incoming_host="imap.example.test",
        incoming_port=993,
        incoming_security="tls",
        incoming_username=f"{user.username}{n}",
        incoming_secret="x",
        outgoing_host="smtp.example.test",
        outgoing_port=465,
        outgoing_security="tls",
    )


def _fill(folder: Folder, count: int, step: int, offset: int) -> None:
    """`count` messages every `step` minutes; every third one read, every fifth flagged.
    Several folders share timestamps, so the order's tie-break (newest id first) counts."""
    Message.objects.bulk_create(
        Message(
            folder=folder,
            uid=i + 1,
            internaldate=BASE + timedelta(minutes=offset + (i * step) // 2),
            subject=f"{folder.name} {i}",
            seen=i % 3 == 0,
            flagged=i % 5 == 0,
        )
        for i in range(count)
    )
    # What the sync stores at the end of each folder's sync.
    counts = folder.messages.aggregate(
        total=Count("pk"),
        unseen=Count("pk", filter=Q(seen=False)),
        flagged=Count("pk", filter=Q(flagged=True)),
    )
    Folder.objects.filter(pk=folder.pk).update(**counts)


@pytest.fixture
def mailboxes(alice: User, bob: User) -> User:
    sizes = {"inbox": (70, 1, 0), "archive": (40, 3, 5), "trash": (20, 2, 1)}
    for n in range(3):
        account = _account(alice, n)
        for use, (count, step, offset) in sizes.items():
            name = "INBOX" if use == "inbox" else use.title()
            folder = Folder.objects.create(
                account=account, name=name, raw_name=name, special_use=use
            )
            _fill(folder, count + 7 * n, step, offset + n)
    other = Folder.objects.create(
        account=_account(bob, 0), name="INBOX", raw_name="INBOX", special_use="inbox"
    )
    _fill(other, 60, 1, 0)
    return alice


def _expected(user: User, kind: str, sort: str) -> list[int]:
    rows = Message.objects.filter(folder__account__owner=user)
    if kind == "inbox":
        rows = rows.filter(folder__special_use="inbox")
    elif kind == "unread":
        rows = rows.filter(seen=False).exclude(folder__special_use__in=queries.NOT_UNREAD_VIEWS)
    else:
        rows = rows.filter(flagged=True)
    keyed = sorted(rows.values_list("internaldate", "pk"), reverse=sort == "date")
    return [pk for _date, pk in keyed]


@pytest.mark.parametrize("kind", queries.UNIFIED)
@pytest.mark.parametrize("sort", ["date", "-date"])
def test_unified_pages_equal_the_whole_view_sorted(mailboxes: User, kind: str, sort: str) -> None:
    expected = _expected(mailboxes, kind, sort)
    assert len(expected) > queries.PAGE_SIZE  # at least two pages, or paging proves nothing
    pages = -(-len(expected) // queries.PAGE_SIZE)
    seen: list[int] = []
    for number in range(1, pages + 1):
        page = queries.list_unified(mailboxes, kind, page=number, sort=sort, conversations=False)
        assert (page.page, page.pages, page.total) == (number, pages, len(expected))
        seen += [row.pk for row in page.rows]
        assert all(row.folder.account.owner_id == mailboxes.pk for row in page.rows)
    assert seen == expected
    beyond = queries.list_unified(mailboxes, kind, page=pages + 5, sort=sort, conversations=False)
    assert beyond.page == pages and [r.pk for r in beyond.rows] == expected[-len(beyond.rows) :]


def test_other_sorts_and_empty_views(mailboxes: User, bob: User) -> None:
    page = queries.list_unified(mailboxes, "inbox", page=1, sort="subject", conversations=False)
    subjects = [row.subject for row in page.rows]
    assert subjects == sorted(subjects) and len(subjects) == queries.PAGE_SIZE
    Message.objects.filter(folder__account__owner=bob).delete()
    Folder.objects.filter(account__owner=bob).update(total=0, unseen=0, flagged=0)
    empty = queries.list_unified(bob, "flagged", page=3, sort="date", conversations=False)
    assert (empty.rows, empty.page, empty.pages, empty.total) == ([], 1, 1, 0)


def test_folder_rows_come_without_a_join(mailboxes: User) -> None:
    folder = queries.get_folder_for_user(
        mailboxes, Folder.objects.filter(account__owner=mailboxes, special_use="inbox")[0].pk
    )
    with CaptureQueriesContext(connection) as ctx:
        page = queries.list_folder(folder, page=2, sort="date", conversations=False)
        emails = {row.folder.account.email for row in page.rows}
    assert len(ctx.captured_queries) == 1 and "JOIN" not in ctx.captured_queries[0]["sql"]
    assert emails == {folder.account.email}
    expected = list(folder.messages.order_by("-internaldate", "-pk").values_list("pk", flat=True))
    assert [row.pk for row in page.rows] == expected[queries.PAGE_SIZE : 2 * queries.PAGE_SIZE]


def test_sidebar_counts_add_up_the_folder_counts(mailboxes: User) -> None:
    counts = queries.unified_counts(mailboxes)
    unread_inbox = Message.objects.filter(
        folder__account__owner=mailboxes, folder__special_use="inbox", seen=False
    )
    assert counts == {
        "inbox": unread_inbox.count(),  # the badge: unread mail in the inboxes
        "unread": len(_expected(mailboxes, "unread", "date")),
        "flagged": len(_expected(mailboxes, "flagged", "date")),
    }
    assert counts["flagged"] > 0


@pytest.mark.mailserver
def test_the_sync_keeps_the_flagged_count(alice: User, mailserver: MailServer) -> None:
    mailserver.clear("alice")
    with override_settings(ALLOWED_MAIL_HOSTS=["127.0.0.1"], CA_FILE=str(mailserver.ca_file)):
        account = make_account(alice, mailserver)
        uids = [
            mailserver.append("alice", "INBOX", make_message(f"m{i}"), flags=flags)
            for i, flags in enumerate([["\\Flagged"], ["\\Flagged", "\\Seen"], []])
        ]
        sync_account(account.pk)
        inbox = account.folders.get(special_use="inbox")
        assert (inbox.total, inbox.unseen, inbox.flagged) == (3, 2, 2)
        mailserver.flag("alice", "INBOX", uids[0], "\\Flagged", add=False)
        mailserver.flag("alice", "INBOX", uids[2], "\\Flagged")
        mailserver.flag("alice", "INBOX", uids[1], "\\Flagged", add=False)
        sync_account(account.pk)
        inbox.refresh_from_db()
        assert (inbox.total, inbox.unseen, inbox.flagged) == (3, 2, 1)
    assert queries.unified_counts(alice)["flagged"] == 1
