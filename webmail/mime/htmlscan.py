"""A linear HTML tokenizer: tags, text and raw-text content, without building a tree.

It follows the WHATWG tokenizer closely enough to agree with browsers on ordinary and on broken
mail HTML, and it is regex-driven so that hostile input (a million ``<``, unterminated quotes,
100,000 attributes) costs time linear in its length. It is not a sanitiser: its output is only
ever used as text, or handed to html5lib and bleach, which decide what is safe.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from html.entities import html5 as _ENTITIES

MAX_ATTRIBUTES = 64

# Elements whose content is not markup (the tokenizer's RCDATA, RAWTEXT and PLAINTEXT states).
RAW_TEXT_ELEMENTS = frozenset(
    {"script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes", "plaintext"}
)
VOID_ELEMENTS = frozenset(
    {
        "area",
        "base",
        "basefont",
        "bgsound",
        "br",
        "col",
        "embed",
        "frame",
        "hr",
        "image",
        "img",
        "input",
        "keygen",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    }
)


class Tag:
    """A start or end tag. Attributes are parsed on first use: most callers never need them."""

    __slots__ = ("_attrs", "attr_source", "end", "name")

    def __init__(self, name: str, *, end: bool, attr_source: str = "") -> None:
        self.name = name  # lower-case
        self.end = end
        self.attr_source = attr_source
        self._attrs: list[tuple[str, str]] | None = None

    @property
    def self_closing(self) -> bool:
        return self.attr_source.rstrip("\t\n\f\r ").endswith("/")

    @property
    def attrs(self) -> list[tuple[str, str]]:
        """Lower-case names and values as written (entities not decoded), at most
        MAX_ATTRIBUTES of them, in source order."""
        if self._attrs is None:
            self._attrs = _parse_attributes(self.attr_source) if self.attr_source else []
        return self._attrs

    def __repr__(self) -> str:
        return f"Tag({'/' if self.end else ''}{self.name}{self.attr_source})"


# Tags that end SVG/MathML content in the HTML parser ("breakout"), back to HTML.
FOREIGN_BREAKOUT = frozenset(
    {"b", "big", "blockquote", "body", "br", "center", "code", "dd", "div", "dl", "dt", "em"}
    | {"embed", "h1", "h2", "h3", "h4", "h5", "h6", "head", "hr", "i", "img", "li", "listing"}
    | {"menu", "meta", "nobr", "ol", "p", "pre", "ruby", "s", "small", "span", "strong"}
    | {"strike", "sub", "sup", "table", "tt", "u", "ul", "var"}
)


def ends_foreign_content(tag: Tag) -> bool:
    """Whether ``tag``, met inside SVG or MathML, returns the HTML parser to HTML."""
    if tag.end:
        return tag.name in ("p", "br")
    if tag.name == "font":
        return any(name in ("color", "face", "size") for name, _ in tag.attrs)
    return tag.name in FOREIGN_BREAKOUT


@dataclass(slots=True)
class RawText:
    """The content of a raw-text element, right after its start tag."""

    element: str
    text: str


Token = str | Tag | RawText  # a str is a run of text, entities not decoded

_MARKUP_RE = re.compile(r"<(?:/?[A-Za-z]|(!--)|[!?]|/)")
# A whole tag. Every quantifier is possessive, so a tag left open by an unterminated quote fails
# in one linear scan instead of backtracking; a quote only opens a value right after "=".
_TAG_RE = re.compile(
    r"<(/?)([A-Za-z][^\t\n\f\r />]*+)"
    r"((?:[\t\n\f\r /]++|[^\t\n\f\r />=\"']++|=[\t\n\f\r ]*+"
    r"(?:\"[^\"]*+\"?|'[^']*+'?|[^\t\n\f\r >]*+)|[\"'])*+)>"
)
_COMMENT_END_RE = re.compile(r"--!?>")
_ATTRIBUTE_RE = re.compile(
    r"[\t\n\f\r /]*([^\t\n\f\r />][^\t\n\f\r />=]*)"
    r"(?:[\t\n\f\r ]*=[\t\n\f\r ]*(\"[^\"]*\"?|'[^']*'?|[^\t\n\f\r >]*))?"
)
_RAW_TEXT_END_RES = {
    name: re.compile(rf"</{name}[\t\n\f\r />]", re.IGNORECASE) for name in RAW_TEXT_ELEMENTS
}


def _unquote(value: str | None) -> str:
    if not value:
        return ""
    if value[0] in "\"'":
        return value[1:-1] if len(value) > 1 and value[-1] == value[0] else value[1:]
    return value


def _parse_attributes(source: str) -> list[tuple[str, str]]:
    attrs: list[tuple[str, str]] = []
    pos = 0
    while len(attrs) < MAX_ATTRIBUTES:
        attribute = _ATTRIBUTE_RE.match(source, pos)
        if attribute is None or attribute.end() == pos:
            break
        attrs.append((attribute.group(1).lower(), _unquote(attribute.group(2))))
        pos = attribute.end()
    return attrs


class Tokenizer:
    """Iterates over the tokens of ``source``; ``pos`` is where the last token yielded ends, so a
    caller that stops early knows what it did not read."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.pos = 0
        # Set by the caller while inside SVG or MathML, where <style> or <textarea> are
        # ordinary elements: their content is markup, not raw text.
        self.foreign = False

    def __iter__(self) -> Iterator[Token]:
        """Text runs, tags and raw-text contents; comments, doctypes and PIs are skipped.

        A tag cut off by the end of the input is dropped with everything after it, as browsers
        do.
        """
        source = self.source
        length = len(source)
        search = _MARKUP_RE.search
        match_tag = _TAG_RE.match
        pos = self.pos
        while pos < length:
            markup = search(source, pos)
            if markup is None:
                self.pos = length
                yield source[pos:]
                return
            start = markup.start()
            if start > pos:
                self.pos = start
                yield source[pos:start]
            if source[start + 1] in "!?" or (
                markup.end() - start == 2 and source[start + 1] == "/"
            ):
                pos = self.pos = _skip_comment_like(source, markup)
                continue
            tag_match = match_tag(source, start)
            if tag_match is None:
                self.pos = length
                return  # end of input inside a tag
            pos = self.pos = tag_match.end()
            name = tag_match.group(2).lower()
            is_end = bool(tag_match.group(1))
            yield Tag(name, end=is_end, attr_source=tag_match.group(3))
            if not is_end and name in RAW_TEXT_ELEMENTS and not self.foreign:
                if name == "plaintext":
                    self.pos = length
                    yield RawText(name, source[pos:])
                    return
                close = _RAW_TEXT_END_RES[name].search(source, pos)
                stop = length if close is None else close.start()
                self.pos = stop
                yield RawText(name, source[pos:stop])
                pos = stop


