"""live_app: the real ASGI server, Celery worker and push process as subprocesses on the
test database;
page: Playwright driving Debian's Chromium against it.

Django's live server is WSGI and cannot stream Server-Sent Events, hence real processes.
Tests that use live_app must use `transactional_db` so their rows are committed and visible.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.servers.services import free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"


def app_environment() -> dict[str, str]:
    """The environment a production process would get, pointed at the test database."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST_", "DJANGO_ALLOW_ASYNC"))
    }
    env["DJANGO_SETTINGS_MODULE"] = "webmail.settings"
    env["PYTHONUNBUFFERED"] = "1"
    # The mail rig listens on loopback, which production refuses unless the operator lists it.
    env["WEBMAIL_ALLOWED_MAIL_HOSTS"] = "127.0.0.1"
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.postgresql":
        user = db.get("USER") or "postgres"
        auth = f"{user}:{db['PASSWORD']}" if db.get("PASSWORD") else user
        env["DATABASE_URL"] = f"postgres://{auth}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    else:
        # Embedded leg: the test database is the data folder's own SQLite file.
        env.pop("DATABASE_URL", None)
    return env


@dataclass
class LiveApp:
    url: str
    folder: Path
    env: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = (self.folder / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[name] = proc
        return proc

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")

    def wait_for_log(self, name: str, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log(name):
                return
            if self.processes[name].poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"{name} did not say {text!r}:\n{self.log(name)[-4000:]}")

    def stop(self) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for name, proc in self.processes.items():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                print(f"{name} had to be killed", file=sys.stderr)


def _wait_http(url: str, proc: subprocess.Popen[bytes], app: LiveApp, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - our own loopback URL
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"web did not answer {url}:\n{app.log('web')[-4000:]}")


def start_web_and_worker(app: LiveApp, port: int) -> None:
    """uvicorn on ``port`` and one Celery worker, as `make run` starts them; returns once both
    answer (stops them if either does not)."""
    web = app.start(
        "web",
        [
            sys.executable,
            "-m",
            "uvicorn",
            "webmail.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--timeout-graceful-shutdown",
            "2",
        ],
    )
    app.start(
        "worker",
        [
            str(Path(sys.executable).parent / "celery"),
            "-A",
            "webmail",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            "1",
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
        ],
    )
    try:
        _wait_http(f"{app.url}/healthz", web, app)
        app.wait_for_log("worker", "ready.")
    except BaseException:
        app.stop()
        raise


@pytest.fixture(scope="session")
def live_app(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveApp]:
    port = free_port()
    app = LiveApp(f"http://127.0.0.1:{port}", tmp_path_factory.mktemp("live"), app_environment())
    start_web_and_worker(app, port)
    app.start("push", [sys.executable, "manage.py", "webmail_push"])
    try:
        app.wait_for_log("push", "push: watching")
        yield app
    finally:
        app.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not shutil.which(CHROMIUM):
        message = f"{CHROMIUM} missing: run `make test` as root to install Debian's chromium"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
            ],
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Any, live_app: LiveApp) -> Iterator[Any]:
    context = browser.new_context(base_url=live_app.url, locale="en-US")
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()
