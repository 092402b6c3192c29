"""Org admins manage their own organisation's users and policy, and nobody else's."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import Organisation, User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "another long passphrase 42"


def test_it_lets_an_org_admin_create_a_user_who_can_log_in(client: Client, alice: User) -> None:
    client.force_login(alice)
    response = client.post(
        "/manage/users/",
        {"username": "dave", "email": "dave@example.test", "password": NEW_PASSWORD},
    )
    assert response.status_code == 302
    dave = User.objects.get(username="dave")
    assert dave.organisation == alice.organisation
    assert not dave.is_org_admin
    other = Client()
    other.post("/login/", {"username": "dave", "password": NEW_PASSWORD})
    assert other.get("/mail/").status_code == 200


def test_it_refuses_a_weak_password_and_a_taken_name(
    client: Client, alice: User, bob: User
) -> None:
    client.force_login(alice)
    weak = client.post("/manage/users/", {"username": "eve", "password": "123"})
    assert weak.status_code == 200
    assert b"too short" in weak.content
    taken = client.post("/manage/users/", {"username": "BOB", "password": NEW_PASSWORD})
    assert b"already exists" in taken.content
    assert not User.objects.filter(username__in=["eve", "BOB"]).exists()


def test_it_hides_management_from_members(client: Client, bob: User) -> None:
    client.force_login(bob)
    assert client.get("/manage/users/").status_code == 404
    assert client.get("/manage/policy/").status_code == 404


def test_it_keeps_other_organisations_out(client: Client, alice: User, carol: User) -> None:
    client.force_login(carol)
    assert client.get(f"/manage/users/{alice.pk}/").status_code == 404
    assert client.post(f"/manage/users/{alice.pk}/disable/").status_code == 404
    assert client.post(f"/manage/users/{alice.pk}/delete/").status_code == 404
    listing = client.get("/manage/users/").content.decode()
    assert "alice" not in listing
    alice.refresh_from_db()
    assert alice.is_active


def test_it_disables_and_enables_a_user_ending_their_sessions(
    client: Client, alice: User, bob: User
) -> None:
    bobs = Client()
    bobs.force_login(bob)
    client.force_login(alice)
    client.post(f"/manage/users/{bob.pk}/disable/")
    bob.refresh_from_db()
    assert not bob.is_active
    assert bobs.get("/mail/").status_code == 302
    client.post(f"/manage/users/{bob.pk}/enable/")
    bob.refresh_from_db()
    assert bob.is_active


def test_it_resets_a_password(client: Client, alice: User, bob: User) -> None:
    client.force_login(alice)
    client.post(
        f"/manage/users/{bob.pk}/",
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    bob.refresh_from_db()
    assert bob.check_password(NEW_PASSWORD)
    assert not bob.check_password(PASSWORD)


def test_it_deletes_a_user(client: Client, alice: User, bob: User) -> None:
    client.force_login(alice)
    response = client.post(f"/manage/users/{bob.pk}/delete/", {"confirm": "on"})
    assert response.status_code == 302
    assert not User.objects.filter(pk=bob.pk).exists()


def test_it_refuses_to_let_an_admin_remove_themselves(client: Client, alice: User) -> None:
    client.force_login(alice)
    client.post(f"/manage/users/{alice.pk}/delete/")
    client.post(f"/manage/users/{alice.pk}/disable/")
    alice.refresh_from_db()
    assert alice.is_active


def test_it_promotes_and_demotes(client: Client, alice: User, bob: User) -> None:
    client.force_login(alice)
    client.post(f"/manage/users/{bob.pk}/make-admin/")
    bob.refresh_from_db()
    assert bob.is_org_admin
    client.post(f"/manage/users/{bob.pk}/remove-admin/")
    bob.refresh_from_db()
    assert not bob.is_org_admin


def test_it_saves_org_policy_and_refuses_bad_rules(
    client: Client, alice: User, other_org: Organisation
) -> None:
    client.force_login(alice)
    bad = client.post(
        "/manage/policy/", {"max_attachment_mb": 10, "allowed_mail_hosts": "not a host"}
    )
    assert b"is not a host name" in bad.content or b"not a valid host name" in bad.content
    client.post(
        "/manage/policy/",
        {"max_attachment_mb": 10, "allowed_mail_hosts": "imap.example.org\n10.0.0.0/8"},
    )
    org = Organisation.objects.get(pk=alice.organisation_id)
    assert org.max_attachment_mb == 10
    assert org.allowed_mail_host_list() == ["imap.example.org", "10.0.0.0/8"]
    other_org.refresh_from_db()
    assert other_org.allowed_mail_hosts == ""
