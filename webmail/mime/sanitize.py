"""Turn mail HTML into HTML that is safe to show, and plain text into HTML.

``clean_html`` runs in four steps, each with a bound on its cost:

1. ``_tidy`` (linear, regex-driven): cut the input at MAX_INPUT_CHARS, drop scripts, comments,
   SVG/MathML, forms' controls and other unwanted elements with their content, collect
   ``<style>`` blocks, cap nesting depth, element count and attributes per element, and decode
   character references into placeholder-escaped text. html5lib is pure Python and superlinear
   on deep nesting, on unclosed formatting elements and on many ``&`` in one text run; after
   this step none of those reach it.
2. html5lib (bleach's parser) builds a tree; simple ``<style>`` rules are inlined into
   ``style`` attributes (css.py).
3. bleach's sanitizer filter applies the allowlist of tags, attributes and protocols, with
   ``MailCSSSanitizer`` checking CSS values as well as properties.
4. ``_UrlFilter`` applies the mail policy to links and images (cid: rewriting, remote blocking
   or proxying, data: images) and adds ``rel``/``target`` to links.

Placeholders: ``&``, ``<`` and ``"`` in decoded text and attribute values travel through html5lib
as private-use characters and are turned into ``&amp;``, ``&lt;`` and ``&quot;`` at the very
end, so html5lib never tokenizes one character reference at a time.
"""

from __future__ import annotations

import html
import re
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote
from xml.etree.ElementTree import Element

from bleach import html5lib_shim
from bleach.css_sanitizer import CSSSanitizer
from bleach.sanitizer import BleachSanitizerFilter, Cleaner

from webmail.mime.css import ALLOWED_PROPERTIES, css_url, inline_styles, parse_stylesheet
from webmail.mime.css import sanitize_declarations as _sanitize_declarations
from webmail.mime.htmlscan import (
    VOID_ELEMENTS,
    RawText,
    Tag,
    Tokenizer,
    strip_tags_fast,
    unescape_attribute,
    unescape_text,
)

if TYPE_CHECKING:
    from html5lib.treewalkers.base import TreeWalker

MAX_INPUT_CHARS = 5_000_000
MAX_TAGS = 100_000  # tags read by _tidy, kept or not; after that, the rest is kept as text
MAX_ELEMENTS = 12_000  # elements handed to html5lib; after that, the rest is kept as text
MAX_DEPTH = 100
MAX_CHARREFS = 200_000
MAX_FOSTERED = 200
TEXT_CHUNK = 8_192
MAX_STYLE_BLOCK_CHARS = 256 * 1024
MAX_CSS_CHARS = 250_000  # CSS parsed for style attributes per document (cache misses)
MAX_CSS_OUTPUT_CHARS = 2_000_000  # style attribute text written per document

LINK_REL = "noopener noreferrer nofollow"

