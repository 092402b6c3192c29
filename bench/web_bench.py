"""`make bench`, web part: what a signed-in user waits for, beside raw IMAP for the same data.

After the sync part has cached an INBOX, this starts the real web server (uvicorn) and a
Celery worker on the bench database, signs in through the login form (CSRF token, session
cookie) and times, over one keep-alive HTTP connection like a browser's:

* the folder's list page (the whole page, first page and page 100): time to first byte;
* the unified inbox over 3 accounts (the seeded INBOX cached under 3 accounts of one user);
* opening a message whose body is cached: the reader (`?partial=reader`, what the page's
  script fetches) then the body document (`/body/`, the sandboxed frame), until the body
  document has arrived;
* opening a message whose body is not cached: the reader (which enqueues the fetch), the
  worker's IMAP fetch, its `body` event on `/events/`, the reader again and the body
  document, until the body document has arrived (the same steps as mailbox.js).

Each is the median of `runs` after one warm-up; the list rows also give the web process's
own CPU per request, which says how much of a slow TTFB was waiting on a busy machine.
Beside each: raw imaplib on an already selected connection, the same data: FETCH of the
page's 50 envelopes (3 x 50 for the unified inbox) and `UID FETCH n BODY.PEEK[]` of the same
messages.
"""

from __future__ import annotations

import http.client
import imaplib
import json
import os
import queue
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[1]
FETCH_ITEMS = "(UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE)"
PAGE_SIZE = 50  # webmail.queries.PAGE_SIZE; kept literal so importing this needs no Django
DEEP_PAGE = 100
UNIFIED_URL = "/mail/all/inbox/"
UNIFIED_ACCOUNTS = 3
PASSWORD = "bench-password-1234"  # noqa: S105 - a throwaway user in the bench database

# The target (required at 100k) and the figure to beat.
LIST_MAX_MS = 50.0
ROUNDCUBE_100K_LIST_MS = 350.0


@dataclass
class WebRow:
    operation: str
    raw_ms: float
    ours_ms: float
    target: str = ""


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


# --- a small browser: one keep-alive connection, cookies, CSRF -------------------------


@dataclass
class Response:
    status: int
    ttfb: float  # seconds from sending the request to the status line and headers
    total: float  # ... to the last byte of the body
    text: str
    location: str


