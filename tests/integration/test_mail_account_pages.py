"""Account settings pages: add with a connection test, precise errors, ownership."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client, override_settings

from accounts.models import MailAccount, User
from tests.integration.sync_helpers import make_account
from tests.servers.mail import MailServer

pytestmark = [pytest.mark.django_db, pytest.mark.mailserver]


@pytest.fixture
def upstream(mailserver: MailServer) -> Iterator[MailServer]:
    with override_settings(ALLOWED_MAIL_HOSTS=["127.0.0.1"], CA_FILE=str(mailserver.ca_file)):
        yield mailserver


def form(mailserver: MailServer, **changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "email": "alice@example.test",
        "display_name": "Alice",
        "incoming_host": "127.0.0.1",
        "incoming_port": mailserver.imaps_port,
        "incoming_security": "tls",
        "incoming_username": "alice",
        "incoming_password": mailserver.users["alice"],
        "outgoing_host": "127.0.0.1",
        "outgoing_port": mailserver.submission_port,
        "outgoing_security": "starttls",
        "outgoing_same_login": "on",
        "save": "1",
    }
    data.update(changes)
    return data


def test_it_adds_an_account_after_testing_both_servers(
    client: Client, bob: User, upstream: MailServer
) -> None:
    client.force_login(bob)
    response = client.post("/settings/accounts/add/", form(upstream))
    assert response.status_code == 302, response.content.decode()[-2000:]
    account = MailAccount.objects.get(owner=bob)
    assert response["Location"] == f"/settings/accounts/{account.pk}/"
    assert account.incoming_secret and upstream.users["alice"] not in account.incoming_secret
    page = client.get(f"/settings/accounts/{account.pk}/").content.decode()
    assert upstream.users["alice"] not in page
    edit = client.get(f"/settings/accounts/{account.pk}/edit/").content.decode()
    assert upstream.users["alice"] not in edit


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"incoming_password": "wrong"}, "refused the login or password"),
        ({"incoming_port": 1}, "Cannot reach"),
        ({"outgoing_port": 1}, "SMTP server 127.0.0.1"),
        ({"incoming_port": "imaps"}, "Enter a whole number"),
    ],
)
def test_it_shows_precise_errors(
    client: Client, bob: User, upstream: MailServer, changes: dict[str, object], message: str
) -> None:
    client.force_login(bob)
    response = client.post("/settings/accounts/add/", form(upstream, **changes))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not MailAccount.objects.filter(owner=bob).exists()


def test_it_reports_the_certificate_problem(
    client: Client, bob: User, mailserver: MailServer
) -> None:
    client.force_login(bob)
    with override_settings(ALLOWED_MAIL_HOSTS=["127.0.0.1"], CA_FILE=None):
        response = client.post("/settings/accounts/add/", form(mailserver))
    assert "Secure connection to IMAP server 127.0.0.1 failed" in response.content.decode()
    assert "certificate" in response.content.decode()


def test_it_refuses_hosts_the_operator_did_not_allow(
    client: Client, bob: User, mailserver: MailServer
) -> None:
    client.force_login(bob)
    with override_settings(ALLOWED_MAIL_HOSTS=[], CA_FILE=str(mailserver.ca_file)):
        response = client.post("/settings/accounts/add/", form(mailserver))
    assert "is not allowed" in response.content.decode()


def test_org_policy_narrows_but_never_widens(
    client: Client, bob: User, upstream: MailServer
) -> None:
    org = bob.organisation
    org.allowed_mail_hosts = "imap.example.org"
    org.save()
    client.force_login(bob)
    response = client.post("/settings/accounts/add/", form(upstream))
    assert "is not allowed" in response.content.decode()


def test_accounts_are_private(
    client: Client, alice: User, carol: User, mailserver: MailServer
) -> None:
    account = make_account(alice, mailserver)
    client.force_login(carol)
    for url in (f"/settings/accounts/{account.pk}/", f"/settings/accounts/{account.pk}/edit/"):
        assert client.get(url).status_code == 404
    assert client.post(f"/settings/accounts/{account.pk}/remove/").status_code == 404
    assert client.post(f"/settings/accounts/{account.pk}/sync/").status_code == 404
    assert "alice@example.test" not in client.get("/settings/accounts/").content.decode()
    assert MailAccount.objects.filter(pk=account.pk).exists()


def test_removing_an_account(client: Client, alice: User, mailserver: MailServer) -> None:
    account = make_account(alice, mailserver)
    client.force_login(alice)
    client.post(f"/settings/accounts/{account.pk}/remove/", {"confirm": "on"})
    assert not MailAccount.objects.filter(pk=account.pk).exists()
