"""The embedded default we ship (SQLite file, filesystem broker, polled events), end to end.

Run by `make test` as its second leg (WEBMAIL_TEST_EMBEDDED=1 pytest -m embedded).
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from tests.browser.test_login_browser import (  # noqa: F401 - collected here too
    test_a_member_signs_in_and_sees_the_empty_mailbox,
)
from tests.browser.test_mailbox_browser import (  # noqa: F401 - collected here too
    mailbox,
    test_new_mail_appears_by_itself,
)
from tests.integration.test_health_and_events import (  # noqa: F401 - collected here too
    test_a_worker_task_reaches_the_event_table,
    test_live_events_arrive_while_the_stream_is_open,
    test_the_event_stream_delivers_and_resumes,
)
from tests.integration.test_push import (  # noqa: F401 - collected here too
    plain_account,
    test_new_mail_reaches_cache_and_stream_by_itself,
)
from tests.servers.services import free_port

pytestmark = pytest.mark.embedded
ROOT = Path(__file__).resolve().parents[2]


def test_the_leg_really_is_embedded() -> None:
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert settings.CELERY_BROKER_URL == "filesystem://"
    assert not settings.REDIS_URL


@pytest.mark.django_db
def test_it_reports_health_of_the_embedded_parts(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "ok"}


def _pure_env(data: Path, port: int) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("WEBMAIL_", "DATABASE_URL", "REDIS_URL", "PYTEST_", "DJANGO_"))
    }
    env.update({"WEBMAIL_DATA_DIR": str(data), "PORT": str(port), "HOST": "127.0.0.1"})
    return env


def _login(base: str, username: str, password: str) -> urllib.request.OpenerDirector:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = opener.open(f"{base}/login/", timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
    assert token, form
    body = urllib.parse.urlencode(
        {"username": username, "password": password, "csrfmiddlewaretoken": token.group(1)}
    ).encode()
    opener.open(urllib.request.Request(f"{base}/login/", data=body, headers={"Referer": base}))
    return opener


def test_make_run_serves_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    """GIVEN a fresh data folder WHEN `make run` starts THEN it prints the admin line, the
    admin can sign in, and Ctrl-C (SIGINT to the group) stops every process."""
    port = free_port()
    log = tmp_path / "make-run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["make", "--no-print-directory", "run"],
            cwd=ROOT,
            env=_pure_env(tmp_path / "data", port),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        line = None
        while time.monotonic() < deadline and proc.poll() is None:
            text = log.read_text(errors="replace")
            found = re.findall(r"^admin login: (\S+) (\S+) at (\S+)$", text, re.MULTILINE)
            if found and "ready." in text and "Uvicorn running" in text:
                line = found
                break
            time.sleep(0.3)
        assert line, log.read_text(errors="replace")[-5000:]
        assert len(line) == 1
        username, password, url = line[0]
        assert (username, url) == ("admin", f"{base}/")
        opener = _login(base, username, password)
        mailbox = opener.open(f"{base}/mail/", timeout=10)
        assert mailbox.geturl().endswith("/mail/")
        assert "Add a mail account" in mailbox.read().decode()
        health = opener.open(f"{base}/healthz", timeout=10).read()
        assert b'"broker": "ok"' in health
        # Keys were generated once into the data folder, readable by the owner only.
        for name in ("webmail_secret_key", "webmail_encryption_key"):
            assert (tmp_path / "data" / name).stat().st_mode & 0o077 == 0
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    time.sleep(1)
    leftover = subprocess.run(
        ["pgrep", "-g", str(proc.pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    if leftover:
        os.killpg(proc.pid, signal.SIGKILL)
    assert leftover == [], log.read_text(errors="replace")[-3000:]


# Module marks do not travel with an imported test: give these their database mode here.
for _test in (test_new_mail_appears_by_itself, test_new_mail_reaches_cache_and_stream_by_itself):
    pytest.mark.django_db(transaction=True)(_test)
