"""Turn mail HTML into HTML that is safe to show, and plain text into HTML.

``clean_html`` runs in four steps, each with a bound on its cost:

1. ``tidy_html`` (tidy.py, linear): drop what never survives, cap depth, element count and
   attributes, collect ``<style>`` blocks, decode character references. After it, nothing that
   makes html5lib superlinear reaches html5lib.
2. html5lib (bleach's parser) builds a tree; simple ``<style>`` rules are inlined into
   ``style`` attributes (css.py).
3. bleach's sanitizer filter applies the allowlist (allowlist.py) of tags, attributes and
   protocols, with ``MailCSSSanitizer`` checking CSS values as well as properties.
4. ``_url_filter`` applies the mail policy (``UrlPolicy``) to links and images: cid: rewriting,
   remote blocking or proxying, data: images; links get ``rel`` and ``target``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote
from xml.etree.ElementTree import Element

from bleach import html5lib_shim
from bleach.css_sanitizer import CSSSanitizer
from bleach.sanitizer import BleachSanitizerFilter, Cleaner

from webmail.mime.allowlist import ALLOWED_ATTRIBUTES, ALLOWED_TAGS, LINK_REL
from webmail.mime.css import ALLOWED_PROPERTIES, inline_styles, parse_stylesheet
from webmail.mime.css import sanitize_declarations as _sanitize_declarations
from webmail.mime.htmlscan import VOID_ELEMENTS
from webmail.mime.tidy import (
    PLACEHOLDER_AMP,
    decoded_attribute,
    escape_attribute,
    restore_placeholders,
    tidy_html,
)

if TYPE_CHECKING:
    from html5lib.treewalkers.base import TreeWalker

MAX_CSS_CHARS = 200_000  # CSS parsed for style attributes per document (cache misses)
MAX_CSS_OUTPUT_CHARS = 2_000_000  # style attribute text written per document

# What bleach lets through its own URI check; _url_filter then decides per attribute.
_BLEACH_PROTOCOLS = frozenset({"http", "https", "mailto", "cid", "data"})


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
            if child.tail:  # comment or foreign element: tidy_html removed them, but be safe
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
            result = _sanitize_declarations(decoded_attribute(style), self.urls.css_image)
            result = result.replace("&", PLACEHOLDER_AMP)
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
        value = decoded_attribute(raw)
        if name == "href":
            link = urls.link(value)
            if link is None:
                continue
            value, linked = link, not link.startswith("#")
        elif name in ("src", "background"):
            loaded, blocked = urls.image(value)
            if blocked is not None:
                out[(None, f"data-remote-{name}")] = escape_attribute(blocked)
            if loaded is None:
                continue
            value = loaded
        elif _SCRIPTY_RE.search(_scheme_view(value)) or _MARKUP_IN_VALUE_RE.search(value):
            continue  # harmless once escaped, but only ever seen in injection attempts
        out[key] = escape_attribute(value)
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
        tidy, styles = tidy_html(text)
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
        return restore_placeholders(self.serializer.render(_url_filter(iter(sanitized), self.urls)))


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
