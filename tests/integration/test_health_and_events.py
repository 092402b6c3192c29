"""/healthz, and the event bus and broker crossing processes (test <-> worker <-> web)."""

from __future__ import annotations

import http.client
import json
import time
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.test import Client, override_settings

from accounts.models import User
from tests.servers.live import LiveApp
from tests.servers.services import free_port
from webmail import events, tasks


@pytest.mark.django_db
def test_it_reports_health_without_login(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_it_reports_a_broker_on_a_closed_port(client: Client) -> None:
    assert settings.REDIS_URL, "the main leg runs against Redis (tests/settings.py)"
    closed = f"redis://127.0.0.1:{free_port()}/0"
    with override_settings(REDIS_URL=closed, CELERY_BROKER_URL=closed):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"database": "ok", "broker": "error"}


def session_cookie(user: User) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def read_sse(
    app: LiveApp,
    cookie: str,
    headers: dict[str, str],
    until: str,
    timeout: float = 20,
    after: str = "",
) -> str:
    """Open /events/ and read until `until` shows up after `after` (or the timeout)."""
    url = urlsplit(app.url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=timeout)
    conn.request("GET", "/events/", headers={"Cookie": f"sessionid={cookie}", **headers})
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type", "").startswith("text/event-stream")
    seen = ""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if after in seen and until in seen[seen.index(after) :]:
                break
            line = response.fp.readline()
            if not line:
                break
            seen += line.decode()
    except TimeoutError:
        pass
    finally:
        conn.close()
    return seen


def test_a_worker_task_reaches_the_event_table(
    transactional_db: None, live_app: LiveApp, bob: User
) -> None:
    """GIVEN a real worker WHEN a task is sent through the broker THEN its event is stored."""
    last = events.get_last_event_id(bob.pk)
    tasks.publish_event.delay(bob.pk, "sync", {"state": "done"})
    got = events.wait_for_events(bob.pk, last, timeout=20)
    assert [(e.kind, e.data) for e in got] == [("sync", {"state": "done"})]


def test_the_event_stream_delivers_and_resumes(
    transactional_db: None, live_app: LiveApp, bob: User
) -> None:
    cookie = session_cookie(bob)
    first = events.do_publish_event(bob.pk, "folder", {"folder": 1, "unread": 3})
    events.do_publish_event(bob.pk, "messages", {"folder": 1, "new": [7]})
    # A reconnecting tab sends the last id it saw and gets what came after.
    text = read_sse(
        live_app, cookie, {"Last-Event-ID": str(first)}, until="\n\n", after="event: messages"
    )
    assert "event: messages" in text
    data = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]
    assert data == [{"folder": 1, "new": [7]}]
    assert "event: folder" not in text


def test_the_event_stream_is_private(
    transactional_db: None, live_app: LiveApp, bob: User, carol: User
) -> None:
    cookie = session_cookie(carol)
    events.do_publish_event(bob.pk, "folder", {"secret": "bob's"})
    text = read_sse(live_app, cookie, {"Last-Event-ID": "0"}, until="secret", timeout=4)
    assert "secret" not in text


def test_live_events_arrive_while_the_stream_is_open(
    transactional_db: None, live_app: LiveApp, bob: User
) -> None:
    import threading

    cookie = session_cookie(bob)
    start = events.get_last_event_id(bob.pk)

    def publish_soon() -> None:
        time.sleep(1.0)
        tasks.publish_event.delay(bob.pk, "folder", {"unread": 9})

    thread = threading.Thread(target=publish_soon)
    thread.start()
    text = read_sse(live_app, cookie, {"Last-Event-ID": str(start)}, until='"unread":9')
    thread.join()
    assert 'data: {"unread":9}' in text
    payload = json.loads(text.split("data: ", 2)[-1].splitlines()[0])
    assert payload == {"unread": 9}
