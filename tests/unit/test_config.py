"""Settings parsers refuse bad values and name the variable."""

from __future__ import annotations

import base64
from pathlib import Path

import environ
import pytest
from django.core.exceptions import ImproperlyConfigured

from webmail import config

env = environ.Env()


def test_it_parses_booleans(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_FLAG", "yes")
    assert config.env_bool(env, "X_FLAG", default=False) is True
    monkeypatch.setenv("X_FLAG", "0")
    assert config.env_bool(env, "X_FLAG", default=True) is False
    monkeypatch.delenv("X_FLAG")
    assert config.env_bool(env, "X_FLAG", default=True) is True


def test_it_refuses_a_bad_boolean_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG"):
        config.env_bool(env, "X_FLAG", default=False)


def test_it_splits_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_LIST", " a.example , ,10.0.0.0/8,")
    assert config.env_list(env, "X_LIST") == ["a.example", "10.0.0.0/8"]


def test_it_generates_a_secret_once_in_the_embedded_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("X_SECRET", "X_SECRET_FILE", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    first = config.secret(env, "X_SECRET", tmp_path, config.new_secret_key)
    second = config.secret(env, "X_SECRET", tmp_path, config.new_secret_key)
    assert first == second
    assert (tmp_path / "x_secret").stat().st_mode & 0o777 == 0o600


def test_it_reads_a_secret_from_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "key").write_text("from-file\n")
    monkeypatch.delenv("X_SECRET", raising=False)
    monkeypatch.setenv("X_SECRET_FILE", str(tmp_path / "key"))
    assert config.secret(env, "X_SECRET", tmp_path, config.new_secret_key) == "from-file"


def test_it_fails_on_a_missing_secret_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("X_SECRET", raising=False)
    monkeypatch.setenv("X_SECRET_FILE", str(tmp_path / "nope"))
    with pytest.raises(ImproperlyConfigured, match="X_SECRET_FILE"):
        config.secret(env, "X_SECRET", tmp_path, config.new_secret_key)


def test_it_refuses_to_generate_keys_beside_an_external_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("X_SECRET", raising=False)
    monkeypatch.delenv("X_SECRET_FILE", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgres://db/webmail")
    with pytest.raises(ImproperlyConfigured, match="X_SECRET"):
        config.secret(env, "X_SECRET", tmp_path, config.new_secret_key)
    assert not (tmp_path / "x_secret").exists()


def test_it_validates_encryption_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = base64.urlsafe_b64encode(b"k" * 32).decode()
    old = base64.urlsafe_b64encode(b"o" * 32).decode()
    monkeypatch.setenv("WEBMAIL_ENCRYPTION_KEY", f"{good},{old}")
    assert config.encryption_keys(env, tmp_path) == [good, old]
    monkeypatch.setenv("WEBMAIL_ENCRYPTION_KEY", "too-short")
    with pytest.raises(ImproperlyConfigured, match="WEBMAIL_ENCRYPTION_KEY"):
        config.encryption_keys(env, tmp_path)


def test_it_configures_sqlite_for_several_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    db = config.database(env, tmp_path)
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in db["OPTIONS"]["init_command"]
    assert db["OPTIONS"]["timeout"] >= 5


def test_it_reads_database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db.example:5433/mail")
    db = config.database(env, tmp_path)
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["HOST"], db["PORT"], db["NAME"], db["USER"]) == ("db.example", 5433, "mail", "u")


def test_it_refuses_an_unknown_database_scheme(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "nosuchdb://x/y")
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
        config.database(env, tmp_path)
