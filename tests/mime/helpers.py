"""Helpers for the MIME and sanitiser tests: sample mails and an independent HTML safety check.

Nothing here touches the database; these tests run on bytes and strings alone.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

CORPUS = Path(__file__).parent / "corpus"

FORBIDDEN_ELEMENTS = frozenset(
    {
        "applet",
        "base",
        "button",
        "embed",
        "form",
        "frame",
        "frameset",
        "iframe",
        "input",
        "link",
        "math",
        "meta",
        "noscript",
        "object",
        "script",
        "select",
        "style",
        "svg",
        "template",
        "textarea",
    }
)
URL_ATTRIBUTES = frozenset({"href", "src", "background"})
_URL_NOISE_RE = re.compile(r"[\x00-\x20\x7f-\xa0]+")


def corpus_bytes(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def corpus_text(name: str) -> str:
    return (CORPUS / name).read_text(encoding="utf-8")


class _Elements(HTMLParser):
    """Collects elements and attributes with the stdlib parser: a second opinion on bleach's
    output, so the tests do not trust the code they test."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[str] = []
        self.attributes: list[tuple[str, str, str]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append(tag)
        self.attributes.extend((tag, name, value or "") for name, value in attrs)

    handle_startendtag = handle_starttag

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_html(html: str) -> _Elements:
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser


def url_scheme(value: str) -> str:
    squashed = _URL_NOISE_RE.sub("", value).lower()
    match = re.match(r"([a-z][a-z0-9+.-]*):", squashed)
    return match.group(1) if match else ""


def assert_safe_html(html: str, *, allowed_src_prefixes: tuple[str, ...] = ()) -> None:
    """What clean_html promises, checked on the parsed output rather than on its text."""
    assert "<script" not in html.lower()
    parsed = parse_html(html)
    assert not FORBIDDEN_ELEMENTS & set(parsed.elements), parsed.elements
    for tag, name, value in parsed.attributes:
        assert not name.startswith("on"), (tag, name, value)
        assert name not in ("srcset", "formaction", "action", "xmlns", "xlink:href"), name
        scheme = url_scheme(value)
        assert scheme not in ("javascript", "vbscript", "livescript"), (tag, name, value)
        if name == "href":
            assert scheme in ("http", "https", "mailto") or value.startswith(("#", "//")), value
        if name in ("src", "background"):
            data_image = re.match(r"data:image/(png|gif|jpe?g|webp)[;,]", value)
            assert data_image or value.startswith(allowed_src_prefixes), (tag, name, value)
        if name == "style":
            lowered = value.lower()
            assert "expression" not in lowered
            assert "javascript" not in lowered
            assert "position: fixed" not in lowered and "position: absolute" not in lowered
            for url in re.findall(r"url\(\s*[\"']?([^\"')]*)", value, flags=re.IGNORECASE):
                data_image = re.match(r"data:image/(png|gif|jpe?g|webp)[;,]", url)
                assert data_image or url.startswith(allowed_src_prefixes or ("\x00",)), value
