"""Typed parsers for settings: each refuses a bad value and names the variable."""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
SUPPORTED_ENGINES = {"django.db.backends.postgresql", "django.db.backends.sqlite3"}


def env_bool(env: environ.Env, name: str, *, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def env_int(name: str, *, default: int, minimum: int = 0, maximum: int | None = None) -> int:
    """A whole number within [minimum, maximum]; anything else stops start-up naming NAME."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise ImproperlyConfigured(f"{name} must be {bound}, not {value}")
    return value


def env_list(env: environ.Env, name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def data_dir(env: environ.Env) -> Path:
    raw = os.environ.get("WEBMAIL_DATA_DIR", "")
    path = Path(raw) if raw else BASE_DIR / "data"
    if not path.is_absolute():
        path = BASE_DIR / path
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImproperlyConfigured(f"WEBMAIL_DATA_DIR {path} cannot be created: {exc}") from exc
    return path


def new_secret_key() -> str:
    return secrets.token_urlsafe(50)


def new_encryption_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def secret(env: environ.Env, name: str, folder: Path, generate: Callable[[], str]) -> str:
    """NAME, else the file named by NAME_FILE, else (embedded default only) a generated file.

    With DATABASE_URL set we refuse to generate: containers sharing a database must share
    the keys, and a key written by one container would not reach the others.
    """
    value = os.environ.get(name, "").strip()
    if value:
        return value
    file_name = os.environ.get(f"{name}_FILE", "").strip()
    if file_name:
        try:
            value = Path(file_name).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_name} cannot be read: {exc}") from exc
        if not value:
            raise ImproperlyConfigured(f"{name}_FILE={file_name} is empty")
        return value
    if os.environ.get("DATABASE_URL"):
        raise ImproperlyConfigured(f"{name} (or {name}_FILE) must be set when DATABASE_URL is set")
    path = folder / name.lower()
    if path.exists():
        return path.read_text().strip()
    value = generate()
    # O_EXCL: if another process generated it first, use theirs.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


def encryption_keys(env: environ.Env, folder: Path) -> list[str]:
    """WEBMAIL_ENCRYPTION_KEY: one Fernet key, or several comma-separated (newest first) to
    rotate: the first encrypts, all decrypt."""
    raw = secret(env, "WEBMAIL_ENCRYPTION_KEY", folder, new_encryption_key)
    keys = [key.strip() for key in raw.split(",") if key.strip()]
    for key in keys:
        try:
            decoded = base64.urlsafe_b64decode(key.encode())
        except (binascii.Error, ValueError) as exc:
            raise ImproperlyConfigured(
                "WEBMAIL_ENCRYPTION_KEY must be url-safe base64 of 32 bytes; make one with: "
                "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key())'"
            ) from exc
        if len(decoded) != 32:
            raise ImproperlyConfigured("WEBMAIL_ENCRYPTION_KEY must decode to exactly 32 bytes")
    if not keys:
        raise ImproperlyConfigured("WEBMAIL_ENCRYPTION_KEY is empty")
    return keys


def database(env: environ.Env, folder: Path) -> dict[str, Any]:
    url = os.environ.get("DATABASE_URL", "").strip()
    if url:
        try:
            config: dict[str, Any] = env.db_url_config(url)
        except Exception as exc:  # noqa: BLE001 - environ raises bare exceptions on bad URLs
            raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {exc}") from exc
        if config.get("ENGINE") not in SUPPORTED_ENGINES:
            raise ImproperlyConfigured(
                "DATABASE_URL must start with postgres:// (or sqlite:/// for a file)"
            )
        if config["ENGINE"] == "django.db.backends.sqlite3":
            config["OPTIONS"] = {**sqlite_options(), **config.get("OPTIONS", {})}
        else:
            config.setdefault("CONN_HEALTH_CHECKS", True)
        return config
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": folder / "webmail.sqlite3",
        "OPTIONS": sqlite_options(),
    }


def sqlite_options() -> dict[str, Any]:
    # WAL lets readers run beside the one writer; IMMEDIATE takes the write lock at BEGIN so
    # two processes never deadlock upgrading read locks; the timeout waits for the lock.
    return {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }


def broker_transport_options(folder: Path, *, embedded: bool) -> dict[str, Any]:
    if not embedded:
        # Longer than the task hard time limit, so a running task is not redelivered.
        return {"visibility_timeout": 2 * 3600}
    queue = folder / "broker" / "queue"
    control = folder / "broker" / "control"
    for path in (queue, control):
        path.mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(queue),
        "data_folder_out": str(queue),
        "control_folder": str(control),
        "store_processed": False,
        "polling_interval": 0.1,
    }