ALLOWED_TAGS = frozenset(
    {
        "a",
        "abbr",
        "acronym",
        "address",
        "article",
        "aside",
        "b",
        "bdi",
        "bdo",
        "big",
        "blockquote",
        "br",
        "caption",
        "center",
        "cite",
        "code",
        "col",
        "colgroup",
        "dd",
        "del",
        "details",
        "dfn",
        "div",
        "dl",
        "dt",
        "em",
        "figcaption",
        "figure",
        "font",
        "footer",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "i",
        "img",
        "ins",
        "kbd",
        "li",
        "main",
        "mark",
        "nav",
        "ol",
        "p",
        "pre",
        "q",
        "rp",
        "rt",
        "ruby",
        "s",
        "samp",
        "section",
        "small",
        "span",
        "strike",
        "strong",
        "sub",
        "summary",
        "sup",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "time",
        "tr",
        "tt",
        "u",
        "ul",
        "var",
        "wbr",
    }
)
_GLOBAL_ATTRIBUTES = [
    "align",
    "bgcolor",
    "class",
    "dir",
    "height",
    "id",
    "lang",
    "style",
    "title",
    "valign",
    "width",
]
_CELL_ATTRIBUTES = [
    "abbr",
    "axis",
    "background",
    "colspan",
    "headers",
    "nowrap",
    "rowspan",
    "scope",
]
ALLOWED_ATTRIBUTES: dict[str, list[str]] = {
    "*": _GLOBAL_ATTRIBUTES,
    "a": ["href", "name"],
    "img": ["src", "alt", "border", "hspace", "vspace"],
    "table": ["background", "border", "cellpadding", "cellspacing", "frame", "rules", "summary"],
    "td": _CELL_ATTRIBUTES,
    "th": _CELL_ATTRIBUTES,
    "tr": ["background"],
    "div": ["background"],
    "col": ["span"],
    "colgroup": ["span"],
    "font": ["color", "face", "size"],
    "ol": ["start", "type", "reversed"],
    "ul": ["type"],
    "li": ["type", "value"],
    "hr": ["color", "noshade", "size"],
    "br": ["clear"],
    "del": ["datetime"],
    "ins": ["datetime"],
    "time": ["datetime"],
}
_GLOBAL_ATTRIBUTE_SET = frozenset(_GLOBAL_ATTRIBUTES)
_ALLOWED_ATTRIBUTE_SETS = {
    tag: _GLOBAL_ATTRIBUTE_SET | set(names) for tag, names in ALLOWED_ATTRIBUTES.items()
}
# What bleach lets through its own URI check; _UrlFilter then decides per attribute.
_BLEACH_PROTOCOLS = frozenset({"http", "https", "mailto", "cid", "data"})

# Dropped together with everything inside them (what is inside is not text a reader sees).
_DROP_WITH_CONTENT = frozenset({"datalist", "frameset", "math", "select", "svg", "template"})
# Tags that end SVG/MathML content in the HTML parser ("breakout"): skipping stops there.
_FOREIGN_BREAKOUT = frozenset(
    {"b", "big", "blockquote", "body", "br", "center", "code", "dd", "div", "dl", "dt", "em"}
    | {"embed", "h1", "h2", "h3", "h4", "h5", "h6", "head", "hr", "i", "img", "li", "listing"}
    | {"menu", "meta", "nobr", "ol", "p", "pre", "ruby", "s", "small", "span", "strong"}
    | {"strike", "sub", "sup", "table", "tt", "u", "ul", "var"}
)
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

_AMP, _LT, _QUOT = "\ue000", "\ue001", "\ue002"
_PLACEHOLDERS_RE = re.compile(f"[{_AMP}{_LT}{_QUOT}]")


def _no_placeholders(text: str) -> str:
    return _PLACEHOLDERS_RE.sub("\ufffd", text)


def _escape_text(text: str) -> str:
    return _no_placeholders(text).replace("&", _AMP).replace("<", _LT)


def _escape_attribute(value: str) -> str:
    return _no_placeholders(value).replace("&", _AMP).replace('"', _QUOT)


def _decoded(value: str) -> str:
    """An attribute value as the browser will see it (placeholders back to characters)."""
    return value.replace(_AMP, "&").replace(_QUOT, '"').replace(_LT, "<")


def _restore(output: str) -> str:
    return output.replace(_AMP, "&amp;").replace(_LT, "&lt;").replace(_QUOT, "&quot;")


# Step 1: tidy.


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
    """State of one pass of ``_tidy``: output pieces and a model of html5lib's open elements."""

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
    allowed = _ALLOWED_ATTRIBUTE_SETS.get(name, _GLOBAL_ATTRIBUTE_SET)
    parts = [f"<{name}"]
    seen: set[str] = set()
    for attr, value in tag.attrs:
        if attr in allowed and attr not in seen:
            seen.add(attr)
            parts.append(f' {attr}="{_escape_attribute(unescape_attribute(value))}"')
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


def _breaks_out(skipping: str, tag: Tag) -> bool:
    """Whether ``tag`` ends the SVG or MathML content being skipped, as in the HTML parser."""
    if skipping not in ("svg", "math"):
        return False
    if tag.end:
        return tag.name in ("p", "br")
    if tag.name == "font":
        return any(name in ("color", "face", "size") for name, _ in tag.attrs)
    return tag.name in _FOREIGN_BREAKOUT


