"""adduser and the first-start bootstrap, through the real manage.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from accounts.models import Organisation, User
from tests.servers.live import app_environment

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=True)


def manage(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        env={**app_environment(), **(env or {})},
        timeout=120,
    )


def test_it_adds_a_user_from_stdin_without_the_newline() -> None:
    result = manage(
        "adduser",
        "dave",
        "--email",
        "d@example.test",
        "--password-stdin",
        stdin="a long enough password \n",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "user dave created"
    dave = User.objects.get(username="dave")
    assert dave.check_password("a long enough password ")
    assert dave.email == "d@example.test"
    assert dave.organisation.name == "Default"


def test_it_adds_an_admin_to_a_named_organisation() -> None:
    result = manage(
        "adduser",
        "erin",
        "--admin",
        "--org",
        "Acme",
        "--password-stdin",
        stdin="another long password\n",
    )
    assert result.returncode == 0, result.stderr
    erin = User.objects.get(username="erin")
    assert erin.is_org_admin
    assert erin.organisation == Organisation.objects.get(name="Acme")


def test_it_refuses_an_existing_user_and_a_weak_password() -> None:
    assert (
        manage("adduser", "frank", "--password-stdin", stdin="a long enough password\n").returncode
        == 0
    )
    again = manage("adduser", "frank", "--password-stdin", stdin="a long enough password\n")
    assert again.returncode == 1
    assert "already exists" in again.stderr
    weak = manage("adduser", "grace", "--password-stdin", stdin="123\n")
    assert weak.returncode == 1
    assert "password refused" in weak.stderr
    assert not User.objects.filter(username="grace").exists()


def test_it_asks_for_an_org_when_there_are_several() -> None:
    Organisation.objects.create(name="One")
    Organisation.objects.create(name="Two")
    result = manage("adduser", "heidi", "--password-stdin", stdin="a long enough password\n")
    assert result.returncode == 1
    assert "--org" in result.stderr


def test_it_bootstraps_the_first_admin_once() -> None:
    first = manage("webmail_bootstrap", env={"HOST": "127.0.0.1", "PORT": "8123"})
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert len(lines) == 1
    words = lines[0].split(" ")
    assert words[:3] == ["admin", "login:", "admin"]
    password = words[3]
    assert words[4:] == ["at", "http://127.0.0.1:8123/"]
    admin = User.objects.get(username="admin")
    assert admin.check_password(password)
    assert admin.is_org_admin and admin.is_superuser
    second = manage("webmail_bootstrap")
    assert second.stdout == ""
    assert User.objects.count() == 1


def test_it_bootstraps_with_the_given_name_and_password() -> None:
    result = manage(
        "webmail_bootstrap",
        env={
            "WEBMAIL_ADMIN_USERNAME": "root",
            "WEBMAIL_ADMIN_PASSWORD": "s3cret-from-env",
            "HOST": "localhost",
            "PORT": "9000",
        },
    )
    assert (
        result.stdout
        == "admin login: root (from WEBMAIL_ADMIN_PASSWORD) at http://localhost:9000/\n"
    )
    assert User.objects.get(username="root").check_password("s3cret-from-env")
    assert os.environ.get("WEBMAIL_ADMIN_PASSWORD") is None