class Browser:
    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.origin = base_url
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
        self.cookies: dict[str, str] = {}

    def _headers(self) -> dict[str, str]:
        headers = {"Accept-Language": "en-US", "Accept": "text/html"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return headers

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> Response:
        headers = self._headers()
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = self.origin
        start = time.perf_counter()
        self.conn.request(method, path, body=body, headers=headers)
        resp = self.conn.getresponse()
        ttfb = time.perf_counter() - start
        data = resp.read()
        total = time.perf_counter() - start
        for header in resp.headers.get_all("Set-Cookie") or []:
            cookie: SimpleCookie = SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                self.cookies[name] = morsel.value
        return Response(
            resp.status, ttfb, total, data.decode(errors="replace"), resp.getheader("Location", "")
        )

    def get(self, path: str, expect: int = 200) -> Response:
        resp = self.request("GET", path)
        if resp.status != expect:
            raise RuntimeError(f"GET {path}: {resp.status}, expected {expect}\n{resp.text[:500]}")
        return resp

    def login(self, username: str, password: str) -> None:
        page = self.get("/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        if token is None:
            raise RuntimeError("no CSRF token on the login page")
        resp = self.request(
            "POST",
            "/login/",
            {"username": username, "password": password, "csrfmiddlewaretoken": token.group(1)},
        )
        if resp.status != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"login failed: {resp.status}\n{resp.text[:500]}")

    def close(self) -> None:
        self.conn.close()


class EventStream:
    """The page's `/events/` stream, read in a thread; `body` events land in a queue."""

    def __init__(self, browser: Browser) -> None:
        self.conn = http.client.HTTPConnection(browser.host, browser.port, timeout=60)
        self.conn.request("GET", "/events/", headers=browser._headers())
        self.resp = self.conn.getresponse()
        if self.resp.status != 200:
            raise RuntimeError(f"/events/: {self.resp.status}")
        self.bodies: queue.Queue[int] = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        kind = ""
        try:
            for raw in self.resp:
                line = raw.decode().rstrip("\r\n")
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind == "body":
                    data = json.loads(line[6:])
                    if data.get("available"):
                        self.bodies.put(int(data["message"]))
                elif not line:
                    kind = ""
        except (OSError, ValueError, http.client.HTTPException):
            return  # closed

    def wait_body(self, message_id: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.bodies.get(timeout=deadline - time.monotonic()) == message_id:
                    return
            except queue.Empty:
                break
        raise RuntimeError(f"no body event for message {message_id} within {timeout:.0f} s")

    def close(self) -> None:
        if self.conn.sock is not None:
            self.conn.sock.shutdown(socket.SHUT_RDWR)  # the reader thread sees the end
        self.thread.join(timeout=5)
        self.conn.close()


# --- raw IMAP, the same data -----------------------------------------------------------


class RawImap:
    def __init__(self, server: Any, user: str) -> None:
        self.conn = imaplib.IMAP4(server.host, server.imap_port)
        self.conn.login(user, server.users[user])
        typ, data = self.conn.select("INBOX", readonly=True)
        if typ != "OK" or not isinstance(data[0], bytes):
            raise RuntimeError(f"SELECT INBOX failed: {typ} {data!r}")
        self.exists = int(data[0])

    def page(self, number: int) -> None:
        """FETCH the envelopes of list page `number` (newest first) by sequence number."""
        high = self.exists - (number - 1) * PAGE_SIZE
        low = max(1, high - PAGE_SIZE + 1)
        typ, data = self.conn.fetch(f"{low}:{high}", FETCH_ITEMS)
        if typ != "OK" or len(data) < (high - low + 1):
            raise RuntimeError(f"FETCH {low}:{high} failed: {typ}")

    def body(self, uid: int) -> None:
        typ, data = self.conn.uid("FETCH", str(uid), "BODY.PEEK[]")
        if typ != "OK" or not data or data[0] is None:
            raise RuntimeError(f"UID FETCH {uid} BODY.PEEK[] failed: {typ} {data!r}")

    def logout(self) -> None:
        self.conn.logout()


def _timed(fn: Callable[[], object], runs: int) -> float:
    """Median ms of `runs` calls after one warm-up."""
    fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return _median_ms(samples)


# --- the app ---------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux), NaN elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _app_env(env: dict[str, str]) -> dict[str, str]:
    # Production's log level: the sync part's DEBUG logging would be timed too.
    return {**env, "WEBMAIL_LOG_LEVEL": "INFO"}


def _run(argv: list[str], env: dict[str, str]) -> str:
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def _start_app(env: dict[str, str], folder: Path) -> Any:
    from tests.servers.live import LiveApp, start_web_and_worker
    from tests.servers.services import free_port

    port = free_port()
    app = LiveApp(f"http://127.0.0.1:{port}", folder, env)
    start_web_and_worker(app, port)
    return app


def _prepare_user(account_id: int) -> tuple[str, int, list[int]]:
    """The account's owner gets a password and 2 more accounts on the same upstream login;
    returns (username, INBOX folder id, the new account ids)."""
    from accounts.models import MailAccount, Preferences

    account = MailAccount.objects.select_related("owner").get(pk=account_id)
    owner = account.owner
    owner.set_password(PASSWORD)
    owner.save(update_fields=["password"])
    # The defaults, written down: a list without conversations, opening marks read at once
    # (the bench opens messages that are already read, so no flag task runs).
    Preferences.objects.update_or_create(
        user=owner, defaults={"conversations": False, "mark_read_after": 0}
    )
    extra = []
    for _ in range(UNIFIED_ACCOUNTS - 1):
        clone = MailAccount.objects.get(pk=account_id)
        clone.pk = None
        clone.save()
        extra.append(int(clone.pk))
    inbox = account.folders.get(special_use="inbox")
    return owner.username, int(inbox.pk), extra


def _pick_messages(folder_id: int, count: int) -> list[tuple[int, int]]:
    """(id, uid) of `count` read messages without a cached body, among the newest."""
    from webmail.models import Message

    picked = list(
        Message.objects.filter(folder_id=folder_id, seen=True, body__isnull=True)
        .order_by("-internaldate")
        .values_list("pk", "uid")[:count]
    )
    if len(picked) < count:
        raise RuntimeError(f"only {len(picked)} read messages without a body in the INBOX")
    return [(int(pk), int(uid)) for pk, uid in picked]


def measure(
    server: Any, env: dict[str, str], user: str, account_id: int, runs: int, folder: Path
) -> list[WebRow]:
    """The web rows for `user`'s INBOX, cached in the bench database under `account_id`."""
    username, inbox_id, extra = _prepare_user(account_id)
    app_env = _app_env(env)
    for extra_id in extra:
        started = time.perf_counter()
        _run(
            [sys.executable, "manage.py", "sync", "--account", str(extra_id), "--folder", "INBOX"],
            app_env,
        )
        print(
            f"  unified: account {extra_id} synced in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
    from webmail.models import Folder

    synced = Folder.objects.filter(account_id__in=extra, special_use="inbox", total__gt=0).count()
    if synced != len(extra):
        raise RuntimeError(f"only {synced} of the {len(extra)} extra accounts have a synced INBOX")
    # The syncs enqueued their second pass (previews, threads, newest bodies); a worker
    # busy with that would be timed too, and the sync part never runs one: drop them.
    _run([str(Path(sys.executable).parent / "celery"), "-A", "webmail", "purge", "-f"], app_env)
    messages = _pick_messages(inbox_id, runs + 1)

    raws = [RawImap(server, user) for _ in range(UNIFIED_ACCOUNTS)]
    folder.mkdir(parents=True, exist_ok=True)
    app = _start_app(app_env, folder)
    browser = Browser(app.url)
    stream: EventStream | None = None
    try:
        browser.login(username, PASSWORD)
        pages = -(-raws[0].exists // PAGE_SIZE)
        deep = min(DEEP_PAGE, pages)
        folder_url = f"/mail/folder/{inbox_id}/"

        web_pid = app.processes["web"].pid
        cpu: dict[str, float] = {}

        def ttfb(path: str) -> float:
            samples = []
            browser.get(path)  # warm-up
            before = _cpu_seconds(web_pid)
            for _ in range(runs):
                samples.append(browser.get(path).ttfb)
            cpu[path] = (_cpu_seconds(web_pid) - before) / runs * 1000
            return _median_ms(samples)

        first_ms = ttfb(folder_url)
        deep_url = f"{folder_url}?page={deep}"
        deep_ms = ttfb(deep_url)
        unified_ms = ttfb(UNIFIED_URL)
        raw_first = _timed(lambda: raws[0].page(1), runs)
        raw_deep = _timed(lambda: raws[0].page(deep), runs)

        def raw_unified_page() -> None:
            for raw in raws:
                raw.page(1)

        raw_unified = _timed(raw_unified_page, runs)

        stream = EventStream(browser)

        def open_message(message_id: int, *, cached: bool) -> float:
            reader_url = f"/mail/message/{message_id}/?partial=reader"
            start = time.perf_counter()
            reader = browser.get(reader_url)
            downloading = 'data-downloading="1"' in reader.text
            if downloading == cached:
                raise RuntimeError(f"message {message_id}: body cached is {not downloading}")
            if downloading:
                stream.wait_body(message_id)
                browser.get(reader_url)
            browser.get(f"/mail/message/{message_id}/body/")
            return time.perf_counter() - start

        uncached = [open_message(pk, cached=False) for pk, _uid in messages]
        uncached_ms = _median_ms(uncached[1:])
        cached_id, cached_uid = messages[0]
        cached_ms = _median_ms([open_message(cached_id, cached=True) for _ in range(runs + 1)][1:])
        raw_cached = _timed(lambda: raws[0].body(cached_uid), runs)
        body_samples = []
        for _pk, uid in messages[1:]:
            start = time.perf_counter()
            raws[0].body(uid)
            body_samples.append(time.perf_counter() - start)
        raw_uncached = _median_ms(body_samples)
    finally:
        if stream is not None:
            stream.close()
        browser.close()
        app.stop()
        for raw in raws:
            raw.logout()

    def target(ms: float, path: str) -> str:
        verdict = f"< {LIST_MAX_MS:g} ms: {'met' if ms < LIST_MAX_MS else 'MISSED'}"
        return f"{verdict} (web server CPU {cpu[path]:.0f} ms a request)"

    return [
        WebRow(
            "web: list page 1, TTFB (vs its 50 envelopes)",
            raw_first,
            first_ms,
            target(first_ms, folder_url),
        ),
        WebRow(
            f"web: list page {deep}, TTFB (vs its 50 envelopes)",
            raw_deep,
            deep_ms,
            target(deep_ms, deep_url),
        ),
        WebRow(
            f"web: unified inbox, {UNIFIED_ACCOUNTS} accounts, TTFB (vs 3 x 50)",
            raw_unified,
            unified_ms,
            target(unified_ms, UNIFIED_URL),
        ),
        WebRow("web: open message, body cached (vs BODY.PEEK[])", raw_cached, cached_ms),
        WebRow("web: open message, body not cached (vs BODY.PEEK[])", raw_uncached, uncached_ms),
    ]


NOTES = (
    "web: uvicorn + a Celery worker on the bench database, signed in through the login form, "
    "one keep-alive connection; median of --runs after one warm-up. List rows: time to first "
    "byte of the whole page (GET /mail/folder/ID/[?page=N], /mail/all/inbox/ over 3 accounts "
    "caching the same INBOX); raw: FETCH of the same 50 envelopes (3 x 50) on a selected "
    "connection. Open rows: GET ?partial=reader, [worker's IMAP fetch, `body` event on "
    "/events/, ?partial=reader again,] GET .../body/ until it has arrived; raw: UID FETCH n "
    f"BODY.PEEK[] of the same messages. Beside the list targets: the web process's own CPU "
    "per request (/proc; the database's is not in it), which other load on the machine "
    "inflates far less than the TTFB. Roundcube 1.6 on the same Dovecot: about "
    f"{ROUNDCUBE_100K_LIST_MS:.0f} ms for a 100k list."
)