def _tidy(source: str) -> tuple[str, list[str]]:
    """Step 1 (see module docstring): the HTML for html5lib, and the text of style blocks."""
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
            if _breaks_out(skipping, token):
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


# Step 2 and 3 glue: walking html5lib's tree without its quadratic etree walker.


def _tree_tokens(root: Element) -> Iterator[dict[str, Any]]:
    """html5lib tree-walker tokens for an etree fragment, in linear time and without recursion
    (html5lib's own etree walker finds siblings with list.index: quadratic in their number)."""
    if root.text:
        yield {"type": "Characters", "data": root.text}
    stack: list[tuple[Element, Iterator[Element]]] = [(root, iter(root))]
    while stack:
        parent, children = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            if stack:
                yield {"type": "EndTag", "name": parent.tag, "namespace": None}
                if parent.tail:
                    yield {"type": "Characters", "data": parent.tail}
            continue
        tag = child.tag
        if not isinstance(tag, str) or tag.startswith("{"):
            if child.tail:  # comment or foreign element: _tidy removed them, but be safe
                yield {"type": "Characters", "data": child.tail}
            continue
        attrs = {(None, key): value for key, value in child.attrib.items() if "{" not in key}
        if tag in VOID_ELEMENTS:
            yield {"type": "EmptyTag", "name": tag, "namespace": None, "data": attrs}
            if child.tail:
                yield {"type": "Characters", "data": child.tail}
            continue
        yield {"type": "StartTag", "name": tag, "namespace": None, "data": attrs}
        if child.text:
            yield {"type": "Characters", "data": child.text}
        stack.append((child, iter(child)))


# Step 3 and 4: URL policy, CSS and the filter.


_URL_NOISE_RE = re.compile(r"[\x00-\x20\x7f-\xa0`\s]+")
_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]")
_DATA_IMAGE_RE = re.compile(r"data:image/(?:png|gif|jpeg|jpg|pjpeg|webp)[;,]")
_SCRIPTY_RE = re.compile(r"(?:java|vb|live)script:|data:text/html")
_MARKUP_IN_VALUE_RE = re.compile(r"<[A-Za-z/!?]")


def _scheme_view(url: str) -> str:
    """Enough of a URL's start, normalised as browsers read it, to tell its scheme."""
    head = url.lstrip("\x00\t\n\f\r \x0b\x1c\x1d\x1e\x1f")[:256]
    return _NON_ASCII_RE.sub("", _URL_NOISE_RE.sub("", head)).lower()


@dataclass(frozen=True)
class UrlPolicy:
    """What may be loaded or linked: the mail policy behind ``clean_html``'s arguments."""

    cid_urls: Mapping[str, str] | None = None
    allow_remote: bool = False
    proxy_url: Callable[[str], str] | None = None
    _cids_folded: dict[str, str] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        for cid, url in (self.cid_urls or {}).items():
            self._cids_folded.setdefault(cid.strip("<> ").lower(), url)

    def link(self, url: str) -> str | None:
        """href: http, https, mailto and in-page anchors; nothing relative to our own site."""
        view = _scheme_view(url)
        if view.startswith(("http:", "https:", "mailto:", "//")) or view.startswith("#"):
            return url.strip()
        return None

    def image(self, url: str) -> tuple[str | None, str | None]:
        """``(url to load, blocked remote original)`` for an image source."""
        view = _scheme_view(url)
        cleaned = url.strip()
        if view.startswith("cid:"):
            cid = unquote(cleaned.split(":", 1)[1]).strip().strip("<>")
            mapped = (self.cid_urls or {}).get(cid) or self._cids_folded.get(cid.lower())
            return mapped, None
        if view.startswith(("http:", "https:", "//")):
            original = "https:" + cleaned if view.startswith("//") else cleaned
            original = re.sub(r"[\t\n\r]", "", original)
            if self.allow_remote and self.proxy_url is not None:
                return self.proxy_url(original), None
            return None, original
        if _DATA_IMAGE_RE.match(view):
            return cleaned, None
        return None, None

    def css_image(self, url: str) -> str | None:
        return self.image(url)[0]


