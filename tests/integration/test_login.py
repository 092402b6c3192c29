"""Login, logout, required login everywhere, cookies, CSRF and the failed-login throttle."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

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


def test_it_locks_a_username_after_five_failures(client: Client, bob: User) -> None:
    for _ in range(5):
        login(client, "bob", "wrong")
    html = login(client, "bob", PASSWORD)
    assert "Too many failed sign-in attempts" in html
    assert "Try again in 15 minutes" in html
    assert client.get("/mail/").status_code == 302


def test_it_locks_an_address_after_twenty_failures(client: Client, bob: User) -> None:
    for n in range(20):
        login(client, f"nobody{n}", "wrong", ip="203.0.113.9")
    assert "Too many failed" in login(client, "bob", PASSWORD, ip="203.0.113.9")
    # Another address is not affected.
    assert "Too many failed" not in login(client, "bob", PASSWORD, ip="203.0.113.10")


def test_it_unlocks_after_fifteen_minutes(client: Client, bob: User) -> None:
    for _ in range(5):
        login(client, "bob", "wrong")
    LoginFailure.objects.update(created=timezone.now() - timedelta(minutes=16))
    login(client, "bob", PASSWORD)
    assert client.get("/mail/").status_code == 200


def test_it_does_not_count_four_failures_as_a_lock(client: Client, bob: User) -> None:
    for _ in range(4):
        login(client, "bob", "wrong")
    login(client, "bob", PASSWORD)
    assert client.get("/mail/").status_code == 200
    assert not LoginFailure.objects.filter(username="bob").exists()


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
