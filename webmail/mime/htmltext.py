"""Render an HTML mail body as readable plain text (for previews, search and HTML-only mail)."""

from __future__ import annotations

import re

from webmail.mime.htmlscan import (
    RawText,
    Tag,
    Tokenizer,
    ends_foreign_content,
    strip_tags_fast,
    unescape_attribute,
    unescape_text,
)

MAX_OUTPUT_CHARS = 4_000_000
MAX_CHARREFS = 200_000  # character references decoded; later ones stay as written
MAX_TAGS = 100_000  # after that, the rest of the document is kept as text, tags stripped

_BLOCK = frozenset(
    {
        "address",
        "article",
        "aside",
        "caption",
        "center",
        "dd",
        "details",
        "dialog",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "header",
        "hgroup",
        "legend",
        "li",
        "main",
        "nav",
        "ol",
        "section",
        "summary",
        "table",
        "tbody",
        "tfoot",
        "thead",
        "tr",
        "ul",
    }
)
_PARAGRAPH = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "hr"})
# Elements whose content is not for reading. Foreign and embedded content is skipped until its end
# tag; raw-text elements are already delimited by the tokenizer.
_SKIP = frozenset({"head", "template", "svg", "math", "select", "object", "applet", "map"})
_HEAD_CONTENT = frozenset(
    {"base", "link", "meta", "noscript", "script", "style", "template", "title"}
)
_SKIP_RAW = frozenset({"script", "style", "title", "textarea", "iframe", "noembed", "noframes"})
_WHITESPACE_RE = re.compile(r"[ \t\n\r\f]+")
_LINK_SCHEMES = ("http://", "https://", "mailto:")


class _TextWriter:
    """Collects lines, collapsing whitespace as a browser would, with quote depth per line."""

    def __init__(self) -> None:
        self.lines: list[tuple[int, str]] = []
        self.current: list[str] = []
        self.depth = 0
        self.size = 0
        self.pending_blank: int | None = None  # quote depth of a blank line still to write

    def text(self, text: str, *, preformatted: bool = False) -> None:
        if self.size > MAX_OUTPUT_CHARS:
            return
        if preformatted:
            lines = text.split("\n")
            for index, line in enumerate(lines):
                if index:
                    self.newline()
                self._append(line)
            return
        if not text.isprintable() or "  " in text:  # cheap test: most runs need no collapsing
            text = _WHITESPACE_RE.sub(" ", text)
        if not self.current or self.current[-1].endswith(" "):
            text = text.lstrip(" ")
        if text:
            self._append(text)

    def _append(self, text: str) -> None:
        if self.pending_blank is not None and self.lines and self.lines[-1][1]:
            self.lines.append((min(self.pending_blank, self.depth), ""))
        self.pending_blank = None
        self.current.append(text)
        self.size += len(text)

    def newline(self) -> None:
        self.lines.append((self.depth, "".join(self.current).rstrip(" ")))
        self.current = []

    def block(self, *, blank: bool = False) -> None:
        if self.current:
            self.newline()
        if blank and self.pending_blank is None:
            self.pending_blank = self.depth

    def result(self) -> str:
        if self.current:
            self.newline()
        out: list[str] = []
        for depth, line in self.lines:
            if not line and out and not out[-1].lstrip("> "):
                continue  # no runs of blank lines
            prefix = ">" * depth + " " if depth else ""
            out.append(prefix + line if line else prefix.rstrip())
        return "\n".join(out).strip("\n")


def html_to_text(source: str) -> str:
    """Plain text of an HTML document: blocks become line breaks, links keep their URL
    (``text <url>``), lists get ``- ``, blockquotes ``> ``, scripts and styles vanish."""
    writer = _TextWriter()
    skipping: str | None = None
    skip_depth = 0
    preformatted = 0
    links: list[str | None] = []
    link_text_start: list[tuple[int, int]] = []
    tokenizer = Tokenizer(source)
    tags = 0
    charrefs = MAX_CHARREFS
    for token in tokenizer:
        if writer.size > MAX_OUTPUT_CHARS:
            break
        if isinstance(token, str):
            if skipping is None:
                if charrefs > 0 and "&" in token:
                    limit = charrefs
                    charrefs -= token.count("&")
                    token = unescape_text(token, limit=limit)
                writer.text(token.replace("\xa0", " "), preformatted=preformatted > 0)
            continue
        if isinstance(token, RawText):
            if skipping is None and token.element in ("xmp", "plaintext"):
                writer.text(token.text, preformatted=True)
            continue
        tag: Tag = token
        tags += 1
        if tags > MAX_TAGS:
            writer.text(strip_tags_fast(source[tokenizer.pos :]))
            break
        name = tag.name
        if skipping == "head" and not tag.end and name not in _HEAD_CONTENT:
            skipping = None  # an unclosed <head> ends where body content starts
        elif skipping in ("svg", "math") and ends_foreign_content(tag):
            skipping = None
        if skipping is not None:
            if name == skipping and not tag.self_closing:
                skip_depth += -1 if tag.end else 1
                if skip_depth == 0:
                    skipping = None
            tokenizer.foreign = skipping in ("svg", "math")
            continue
        tokenizer.foreign = False
        if name in _SKIP and not tag.end and not tag.self_closing:
            skipping, skip_depth = name, 1
            tokenizer.foreign = name in ("svg", "math")
            continue
        if name in _SKIP_RAW or name == "body":
            continue
        if name == "br":
            writer.newline()
        elif name in _PARAGRAPH:
            writer.block(blank=True)
            if name == "blockquote":
                writer.depth = max(0, writer.depth + (-1 if tag.end else 1))
            elif name == "pre":
                preformatted = max(0, preformatted + (-1 if tag.end else 1))
            elif name == "hr" and not tag.end:
                writer.text("---")
                writer.block(blank=True)
        elif name in _BLOCK:
            writer.block()
            if name == "li" and not tag.end:
                writer.text("- ")
        elif name in ("td", "th") and not tag.end:
            if writer.current:
                writer.text(" ")
        elif name == "a":
            _link(writer, tag, links, link_text_start)
        elif name == "img" and not tag.end:
            alt = unescape_attribute(dict(tag.attrs).get("alt", "")).strip()
            if alt and len(alt) < 200:
                writer.text(alt)
    return writer.result()


def _link(
    writer: _TextWriter, tag: Tag, links: list[str | None], starts: list[tuple[int, int]]
) -> None:
    if not tag.end:
        href = unescape_attribute(dict(tag.attrs).get("href", "")).strip()
        links.append(href if href.lower().startswith(_LINK_SCHEMES) else None)
        starts.append((len(writer.lines), len(writer.current)))
        return
    if not links:
        return
    url = links.pop()
    line, index = starts.pop()
    if url is None or len(url) > 2_000:
        return
    shown = "".join(writer.current[index:]).strip() if line == len(writer.lines) else ""
    target = url[len("mailto:") :] if url.lower().startswith("mailto:") else url
    if shown not in (target, url):
        writer.text(f" <{url}>" if shown else url)