class MailCSSSanitizer(CSSSanitizer):
    """bleach's CSS sanitizer, with values checked too (css.py) and a per-document budget."""

    def __init__(self, urls: UrlPolicy) -> None:
        super().__init__(allowed_css_properties=ALLOWED_PROPERTIES, allowed_svg_properties=())
        self.urls = urls
        self.cache: dict[str, str] = {}
        self.budget = MAX_CSS_CHARS
        self.output_budget = MAX_CSS_OUTPUT_CHARS

    def sanitize_css(self, style: str) -> str:
        result = self.cache.get(style)
        if result is None:
            if self.budget <= 0:
                return ""
            self.budget -= len(style)
            result = _sanitize_declarations(_decoded(style), self.urls.css_image)
            result = result.replace("&", _AMP)
            self.cache[style] = result
        self.output_budget -= len(result)
        return result if self.output_budget >= 0 else ""


def _url_filter(tokens: Iterator[dict[str, Any]], urls: UrlPolicy) -> Iterator[dict[str, Any]]:
    """Step 4: links and images per UrlPolicy, on tokens that passed bleach's sanitizer."""
    for token in tokens:
        if token["type"] in ("StartTag", "EmptyTag"):
            token["data"] = _policed_attributes(token["name"], token.get("data") or {}, urls)
        yield token


def _policed_attributes(
    tag: str, attrs: Mapping[tuple[str | None, str], str], urls: UrlPolicy
) -> dict[tuple[str | None, str], str]:
    out: dict[tuple[str | None, str], str] = {}
    linked = False
    for key, raw in attrs.items():
        name = key[1]
        if name == "style":
            if raw:
                out[key] = raw  # MailCSSSanitizer's output, already in placeholder form
            continue
        value = _decoded(raw)
        if name == "href":
            link = urls.link(value)
            if link is None:
                continue
            value, linked = link, not link.startswith("#")
        elif name in ("src", "background"):
            loaded, blocked = urls.image(value)
            if blocked is not None:
                out[(None, f"data-remote-{name}")] = _escape_attribute(blocked)
            if loaded is None:
                continue
            value = loaded
        elif _SCRIPTY_RE.search(_scheme_view(value)) or _MARKUP_IN_VALUE_RE.search(value):
            continue  # harmless once escaped, but only ever seen in injection attempts
        out[key] = _escape_attribute(value)
    if tag == "a" and linked:
        out[(None, "rel")] = LINK_REL
        out[(None, "target")] = "_blank"
    return out


class MailCleaner(Cleaner):
    """bleach's Cleaner configured for mail, with the bounded pipeline of the module docstring.

    Like bleach's, an instance is not thread-safe; ``clean_html`` makes one per call.
    """

    def __init__(self, urls: UrlPolicy) -> None:
        super().__init__(
            tags=ALLOWED_TAGS,
            attributes=ALLOWED_ATTRIBUTES,
            protocols=_BLEACH_PROTOCOLS,
            strip=True,
            strip_comments=True,
            css_sanitizer=MailCSSSanitizer(urls),
        )
        self.urls = urls
        # tags=None: html5lib must see every tag (bleach's default turns disallowed ones into
        # text before parsing, which would show <style> and <script> contents as text).
        self.parser = html5lib_shim.BleachHTMLParser(
            tags=None, strip=True, consume_entities=False, namespaceHTMLElements=False
        )

    def clean(self, text: str) -> str:
        tidy, styles = _tidy(text)
        if not tidy.strip():
            return ""
        # Inside a wrapper: html5lib loses foster-parented content (text between table rows)
        # when the table is a direct child of the fragment.
        fragment = cast(Element, self.parser.parseFragment(f"<div>{tidy}</div>"))
        root = fragment
        if len(fragment) == 1 and fragment[0].tag == "div" and not fragment.text:
            root = fragment[0]
        if styles:
            inline_styles(root, parse_stylesheet("\n".join(styles)))
        sanitized = BleachSanitizerFilter(
            source=cast("TreeWalker", _tree_tokens(root)),
            allowed_tags=self.tags,
            attributes=self.attributes,
            allowed_protocols=self.protocols,
            strip_disallowed_tags=True,
            strip_html_comments=True,
            css_sanitizer=self.css_sanitizer,
        )
        return _restore(self.serializer.render(_url_filter(iter(sanitized), self.urls)))


