"""Step 1 of clean_html: a linear pass that makes mail HTML cheap for html5lib to parse.

html5lib is pure Python and superlinear on deep nesting, on unclosed formatting elements that it
keeps reconstructing, on content it must foster-parent out of tables and on text that reaches it
one character reference at a time. This pass, driven by the regex tokenizer in htmlscan.py,
removes all of that before html5lib sees the document: it drops scripts, comments, SVG/MathML
and other unwanted elements (with their content where that content is not for reading), keeps
only allowlisted tags and attributes, collects ``<style>`` blocks, caps nesting depth, element
count and misplaced table content, and decodes character references itself.

Placeholders: ``&``, ``<`` and ``"`` in decoded text and attribute values travel through html5lib
as private-use characters (PLACEHOLDER_*) and become ``&amp;``, ``&lt;`` and ``&quot;`` only in
the final output (``restore_placeholders``). Input containing those private-use characters gets
U+FFFD instead.
"""

from __future__ import annotations

import html
import re
from collections import defaultdict

from webmail.mime.allowlist import ALLOWED_ATTRIBUTE_SETS, ALLOWED_TAGS, GLOBAL_ATTRIBUTE_SET
from webmail.mime.css import css_url
from webmail.mime.htmlscan import (
    VOID_ELEMENTS,
    RawText,
    Tag,
    Tokenizer,
    ends_foreign_content,
    strip_tags_fast,
    unescape_attribute,
    unescape_text,
)

MAX_INPUT_CHARS = 5_000_000
MAX_TAGS = 40_000  # tags read, kept or not; after that, the rest is kept as text
MAX_ELEMENTS = 8_000  # elements handed to html5lib; after that, the rest is kept as text
MAX_DEPTH = 100
MAX_CHARREFS = 200_000
MAX_FOSTERED = 200
TEXT_CHUNK = 8_192
MAX_STYLE_BLOCK_CHARS = 96 * 1024

# Dropped together with everything inside them (what is inside is not text a reader sees).
_DROP_WITH_CONTENT = frozenset({"datalist", "frameset", "math", "select", "svg", "template"})
_DROP_RAW_TEXT = frozenset(
    {"script", "style", "title", "textarea", "iframe", "noembed", "noframes"}
)
# Dropped tags that still separate words.
_BLOCKISH = frozenset(
    {"dialog", "dir", "fieldset", "form", "hgroup", "legend", "listing", "menu", "option"}
)
_FORMATTING = frozenset(
    {
        "a",
        "b",
        "big",
        "code",
        "em",
        "font",
        "i",
        "nobr",
        "s",
        "small",
        "strike",
        "strong",
        "tt",
        "u",
    }
)
_CLOSES_P = frozenset(
    {
        "address",
        "article",
        "aside",
        "blockquote",
        "center",
        "details",
        "div",
        "dl",
        "figcaption",
        "figure",
        "footer",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "dd",
        "dt",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "ul",
    }
)
_TABLE_PARTS = frozenset(
    {"table", "caption", "colgroup", "tbody", "thead", "tfoot", "tr", "td", "th"}
)
_CELL_SCOPE = ("table", "td", "th", "caption")
_LIST_SCOPE = ("ul", "ol", *_CELL_SCOPE)
_DL_SCOPE = ("dl", *_CELL_SCOPE)
# html5lib's "in table" insertion modes: anything else found here is foster-parented.
_TABLE_CONTEXT = frozenset({"table", "tbody", "thead", "tfoot", "tr"})
_TABLE_CONTENT = frozenset(
    {"caption", "col", "colgroup", "tbody", "thead", "tfoot", "tr", "td", "th"}
)

PLACEHOLDER_AMP, PLACEHOLDER_LT, PLACEHOLDER_QUOT = "\ue000", "\ue001", "\ue002"
_PLACEHOLDERS_RE = re.compile(f"[{PLACEHOLDER_AMP}{PLACEHOLDER_LT}{PLACEHOLDER_QUOT}]")


def _no_placeholders(text: str) -> str:
    return _PLACEHOLDERS_RE.sub("\ufffd", text)


def _escape_text(text: str) -> str:
    return _no_placeholders(text).replace("&", PLACEHOLDER_AMP).replace("<", PLACEHOLDER_LT)


def escape_attribute(value: str) -> str:
    """An attribute value, decoded, in the placeholder form html5lib and bleach carry."""
    return _no_placeholders(value).replace("&", PLACEHOLDER_AMP).replace('"', PLACEHOLDER_QUOT)


