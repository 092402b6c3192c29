"""Property tests: parse_message never raises, clean_html output is always safe, text_to_html
escapes losslessly. No timing is asserted (hypothesis deadlines are off)."""

from __future__ import annotations

import html
import os
from html.parser import HTMLParser

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.mime.helpers import CORPUS, assert_safe_html
from webmail.mime import attachment_payload, clean_html, parse_message, text_to_html
from webmail.mime.flowed import unflow

PROPERTY = settings(
    deadline=None,
    database=None,  # no .hypothesis/ directory in the repository
    # A longer hunt: WEBMAIL_HYPOTHESIS_EXAMPLES=5000 pytest tests/mime/test_properties.py
    max_examples=int(os.environ.get("WEBMAIL_HYPOTHESIS_EXAMPLES", "300")),
    suppress_health_check=[HealthCheck.too_slow],
)

SAMPLES = [path.read_bytes() for path in sorted(CORPUS.glob("*.eml"))]

MIME_PIECES = [
    b"\n",
    b"\r\n",
    b"\n\n",
    b"--",
    b"--b\n",
    b"--b--\n",
    b"Content-Type: multipart/mixed; boundary=b\n",
    b"Content-Type: multipart/alternative; boundary=b\n",
    b"Content-Type: message/rfc822\n",
    b"Content-Type: text/html; charset=utf-8\n",
    b"Content-Type: text/plain; charset=x-unknown; format=flowed; delsp=yes\n",
    b"Content-Transfer-Encoding: base64\n",
    b"Content-Transfer-Encoding: quoted-printable\n",
    b"Content-Disposition: attachment; filename*0*=utf-8''%E2; filename*1=x\n",
    b"Subject: =?utf-8?B?",
    b"=?",
    b"?=",
    b'From: "a" <b@c>, (',
    b"\x00",
    b"\xff\xfe",
    b"=\n",
    b"=E2=82",
    b"<",
    b'"',
]


@PROPERTY
@given(st.binary(max_size=3000))
def test_parse_message_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    message = parse_message(raw)

    assert "parser_error" not in message.defects
    _assert_storable(message.subject, message.text, message.html or "")


@PROPERTY
@given(st.lists(st.sampled_from(MIME_PIECES) | st.binary(max_size=20), max_size=60))
def test_parse_message_never_raises_on_mime_shaped_noise(pieces: list[bytes]) -> None:
    message = parse_message(b"".join(pieces))

    assert "parser_error" not in message.defects
    for attachment in message.attachments:
        payload = attachment_payload(b"".join(pieces), attachment.part_id)
        assert payload is not None and len(payload) == attachment.size


@PROPERTY
@given(st.data())
def test_parse_message_never_raises_on_mutated_real_messages(data: st.DataObject) -> None:
    raw = bytearray(data.draw(st.sampled_from(SAMPLES)))
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(raw)))
        action = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate", "splice"]))
        if action == "flip" and position < len(raw):
            raw[position] = data.draw(st.integers(0, 255))
        elif action == "insert":
            raw[position:position] = data.draw(st.sampled_from(MIME_PIECES) | st.binary(max_size=8))
        elif action == "delete":
            del raw[position : position + data.draw(st.integers(1, 50))]
        elif action == "truncate":
            del raw[position:]
        elif action == "splice":
            other = data.draw(st.sampled_from(SAMPLES))
            start = data.draw(st.integers(0, len(other)))
            raw[position:position] = other[start : start + data.draw(st.integers(1, 200))]

    message = parse_message(bytes(raw))

    assert "parser_error" not in message.defects
    _assert_storable(message.subject, message.text, message.html or "")


@PROPERTY
@given(st.text(max_size=30), st.text(max_size=300))
def test_attachment_payload_never_raises(part_id: str, body: str) -> None:
    raw = b"Content-Type: multipart/mixed; boundary=b\n\n--b\n\n" + body.encode() + b"\n--b--\n"

    result = attachment_payload(raw, part_id)

    assert result is None or isinstance(result, bytes)


def _assert_storable(*texts: str) -> None:
    for text in texts:
        assert "\x00" not in text
        text.encode("utf-8")  # no lone surrogates: Postgres and templates need valid UTF-8