def tokenize(source: str) -> Iterator[Token]:
    """The tokens of ``source``; see ``Tokenizer``."""
    return iter(Tokenizer(source))


def _skip_comment_like(source: str, match: re.Match[str]) -> int:
    if match.group(1):  # <!-- comment -->, including the abrupt <!--> and <!--->
        after = match.end()
        if source.startswith(">", after):
            return after + 1
        if source.startswith("->", after):
            return after + 2
        end = _COMMENT_END_RE.search(source, after)
        return len(source) if end is None else end.end()
    close = source.find(">", match.end())  # doctype, <![CDATA[, <?pi?>, </ junk>: bogus comment
    return len(source) if close < 0 else close + 1


_STRIP_RAW_RE = re.compile(
    r"<(script|style|title|textarea|iframe|noembed|noframes|xmp|svg|math|template)\b"
    r".*?(?:</\1\s*>|\Z)",
    re.IGNORECASE | re.DOTALL,
)
_STRIP_COMMENT_RE = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
_STRIP_TAG_RE = re.compile(r"</?[A-Za-z!?][^>]*+>?")
# Applied in this order each pattern is linear: no match can fail after consuming a long run.
_SPACE_RUN_RE = re.compile(r"[ \t\r\f]+")
_LINE_BREAK_RUN_RE = re.compile(r" ?\n[ \n]*")


def strip_tags_fast(source: str) -> str:
    """Markup removed with three C-level substitutions: the text of a document too big to
    tokenize in full. Coarser than ``tokenize`` (entities are left as written)."""
    source = _STRIP_RAW_RE.sub(" ", source)
    source = _STRIP_COMMENT_RE.sub(" ", source)
    source = _STRIP_TAG_RE.sub(" ", source)
    return _LINE_BREAK_RUN_RE.sub("\n", _SPACE_RUN_RE.sub(" ", source))


_TEXT_CHARREF_RE = re.compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)")
_ATTR_CHARREF_RE = re.compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[A-Za-z][A-Za-z0-9]{0,31};?)")


def unescape_text(text: str, limit: int = 1_000_000) -> str:
    """Decode character references in text as browsers do; at most ``limit`` of them."""
    if "&" not in text:
        return text
    return _TEXT_CHARREF_RE.sub(lambda m: html.unescape(m.group()), text, count=limit)


def unescape_attribute(value: str, limit: int = 10_000) -> str:
    """Decode character references in an attribute value.

    Unlike in text, a named reference without ``;`` is left alone unless it is a whole legacy
    name (so ``?a=1&copy=2`` keeps its ``&copy``), per the HTML attribute-value rules.
    """
    if "&" not in value:
        return value

    def replace(match: re.Match[str]) -> str:
        ref = match.group(1)
        if ref[0] == "#" or ref.endswith(";"):
            if ref[0] != "#" and ref not in _ENTITIES:
                return match.group()
            return html.unescape(match.group())
        if ref in _ENTITIES and not value.startswith("=", match.end()):
            return _ENTITIES[ref]
        return match.group()

    return _ATTR_CHARREF_RE.sub(replace, value, count=limit)