def decoded_attribute(value: str) -> str:
    """An attribute value as the browser will see it (placeholders back to characters)."""
    return (
        value.replace(PLACEHOLDER_AMP, "&")
        .replace(PLACEHOLDER_QUOT, '"')
        .replace(PLACEHOLDER_LT, "<")
    )


def restore_placeholders(output: str) -> str:
    """The final output: placeholders become the character references they stand for."""
    return (
        output.replace(PLACEHOLDER_AMP, "&amp;")
        .replace(PLACEHOLDER_LT, "&lt;")
        .replace(PLACEHOLDER_QUOT, "&quot;")
    )


def _chunked(text: str) -> str:
    """Long text with a ``<wbr>`` after a space every TEXT_CHUNK characters.

    html5lib appends a text node's pieces with ``+=`` (quadratic in their number) and looks at
    every character of a text token in Python; short nodes keep both cheap. A break opportunity
    right after a space changes nothing on screen.
    """
    pieces: list[str] = []
    pos = 0
    while len(text) - pos > TEXT_CHUNK:
        cut = text.rfind(" ", pos + TEXT_CHUNK // 2, pos + TEXT_CHUNK)
        cut = pos + TEXT_CHUNK if cut < 0 else cut + 1
        pieces.append(text[pos:cut])
        pos = cut
    pieces.append(text[pos:])
    return "<wbr>".join(pieces)


class _Tidy:
    """State of one pass of ``tidy_html``: output pieces and a model of html5lib's open elements."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self.styles: list[str] = []
        self.stack: list[str] = []
        self.positions: dict[str, list[int]] = defaultdict(list)
        self.ghosts: dict[str, int] = defaultdict(int)  # start tags dropped for depth
        self.elements = 0
        self.charrefs = MAX_CHARREFS
        self.style_chars = 0
        self.fostered = 0

    def in_table_context(self) -> bool:
        return bool(self.stack) and self.stack[-1] in _TABLE_CONTEXT

    def text(self, raw: str) -> None:
        if self.charrefs > 0 and "&" in raw:
            limit = self.charrefs
            self.charrefs -= raw.count("&")
            raw = unescape_text(raw, limit=limit)
        if self.in_table_context() and not raw.isspace() and not self.may_foster():
            return
        escaped = _escape_text(raw)
        self.out.append(_chunked(escaped) if len(escaped) > TEXT_CHUNK else escaped)

    def may_foster(self) -> bool:
        """html5lib moves content found between table rows in front of the table ("foster
        parenting"), scanning the table's siblings each time: allow that a bounded number of
        times, then drop such misplaced content."""
        self.fostered += 1
        return self.fostered <= MAX_FOSTERED

    def push(self, name: str) -> None:
        self.positions[name].append(len(self.stack))
        self.stack.append(name)

    def last(self, names: tuple[str, ...]) -> int:
        positions = self.positions
        return max((positions[name][-1] if positions[name] else -1) for name in names)

    def pop_to(self, index: int) -> None:
        """Pop the stack down to ``index``, closing the element there. Formatting elements
        popped on the way get explicit end tags, so html5lib does not keep reconstructing them
        (quadratic, see the module docstring)."""
        while len(self.stack) > index:
            name = self.stack.pop()
            self.positions[name].pop()
            if name in _FORMATTING or len(self.stack) == index:
                self.out.append(f"</{name}>")

    def implied_end(self, targets: tuple[str, ...], scope: tuple[str, ...]) -> None:
        index = self.last(targets)
        if index >= 0 and index > self.last(scope):
            self.pop_to(index)

    def start(self, tag: Tag) -> None:
        name = tag.name
        positions = self.positions
        if positions["p"] and name in _CLOSES_P:
            self.implied_end(("p",), _CELL_SCOPE)
        if name == "li":
            self.implied_end(("li",), _LIST_SCOPE)
        elif name in ("dd", "dt"):
            self.implied_end(("dd", "dt"), _DL_SCOPE)
        elif name == "tr":
            self.implied_end(("tr",), ("table",))
        elif name in ("td", "th"):
            self.implied_end(("td", "th"), ("tr", "table"))
        elif name in ("thead", "tbody", "tfoot"):
            self.implied_end(("thead", "tbody", "tfoot"), ("table",))
        elif name == "a" and positions["a"]:
            self.implied_end(("a",), ("td", "th", "caption"))
        void = name in VOID_ELEMENTS
        if not void and len(self.stack) >= MAX_DEPTH:
            self.ghosts[name] += 1
            return
        if self.in_table_context() and name not in _TABLE_CONTENT and not self.may_foster():
            if not void:
                self.ghosts[name] += 1
            return
        self.elements += 1
        self.out.append(_start_tag(tag))
        if not void:
            self.push(name)

    def end(self, name: str) -> None:
        positions = self.positions[name]
        if not positions:
            if self.ghosts[name] > 0:
                self.ghosts[name] -= 1
            return
        index = positions[-1]
        if name not in _TABLE_PARTS and index < self.last(_CELL_SCOPE):
            return  # an element outside the current table cell: html5lib ignores this too
        if name in _TABLE_PARTS and name != "table" and index < self.last(("table",)):
            return  # belongs to an outer table
        self.pop_to(index)


def _start_tag(tag: Tag) -> str:
    name = tag.name
    if not tag.attr_source or tag.attr_source.isspace():
        return f"<{name}>"
    allowed = ALLOWED_ATTRIBUTE_SETS.get(name, GLOBAL_ATTRIBUTE_SET)
    parts = [f"<{name}"]
    seen: set[str] = set()
    for attr, value in tag.attrs:
        if attr in allowed and attr not in seen:
            seen.add(attr)
            parts.append(f' {attr}="{escape_attribute(unescape_attribute(value))}"')
    parts.append(">")
    return "".join(parts)


def _body_as_div(tag: Tag) -> str:
    """``<body>`` is ignored by fragment parsing; keep its look on a ``<div>`` instead."""
    values = {attr: unescape_attribute(value) for attr, value in reversed(tag.attrs)}
    styles: list[str] = []
    if values.get("bgcolor"):
        styles.append(f"background-color: {values['bgcolor']}")
    if values.get("text"):
        styles.append(f"color: {values['text']}")
    if values.get("background"):
        styles.append(f"background-image: {css_url(values['background'])}")
    if values.get("style"):
        styles.append(values["style"])
    kept = [(k, v) for k, v in values.items() if k in ("class", "dir", "id", "lang", "title")]
    if styles:
        kept.append(("style", "; ".join(styles)))
    attr_source = "".join(f' {k}="{html.escape(v)}"' for k, v in kept)
    return _start_tag(Tag("div", end=False, attr_source=attr_source))


def tidy_html(source: str) -> tuple[str, list[str]]:
    """The HTML to hand to html5lib, and the text of the document's style blocks."""
    source = source[:MAX_INPUT_CHARS].replace("\x00", "\ufffd")
    state = _Tidy()
    tokenizer = Tokenizer(source)
    skipping: str | None = None
    skip_depth = 0
    tags = 0
    for token in tokenizer:
        if isinstance(token, str):
            if skipping is None:
                state.text(token)
            continue
        if isinstance(token, RawText):
            if skipping is not None:
                continue
            if token.element == "style" and state.style_chars < MAX_STYLE_BLOCK_CHARS:
                state.styles.append(token.text)
                state.style_chars += len(token.text)
            elif token.element in ("xmp", "plaintext"):
                state.out.append(_chunked(_escape_text(token.text)))
            continue
        tags += 1
        if tags > MAX_TAGS or state.elements >= MAX_ELEMENTS:
            # Enough markup: keep the rest of the document's text, cheaply, without its tags.
            state.text(strip_tags_fast(source[tokenizer.pos :]))
            break
        name = token.name
        if skipping is not None:
            if skipping in ("svg", "math") and ends_foreign_content(token):
                skipping = None
            else:
                if name == skipping and not token.self_closing:
                    skip_depth += -1 if token.end else 1
                    if skip_depth == 0:
                        skipping = None
                tokenizer.foreign = skipping in ("svg", "math")
                continue
            tokenizer.foreign = False
        if name in _DROP_WITH_CONTENT:
            if not token.end and not token.self_closing:
                skipping, skip_depth = name, 1
                tokenizer.foreign = name in ("svg", "math")
            continue
        if name in _DROP_RAW_TEXT or name in ("html", "head"):
            continue
        if name in ("xmp", "plaintext"):
            token = Tag("pre", end=token.end)
            name = "pre"
        if name == "body":
            if not token.end and len(state.stack) < MAX_DEPTH:
                state.elements += 1
                state.out.append(_body_as_div(token))
                state.push("div")
            continue
        if name not in ALLOWED_TAGS:
            if name in _BLOCKISH:
                state.out.append("\n")
            continue
        if token.end:
            state.end(name)
        else:
            state.start(token)
    return "".join(state.out), state.styles
