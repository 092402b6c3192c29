"""Login, logout, required login everywhere, cookies, CSRF and the failed-login throttle."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from django.db import connections
from django.test import Client
from django.utils import timezone

from accounts import throttle
from accounts.models import LoginFailure, User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def login(client: Client, username: str, password: str, ip: str = "198.51.100.7") -> str:
    response = client.post(
        "/login/", {"username": username, "password": password}, REMOTE_ADDR=ip, follow=True
    )
    return response.content.decode()


def test_it_redirects_the_root_to_login_when_logged_out(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.parametrize(
    "url", ["/mail/", "/settings/", "/settings/password/", "/manage/users/", "/events/"]
)
def test_it_requires_login_everywhere(client: Client, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_it_logs_in_and_out(client: Client, bob: User) -> None:
    response = client.post("/login/", {"username": "bob", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/mail/"
    page = client.get("/mail/")
    assert page.status_code == 200
    assert b"Add a mail account" in page.content
    client.post("/logout/")
    assert client.get("/mail/").status_code == 302


def test_it_refuses_a_wrong_password(client: Client, bob: User) -> None:
    html = login(client, "bob", "wrong")
    assert "Please enter a correct username and password" in html
    assert client.get("/mail/").status_code == 302


def test_it_sets_safe_cookies(client: Client, bob: User) -> None:
    response = client.post("/login/", {"username": "bob", "password": PASSWORD})
    cookie = response.cookies["sessionid"]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"


def test_it_enforces_csrf(bob: User) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post("/login/", {"username": "bob", "password": PASSWORD})
    assert response.status_code == 403


def test_it_sets_lang_and_dir_from_accept_language(client: Client) -> None:
    html = client.get("/login/", HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.8").content.decode()
    assert '<html lang="en" dir="ltr">' in html


def test_it_locks_a_username_at_one_address_after_five_failures(client: Client, bob: User) -> None:
    for _ in range(5):
        login(client, "bob", "wrong")
    html = login(client, "bob", PASSWORD)
    assert "Too many failed sign-in attempts" in html
    assert "Try again in 1 minute" in html
    assert client.get("/mail/").status_code == 302
    # The lock is for that username at that address only.
    assert "Too many failed" not in login(client, "bob", PASSWORD, ip="198.51.100.8")
    assert client.get("/mail/").status_code == 200


def test_the_backoff_doubles_with_each_further_failure(client: Client, bob: User) -> None:
    for _ in range(5):
        login(client, "bob", "wrong")
    LoginFailure.objects.update(created=timezone.now() - timedelta(minutes=2))
    assert "Too many failed" not in login(client, "bob", "wrong again")  # the 6th counts
    assert "Try again in 2 minutes" in login(client, "bob", PASSWORD)
    assert LoginFailure.objects.filter(username="bob").count() == 6  # refused tries not kept


def test_it_locks_an_address_after_twenty_failures(client: Client, bob: User) -> None:
    for n in range(20):
        login(client, f"nobody{n}", "wrong", ip="203.0.113.9")
    assert "Too many failed" in login(client, "bob", PASSWORD, ip="203.0.113.9")
    # Another address is not affected.
    assert "Too many failed" not in login(client, "bob", PASSWORD, ip="203.0.113.10")


def test_it_counts_an_ipv6_client_by_its_64(client: Client, bob: User) -> None:
    for n in range(5):
        login(client, "bob", "wrong", ip=f"2001:db8:1:2::{n + 1:x}")
    assert "Too many failed" in login(client, "bob", PASSWORD, ip="2001:db8:1:2:ffff::9")
    assert "Too many failed" not in login(client, "bob", PASSWORD, ip="2001:db8:1:3::1")


def test_it_unlocks_after_the_backoff(client: Client, bob: User) -> None:
    for _ in range(5):
        login(client, "bob", "wrong")
    LoginFailure.objects.update(created=timezone.now() - timedelta(minutes=2))
    login(client, "bob", PASSWORD)
    assert client.get("/mail/").status_code == 200


def test_it_does_not_count_four_failures_as_a_lock(client: Client, bob: User) -> None:
    for _ in range(4):
        login(client, "bob", "wrong")
    login(client, "bob", PASSWORD)
    assert client.get("/mail/").status_code == 200
    assert not LoginFailure.objects.filter(username="bob").exists()


def test_attackers_elsewhere_cannot_lock_the_owner_out(
    client: Client, bob: User, settings: Any
) -> None:
    """GIVEN 60 wrong passwords for bob from twelve addresses (enough to lock every one of them)
    WHEN bob signs in from his own address, which has not been failing
    THEN he gets in; the username is only slowed down (a short wait), never locked."""
    settings.LOGIN_MAX_DELAY_SECONDS = 0.05
    for n in range(60):
        login(Client(), "bob", "guess", ip=f"203.0.113.{n % 12 + 1}")
    assert throttle.slow_down_seconds("bob") > 0
    assert "Too many failed" in login(Client(), "bob", PASSWORD, ip="203.0.113.1")
    login(client, "bob", PASSWORD, ip="198.51.100.200")
    assert client.get("/mail/").status_code == 200


def test_it_slows_a_username_under_attack_but_not_a_quiet_one(bob: User) -> None:
    assert throttle.slow_down_seconds("bob") == 0
    for n in range(10):
        login(Client(), "bob", "guess", ip=f"192.0.2.{n + 1}")
    assert throttle.slow_down_seconds("bob") == 1
    login(Client(), "bob", "guess", ip="192.0.2.99")
    assert throttle.slow_down_seconds("bob") == 2
    assert throttle.slow_down_seconds("alice") == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_wrong_passwords_stay_within_the_limit(bob: User) -> None:
    """Twenty wrong passwords POSTed at once from one address: exactly five are checked."""
    barrier = threading.Barrier(20)

    def attempt(_n: int) -> str:
        barrier.wait()
        try:
            return login(Client(), "bob", "wrong")
        finally:
            connections.close_all()

    with ThreadPoolExecutor(20) as pool:
        pages = list(pool.map(attempt, range(20)))
    checked = [page for page in pages if "Please enter a correct username" in page]
    refused = [page for page in pages if "Too many failed" in page]
    assert len(checked) == 5
    assert len(refused) == 15
    assert LoginFailure.objects.filter(username="bob").count() == 5


def test_it_audits_every_sign_in(client: Client, bob: User, caplog: Any) -> None:
    with caplog.at_level(logging.INFO, logger="webmail.audit"):
        login(client, "bob", "wrong")
        login(client, "bob\nsign-in ok user='alice'", "wrong")
        login(client, "bob", PASSWORD)
    lines = [r.getMessage() for r in caplog.records if r.name == "webmail.audit"]
    assert lines[0] == "sign-in failed user='bob' address=198.51.100.7 path=/login/"
    assert "\n" not in lines[1]
    assert lines[2] == "sign-in ok user='bob' address=198.51.100.7 path=/login/"


def test_the_admin_login_is_our_login(client: Client, example_org: Any) -> None:
    """Django's own admin form would skip the throttle: /admin/login/ only redirects to ours,
    and POSTing a right password to it signs nobody in."""
    root = User.objects.create_superuser("root", "", PASSWORD, organisation=example_org)
    response = client.post("/admin/login/?next=/admin/", {"username": "root", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=%2Fadmin%2F"
    assert client.get("/admin/").status_code == 302  # still signed out
    for _ in range(5):
        login(client, "root", "wrong")
    assert "Too many failed" in login(client, "root", PASSWORD)
    assert client.get("/admin/").status_code == 302
    LoginFailure.objects.all().delete()
    response = client.post(
        "/login/",
        {"username": "root", "password": PASSWORD, "next": "/admin/"},
        REMOTE_ADDR="198.51.100.7",
    )
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert root.is_superuser


def test_a_member_who_is_not_staff_gets_no_admin_login(client: Client, bob: User) -> None:
    client.force_login(bob)
    assert client.get("/admin/login/?next=/admin/").status_code == 404
    assert client.get("/admin/").status_code == 302  # to /admin/login/, which is a 404 for bob


@pytest.mark.parametrize(
    ("header", "hops", "expected"),
    [
        ("", 1, "10.0.0.2"),  # no header: the socket's address
        ("198.51.100.7", 1, "198.51.100.7"),
        ("6.6.6.6, 198.51.100.7", 1, "198.51.100.7"),  # the client's own entry is not read
        ("6.6.6.6, 198.51.100.7, 10.0.0.9", 2, "198.51.100.7"),
        ("198.51.100.7", 2, "10.0.0.2"),  # fewer entries than proxies: trust only the socket
        ("not-an-address", 1, "10.0.0.2"),
        ("2001:db8::1", 1, "2001:db8::1"),
    ],
)
def test_client_ip_takes_the_entry_the_trusted_proxy_appended(
    rf: Any, settings: Any, header: str, hops: int, expected: str
) -> None:
    settings.WEBMAIL_TRUST_X_FORWARDED_FOR = True
    settings.WEBMAIL_TRUSTED_PROXY_HOPS = hops
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=header)
    assert throttle.client_ip(request) == expected


def test_client_ip_ignores_the_header_without_a_proxy(rf: Any) -> None:
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert throttle.client_ip(request) == "10.0.0.2"


def test_it_refuses_disabled_users(client: Client, bob: User) -> None:
    bob.is_active = False
    bob.save()
    assert "Please enter a correct username" in login(client, "bob", PASSWORD)


def test_it_changes_the_password(client: Client, bob: User) -> None:
    client.force_login(bob)
    new = "a much longer new passphrase"
    response = client.post(
        "/settings/password/",
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert response.status_code == 302
    bob.refresh_from_db()
    assert bob.check_password(new)


def test_it_remembers_the_chosen_language(client: Client, bob: User) -> None:
    client.force_login(bob)
    response = client.post(
        "/settings/",
        {
            "language": "en",
            "time_zone": "Asia/Tehran",
            "calendar": "gregorian",
            "date_format": "Y-m-d",
            "mark_read_after": 0,
            "remote_content": "block",
            "density": "comfortable",
            "theme": "system",
        },
    )
    assert response.status_code == 302
    bob.refresh_from_db()
    assert bob.language == "en"
    assert response.cookies["django_language"].value == "en"
