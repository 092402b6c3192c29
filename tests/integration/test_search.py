"""Searching the cache: real Message rows in the test database (Postgres in the main leg;
tests/embedded/test_search_embedded.py runs these on SQLite), through queries and pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from itertools import count
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.http import Http404
from django.test import Client, override_settings

from accounts.credentials import encrypt_secret
from accounts.models import MailAccount, User
from tests.integration.sync_helpers import make_account, make_message
from tests.servers.mail import MailServer
from webmail import queries
from webmail.models import Folder, Message
from webmail.search import parse_query
from webmail.sync.account import sync_account

pytestmark = pytest.mark.django_db
_uids = count(1)
DAY = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def account(user: User, email: str) -> MailAccount:
    """An account row only: these tests never talk to its server."""
    return MailAccount.objects.create(
        owner=user,
        email=email,
        incoming_host="mail.example.test",
        incoming_port=993,
        incoming_security="tls",
        incoming_username=email,
        incoming_secret=encrypt_secret("unused"),
        outgoing_host="mail.example.test",
        outgoing_port=465,
        outgoing_security="tls",
    )


def folder(owner: MailAccount, name: str, special_use: str = "") -> Folder:
    return Folder.objects.create(
        account=owner, name=name, raw_name=name, special_use=special_use, uidvalidity=1
    )


def mail(box: Folder, subject: str, **fields: object) -> Message:
    values: dict[str, object] = {
        "from_name": "Nobody",
        "from_email": "nobody@example.test",
        "to": [["Alice", "alice@example.test"]],
        "internaldate": DAY,
        "seen": True,
    }
    values.update(fields)
    return Message.objects.create(folder=box, uid=next(_uids), subject=subject, **values)


@pytest.fixture
def boxes(alice: User, carol: User) -> dict[str, Folder]:
    """alice: two accounts (inbox + archive, and a second inbox); carol: the same mail."""
    work = account(alice, "alice@example.test")
    home = account(alice, "alice@home.test")
    theirs = account(carol, "carol@other.test")
    made = {
        "inbox": folder(work, "INBOX", "inbox"),
        "archive": folder(work, "Archive", "archive"),
        "home": folder(home, "INBOX", "inbox"),
        "carol": folder(theirs, "INBOX", "inbox"),
    }
    return made


def search(user: User, text: str, within: Folder | str | None) -> list[str]:
    page = queries.search_messages(
        user, parse_query(text), within=within, page=1, sort="date", zone=UTC
    )
    return [m.subject for m in page.rows]


def test_every_word_must_match_somewhere(alice: User, boxes: dict[str, Folder]) -> None:
    inbox = boxes["inbox"]
    mail(
        inbox,
        "Quarterly report",
        from_name="Zoë Sender",
        from_email="zoe@example.test",
        to=[["Bob Builder", "bob@builders.test"]],
        cc=[["Carl Copy", "carl@copy.test"]],
        preview="the numbers are inside",
    )
    mail(inbox, "Lunch", preview="quarterly lunch with the team")
    assert sorted(search(alice, "quarterly", inbox)) == ["Lunch", "Quarterly report"]
    for word in ("zoe@example", "builder", "bob@builders", "carl", "NUMBERS"):
        assert search(alice, f"quarterly {word}", inbox) == ["Quarterly report"], word
    assert search(alice, "quarterly nowhere", inbox) == []


def test_operators(alice: User, boxes: dict[str, Folder]) -> None:
    inbox = boxes["inbox"]
    mail(inbox, "from bob", from_name="Bob", from_email="bob@example.test", seen=False)
    mail(inbox, "to bob", to=[["Bob", "bob@example.test"]], flagged=True)
    mail(inbox, "cc bob", to=[], cc=[["", "bob@example.test"]], has_attachments=True)
    mail(inbox, "about bob", preview="bob said hi")
    assert search(alice, "from:bob", inbox) == ["from bob"]
    assert sorted(search(alice, "to:bob", inbox)) == ["cc bob", "to bob"]
    assert search(alice, "cc:bob", inbox) == ["cc bob"]
    assert search(alice, "subject:about", inbox) == ["about bob"]
    assert search(alice, "is:unread", inbox) == ["from bob"]
    assert sorted(search(alice, "is:read bob", inbox)) == ["about bob", "cc bob", "to bob"]
    assert search(alice, "is:flagged", inbox) == ["to bob"]
    assert search(alice, "has:attachment", inbox) == ["cc bob"]
    assert sorted(search(alice, "bob", inbox)) == ["about bob", "cc bob", "from bob", "to bob"]


def test_a_quoted_phrase_matches_only_in_order(alice: User, boxes: dict[str, Folder]) -> None:
    inbox = boxes["inbox"]
    mail(inbox, "the annual report is out")
    mail(inbox, "report of the annual meeting")
    assert search(alice, '"annual report"', inbox) == ["the annual report is out"]
    assert len(search(alice, "annual report", inbox)) == 2


def test_dates_are_days_in_the_users_zone(alice: User, boxes: dict[str, Folder]) -> None:
    inbox = boxes["inbox"]
    # 2026-03-09 23:30 UTC is already 2026-03-10 in Tehran (+03:30).
    mail(inbox, "late", internaldate=datetime(2026, 3, 9, 23, 30, tzinfo=UTC))
    mail(inbox, "early", internaldate=datetime(2026, 3, 1, 8, 0, tzinfo=UTC))
    tehran = ZoneInfo("Asia/Tehran")

    def found(text: str, zone: tzinfo = UTC) -> list[str]:
        page = queries.search_messages(
            alice, parse_query(text), within=inbox, page=1, sort="date", zone=zone
        )
        return [m.subject for m in page.rows]

    assert found("after:2026-03-05") == ["late"]
    assert found("before:2026-03-05") == ["early"]
    assert found("after:2026-03-10") == []
    assert found("after:2026-03-10", tehran) == ["late"]
    assert found("after:2026-03-01 before:2026-03-02") == ["early"]
    assert found("after:۱۴۰۴/۱۲/۱۹", tehran) == ["late"]  # Solar Hijri 1404-12-19 = 2026-03-10


def test_unicode_case_and_persian_spellings(alice: User, boxes: dict[str, Folder]) -> None:
    inbox = boxes["inbox"]
    mail(inbox, "Отчёт за март", from_name="Zoë Sender", to=[["Ärger Öl", "arger@x.test"]])
    mail(inbox, "گزارش ماهانه", from_name="علی رضایی", preview="کتاب‌ها رسید")
    mail(inbox, "plain ascii", from_name="Zoe Sender")
    assert search(alice, "отчёт", inbox) == ["Отчёт за март"]
    assert search(alice, "ОТЧЁТ", inbox) == ["Отчёт за март"]
    assert search(alice, "ZOË", inbox) == ["Отчёт за март"]
    assert search(alice, "from:zoë", inbox) == ["Отчёт за март"]
    assert search(alice, "to:ärger", inbox) == ["Отчёт за март"]
    assert search(alice, "to:ÄRGER", inbox) == ["Отчёт за март"]
    assert search(alice, "گزارش", inbox) == ["گزارش ماهانه"]
    # Typed with the Arabic yeh and kaf, stored with the Persian ones.
    assert search(alice, "from:علي", inbox) == ["گزارش ماهانه"]
    assert search(alice, "كتاب", inbox) == ["گزارش ماهانه"]


def test_persian_names_in_recipient_lists(alice: User, boxes: dict[str, Folder]) -> None:
    inbox = boxes["inbox"]
    mail(inbox, "to sara", to=[["سارا احمدی", "sara@example.test"]], cc=[["Δήμητρα", "d@x.test"]])
    assert search(alice, "to:احمدی", inbox) == ["to sara"]
    assert search(alice, "سارا", inbox) == ["to sara"]
    assert search(alice, "cc:δήμητρα", inbox) == ["to sara"]


def test_like_wildcards_in_a_term_are_literal(alice: User, boxes: dict[str, Folder]) -> None:
    inbox = boxes["inbox"]
    mail(inbox, "100% off")
    mail(inbox, "1000 offers")
    mail(inbox, "a_b")
    mail(inbox, "axb")
    assert search(alice, "100%", inbox) == ["100% off"]
    assert search(alice, "a_b", inbox) == ["a_b"]


def test_scopes_and_ownership(alice: User, carol: User, boxes: dict[str, Folder]) -> None:
    mail(boxes["inbox"], "invoice work inbox")
    mail(boxes["archive"], "invoice work archive", seen=False)
    mail(boxes["home"], "invoice home inbox", internaldate=DAY + timedelta(hours=1))
    mail(boxes["carol"], "invoice carol", internaldate=DAY + timedelta(hours=2), seen=False)
    assert search(alice, "invoice", boxes["inbox"]) == ["invoice work inbox"]
    assert search(alice, "invoice", "inbox") == ["invoice home inbox", "invoice work inbox"]
    assert search(alice, "invoice", "unread") == ["invoice work archive"]
    assert sorted(search(alice, "invoice", None)) == [
        "invoice home inbox",
        "invoice work archive",
        "invoice work inbox",
    ]
    assert search(carol, "invoice", None) == ["invoice carol"]
    assert search(carol, "invoice", "inbox") == ["invoice carol"]
    with pytest.raises(Http404):
        search(carol, "invoice", boxes["inbox"])


def test_search_pages_keep_paging_and_sort(alice: User, boxes: dict[str, Folder]) -> None:
    inbox = boxes["inbox"]
    for i in range(queries.PAGE_SIZE + 3):
        mail(inbox, f"news {i:02d}", internaldate=DAY + timedelta(minutes=i), size=i)
    mail(inbox, "other")
    page = queries.search_messages(
        alice, parse_query("news"), within=inbox, page=2, sort="size", zone=UTC
    )
    assert (page.page, page.pages, page.total) == (2, 2, queries.PAGE_SIZE + 3)
    assert [m.subject for m in page.rows] == ["news 02", "news 01", "news 00"]


def test_the_search_page(
    client: Client, alice: User, carol: User, boxes: dict[str, Folder]
) -> None:
    inbox, archive = boxes["inbox"], boxes["archive"]
    mail(inbox, "budget draft")
    mail(inbox, "holiday photos")
    mail(archive, "budget final")
    mail(boxes["carol"], "budget of carol")
    client.force_login(alice)
    page = client.get(f"/mail/folder/{inbox.pk}/", {"q": "budget"}).content.decode()
    assert "budget draft" in page and "budget final" not in page and "holiday" not in page
    assert "1 result for “budget”" in page
    assert f'href="/mail/folder/{inbox.pk}/" id="search-clear"' in page
    assert f'data-view-url="/mail/folder/{inbox.pk}/?q=budget"' in page
    assert 'value="budget"' in page
    # Every folder of every account: alice's, never carol's.
    page = client.get(f"/mail/folder/{inbox.pk}/", {"q": "budget", "scope": "all"}).content.decode()
    assert "budget draft" in page and "budget final" in page and "of carol" not in page
    assert "2 results for “budget”" in page
    assert 'data-folders=""' in page  # any folder's change refreshes the results
    # The live refresh returns the same results.
    partial = client.get(
        f"/mail/folder/{inbox.pk}/", {"q": "budget", "scope": "all", "partial": "list"}
    ).content.decode()
    assert "budget final" in partial and "holiday" not in partial and "<html" not in partial
    # Unified views search within themselves.
    page = client.get("/mail/all/inbox/", {"q": "budget"}).content.decode()
    assert "budget draft" in page and "budget final" not in page
    # What it cannot read is said, not silently dropped.
    page = client.get(f"/mail/folder/{inbox.pk}/", {"q": "budget is:urgent"}).content.decode()
    assert 'id="search-ignored"' in page and "is:urgent" in page
    page = client.get(f"/mail/folder/{inbox.pk}/", {"q": "nothing-like-this"}).content.decode()
    assert "No messages match this search." in page
    # Without a query the folder lists as before.
    page = client.get(f"/mail/folder/{inbox.pk}/", {"q": "  "}).content.decode()
    assert "holiday photos" in page and "search-summary" not in page
    # Another user's folder stays a 404, query or not.
    client.force_login(carol)
    assert client.get(f"/mail/folder/{inbox.pk}/", {"q": "budget"}).status_code == 404


def test_the_pager_keeps_the_search(client: Client, alice: User, boxes: dict[str, Folder]) -> None:
    inbox = boxes["inbox"]
    for i in range(queries.PAGE_SIZE + 1):
        mail(inbox, f"report {i}", internaldate=DAY + timedelta(minutes=i))
    client.force_login(alice)
    page = client.get(
        f"/mail/folder/{inbox.pk}/", {"q": "report", "partial": "list"}
    ).content.decode()
    assert "?q=report&amp;page=2&amp;sort=date" in page
    assert "partial=" not in page.split('rel="next"')[0].rsplit("<a", 1)[-1]


def test_the_search_page_in_persian(client: Client, alice: User, boxes: dict[str, Folder]) -> None:
    mail(boxes["inbox"], "گزارش")
    mail(boxes["inbox"], "گزارش دوم")
    client.force_login(alice)
    page = client.get(
        f"/mail/folder/{boxes['inbox'].pk}/", {"q": "گزارش"}, HTTP_ACCEPT_LANGUAGE="fa"
    ).content.decode()
    assert "۲ نتیجه برای «گزارش»" in page


@pytest.mark.mailserver
@pytest.mark.usefixtures("eager")  # the worker's task runs in the request
def test_searching_the_message_text_on_the_server(
    client: Client,
    alice: User,
    carol: User,
    mailserver: MailServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """Words past the cached preview are found by the server's SEARCH TEXT, through the
    worker task and its event; the other terms still filter on the cache."""
    mailserver.clear("alice")
    filler = "filler " * 200
    mailserver.append("alice", "INBOX", make_message("deep one", body=f"{filler} a Zebra"))
    mailserver.append(
        "alice", "INBOX", make_message("deep two", sender="bob@example.test", body="zebra")
    )
    mailserver.append("alice", "INBOX", make_message("shallow", body="no stripes"))
    with override_settings(ALLOWED_MAIL_HOSTS=["127.0.0.1"], CA_FILE=str(mailserver.ca_file)):
        synced = make_account(alice, mailserver)
        sync_account(synced.pk)
        inbox = synced.folders.get(special_use="inbox")
        client.force_login(alice)
        page = client.get(f"/mail/folder/{inbox.pk}/", {"q": "zebra"}).content.decode()
        assert "deep one" not in page  # the cache holds no body to find it in
        assert 'id="server-search"' in page
        form = {"q": "zebra from:zoe", "within": f"folder:{inbox.pk}"}
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post("/mail/search/server/", form)
    assert response.status_code == 302
    url = response["Location"]
    assert url.startswith(f"/mail/folder/{inbox.pk}/?q=") and "server=" in url
    page = client.get(url).content.decode()
    # "zebra" went to the server; from:zoe then left "deep two" (from bob) out.
    assert "1 result for" in page, page
    assert "deep one" in page and "deep two" not in page and "shallow" not in page
    assert 'id="server-search-state"' in page
    assert f'data-view-url="{url.replace("&", "&amp;")}"' in page  # the refresh keeps it
    # The token is alice's: for carol it has expired, and alice's folder stays a 404.
    account(carol, "carol@other.test")
    client.force_login(carol)
    page = client.get(f"/mail/all/inbox/?q=zebra&{url.split('&')[-1]}").content.decode()
    assert "deep one" not in page and "has expired" in page
    response = client.post("/mail/search/server/", form)
    assert response.status_code == 404


def test_a_server_search_still_running_waits(
    client: Client, alice: User, boxes: dict[str, Folder]
) -> None:
    mail(boxes["inbox"], "zebra in the subject")
    client.force_login(alice)
    response = client.post("/mail/search/server/", {"q": "zebra", "within": "unified:inbox"})
    url = response["Location"]
    assert url.startswith("/mail/all/inbox/?q=zebra&server=")
    page = client.get(url).content.decode()
    assert 'data-search-pending="1"' in page and "Waiting for the mail server" in page
    assert "zebra in the subject" not in page  # not the cache's answer while waiting
    assert '<meta http-equiv="refresh"' in page  # without JavaScript, the page reloads