HTML_PIECES = [
    "<script>",
    "</script>",
    "<script src=//x.example/a.js>",
    "<img src=x onerror=alert(1)>",
    "<img src=",
    " onerror=",
    " onload=",
    "<a href='javascript:alert(1)'>",
    '<a href="jav&#x61;script:x">',
    "&#106;avascript:",
    "javascript:",
    "<svg>",
    "</svg>",
    "<math>",
    "<mtext>",
    "<mglyph>",
    "<style>",
    "</style>",
    "<noscript>",
    "</noscript>",
    '<p title="',
    "<textarea>",
    "<title>",
    "<xmp>",
    "<template>",
    "<iframe src=x>",
    "<form>",
    "<table>",
    "<tr>",
    "<td>",
    "<b>",
    "</b>",
    '<div style="background:url(',
    "expression(",
    "<!--",
    "-->",
    "--!>",
    "<![CDATA[",
    "]]>",
    "<",
    ">",
    "/",
    '"',
    "'",
    "=",
    "&",
    "&lt;",
    "\x00",
    "\n",
    " ",
    "<base href=x>",
    "<meta http-equiv=refresh content=0;url=x>",
    "<object data=x>",
    "<body onload=x>",
    "<a href=x>",
]


@PROPERTY
@given(st.lists(st.sampled_from(HTML_PIECES) | st.text(max_size=12), max_size=80))
def test_clean_html_output_is_always_safe(pieces: list[str]) -> None:
    source = "".join(pieces)

    assert_safe_html(clean_html(source))


@PROPERTY
@given(st.lists(st.sampled_from(HTML_PIECES) | st.text(max_size=12), max_size=80))
def test_clean_html_output_is_safe_with_remote_content_and_cids(pieces: list[str]) -> None:
    cleaned = clean_html(
        "".join(pieces),
        cid_urls={"x": "/cid/x"},
        allow_remote=True,
        proxy_url=lambda url: "/proxy?u=" + html.escape(url),
    )

    assert_safe_html(cleaned, allowed_src_prefixes=("/proxy?u=", "/cid/"))


HOSTILE_SAMPLES = [path.read_text(encoding="utf-8") for path in sorted(CORPUS.glob("*.html"))]


@PROPERTY
@given(st.data())
def test_clean_html_is_safe_on_mutated_hostile_samples(data: st.DataObject) -> None:
    source = data.draw(st.sampled_from(HOSTILE_SAMPLES))
    for _ in range(data.draw(st.integers(1, 10))):
        position = data.draw(st.integers(0, len(source)))
        action = data.draw(st.sampled_from(["insert", "delete", "splice"]))
        if action == "insert":
            piece = data.draw(st.sampled_from(HTML_PIECES) | st.text(max_size=5))
            source = source[:position] + piece + source[position:]
        elif action == "delete":
            source = source[:position] + source[position + data.draw(st.integers(1, 40)) :]
        else:
            other = data.draw(st.sampled_from(HOSTILE_SAMPLES))
            start = data.draw(st.integers(0, len(other)))
            chunk = other[start : start + data.draw(st.integers(1, 120))]
            source = source[:position] + chunk + source[position:]

    assert_safe_html(clean_html(source))
    assert_safe_html(
        clean_html(source, allow_remote=True, proxy_url=lambda url: "/p?u=" + url),
        allowed_src_prefixes=("/p?u=",),
    )


@PROPERTY
@given(st.text(max_size=500))
def test_clean_html_of_text_keeps_the_text(text: str) -> None:
    """Plain text with no markup characters passes through unchanged, whitespace aside.
    (U+E000 to U+E002 are not: clean_html uses them internally and replaces them.)"""
    text = "".join(
        ch for ch in text if ch not in "<&\x00\r\ue000\ue001\ue002" and (ch >= " " or ch in "\n\t")
    )
    cleaned = clean_html(text).replace("<wbr>", "")

    assert html.unescape(cleaned).split() == text.split()


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "blockquote":
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "blockquote":
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


@PROPERTY
@given(st.text(alphabet=st.characters(blacklist_characters="\r\x00>"), max_size=400))
def test_text_to_html_round_trips_the_text(text: str) -> None:
    parser = _TextOnly()
    parser.feed(text_to_html(text))
    parser.close()

    assert "".join(parser.parts) == text


@PROPERTY
@given(st.text(alphabet=st.characters(blacklist_characters="\r\x00"), max_size=400))
def test_text_to_html_never_lets_markup_through(text: str) -> None:
    result = text_to_html(text)

    assert_safe_html(result)
    assert result.count("<div") == 1


@PROPERTY
@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="\n\r> "), max_size=40)))
def test_unflow_leaves_fixed_lines_alone(lines: list[str]) -> None:
    text = "\n".join(lines)

    assert unflow(text) == text