def clean_html(
    html: str,
    *,
    cid_urls: Mapping[str, str] | None = None,
    allow_remote: bool = False,
    proxy_url: Callable[[str], str] | None = None,
) -> str:
    """Mail HTML made safe to show in a sandboxed frame.

    ``cid_urls`` maps Content-IDs (without angle brackets) to URLs serving those parts; other
    ``cid:`` references are dropped. Remote images are only ever loaded through ``proxy_url``
    and only when ``allow_remote``; otherwise their ``src`` is removed and kept in
    ``data-remote-src`` (``data-remote-background`` for backgrounds) so the page can offer to
    show them. With one argument, nothing remote and no ``cid:`` reference survives.
    """
    urls = UrlPolicy(cid_urls=cid_urls, allow_remote=allow_remote, proxy_url=proxy_url)
    return MailCleaner(urls).clean(html)


# Plain text.

_LINK_RE = re.compile(
    r"(?i)\b(?:https?://|mailto:|www\.)[^\s<>\"'\x00-\x1f\x7f]+"
    r"|(?<![\w.%+-])[\w.%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"
)
_TRAILING_PUNCTUATION = ".,;:!?'\"*_~"
_QUOTE_PREFIX_RE = re.compile(r"(?:> ?)+")


_CLOSING_BRACKETS = {")": "(", "]": "[", "}": "{"}


def _trim_url(url: str) -> str:
    """Drop trailing punctuation, and closing brackets that do not close one in the URL."""
    end = len(url)
    unmatched = {
        close: url.count(close) - url.count(open_) for close, open_ in _CLOSING_BRACKETS.items()
    }
    while end:
        last = url[end - 1]
        if last in _CLOSING_BRACKETS and unmatched[last] > 0:
            unmatched[last] -= 1
        elif last not in _TRAILING_PUNCTUATION:
            break
        end -= 1
    return url[:end]


def _link_html(found: str) -> str:
    lowered = found.lower()
    if lowered.startswith(("http://", "https://", "mailto:")):
        href = found
    elif lowered.startswith("www."):
        href = "http://" + found
    else:
        href = "mailto:" + found
    return (
        f'<a href="{html.escape(href)}" rel="{LINK_REL}" target="_blank">{html.escape(found)}</a>'
    )


def _linkify(line: str) -> str:
    out: list[str] = []
    pos = 0
    for match in _LINK_RE.finditer(line):
        found = _trim_url(match.group())
        if not found or found.lower() in ("http://", "https://", "mailto:", "www."):
            continue
        out.append(html.escape(line[pos : match.start()], quote=False))
        out.append(_link_html(found))
        pos = match.start() + len(found)
    out.append(html.escape(line[pos:], quote=False))
    return "".join(out)


def _quote_depth(line: str) -> tuple[int, str]:
    match = _QUOTE_PREFIX_RE.match(line)
    if match is None:
        return 0, line
    return match.group().count(">"), line[match.end() :]


def text_to_html(text: str) -> str:
    """Plain text as HTML: escaped, links clickable, ``>`` quotes folded into blockquotes,
    line breaks and spacing kept (``white-space: pre-wrap``), direction left to the browser."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "\ufffd")
    out = ['<div dir="auto" style="white-space: pre-wrap; overflow-wrap: anywhere">']
    depth = 0
    first_in_block = True
    for line in text.split("\n"):
        line_depth, content = _quote_depth(line)
        if line_depth != depth:
            while depth < line_depth:
                out.append("<blockquote>")
                depth += 1
            while depth > line_depth:
                out.append("</blockquote>")
                depth -= 1
            first_in_block = True
        if not first_in_block:
            out.append("\n")
        first_in_block = False
        out.append(_linkify(content))
    out.append("</blockquote>" * depth)
    out.append("</div>")
    return "".join(out)
