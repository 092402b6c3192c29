"""CSS in mail: which declarations may stay, and inlining simple ``<style>`` rules.

bleach's CSSSanitizer checks property names only; values are checked here too: a value may use
only known-harmless functions, ``url()`` goes through the caller's rewriter (which refuses or
proxies it), and scripting leftovers (``expression(``, ``javascript:``) drop the declaration.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element

import tinycss2  # type: ignore[import-untyped]

UrlRewriter = Callable[[str], str | None]

MAX_STYLE_CHARS = 16_384  # one style attribute, or one rule's declarations
MAX_STYLE_OUTPUT_CHARS = 4_096  # one sanitised style attribute
MAX_STYLESHEET_CHARS = 96 * 1024
MAX_RULES = 2_000
MAX_BRACKETS = 200  # tinycss2 recurses per nesting level
MAX_APPLICATIONS = 100_000  # (element, rule) pairs when inlining

ALLOWED_PROPERTIES = frozenset(
    {
        "background",
        "background-color",
        "background-image",
        "background-position",
        "background-repeat",
        "background-size",
        "border",
        "border-bottom",
        "border-bottom-color",
        "border-bottom-left-radius",
        "border-bottom-right-radius",
        "border-bottom-style",
        "border-bottom-width",
        "border-collapse",
        "border-color",
        "border-left",
        "border-left-color",
        "border-left-style",
        "border-left-width",
        "border-radius",
        "border-right",
        "border-right-color",
        "border-right-style",
        "border-right-width",
        "border-spacing",
        "border-style",
        "border-top",
        "border-top-color",
        "border-top-left-radius",
        "border-top-right-radius",
        "border-top-style",
        "border-top-width",
        "border-width",
        "box-sizing",
        "caption-side",
        "clear",
        "color",
        "direction",
        "display",
        "empty-cells",
        "float",
        "font",
        "font-family",
        "font-size",
        "font-style",
        "font-variant",
        "font-weight",
        "height",
        "hyphens",
        "letter-spacing",
        "line-height",
        "list-style",
        "list-style-image",
        "list-style-position",
        "list-style-type",
        "margin",
        "margin-bottom",
        "margin-left",
        "margin-right",
        "margin-top",
        "max-height",
        "max-width",
        "min-height",
        "min-width",
        "opacity",
        "overflow",
        "overflow-wrap",
        "overflow-x",
        "overflow-y",
        "padding",
        "padding-bottom",
        "padding-left",
        "padding-right",
        "padding-top",
        "position",
        "table-layout",
        "text-align",
        "text-decoration",
        "text-decoration-color",
        "text-decoration-line",
        "text-decoration-style",
        "text-indent",
        "text-transform",
        "unicode-bidi",
        "vertical-align",
        "visibility",
        "white-space",
        "width",
        "word-break",
        "word-spacing",
        "word-wrap",
    }
)
# position: fixed/absolute/sticky would let a mail lay itself over the reader's own interface.
_POSITION_VALUES = frozenset({"static", "relative"})
_ALLOWED_FUNCTIONS = frozenset(
    {
        "rgb",
        "rgba",
        "hsl",
        "hsla",
        "hwb",
        "calc",
        "min",
        "max",
        "clamp",
        "linear-gradient",
        "radial-gradient",
        "repeating-linear-gradient",
        "repeating-radial-gradient",
    }
)
_SCRIPTY_RE = re.compile(r"javascript:|vbscript:|livescript:|expression\(|-moz-binding|behavior")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def _scripty(text: str) -> bool:
    squashed = re.sub(r"[\s\\\x00-\x1f]+", "", text).lower()
    return bool(_SCRIPTY_RE.search(squashed))


def css_url(url: str) -> str:
    """``url("...")`` with the URL escaped as a CSS string."""
    escaped = url.replace("\\", "\\\\").replace('"', '\\"')
    return 'url("' + _CONTROL_RE.sub("", escaped) + '")'


def _too_nested(css: str) -> bool:
    return sum(css.count(bracket) for bracket in "([{") > MAX_BRACKETS


def sanitize_declarations(css: str, rewrite_url: UrlRewriter) -> str:
    """The allowed declarations of a style attribute, re-serialised; ``""`` if none survive."""
    if len(css) > MAX_STYLE_CHARS:
        css = css[: max(0, css.rfind(";", 0, MAX_STYLE_CHARS))]
    if not css.strip() or _too_nested(css):
        return ""
    # Later declarations override earlier ones, except over !important: keep one per property.
    kept: dict[str, tuple[str, bool]] = {}
    for declaration in tinycss2.parse_declaration_list(
        css, skip_comments=True, skip_whitespace=True
    ):
        if declaration.type != "declaration":
            continue  # at-rules and parse errors inside a style attribute
        name = str(declaration.lower_name)
        if name not in ALLOWED_PROPERTIES:
            continue
        value = _checked_value(declaration.value, rewrite_url)
        if value is None or not value.strip():
            continue
        value = " ".join(value.split())
        if name == "position" and value.lower() not in _POSITION_VALUES:
            continue
        important = bool(declaration.important)
        if name in kept and kept[name][1] and not important:
            continue
        kept.pop(name, None)  # re-insert, so the order of the survivors is the source order
        kept[name] = (value, important)
    out: list[str] = []
    size = 0
    for name, (value, important) in kept.items():
        declaration_text = f"{name}: {value}{' !important' if important else ''}"
        size += len(declaration_text) + 2
        if size > MAX_STYLE_OUTPUT_CHARS:
            break
        out.append(declaration_text)
    return "; ".join(out)


def _checked_value(nodes: Iterable[Any], rewrite_url: UrlRewriter) -> str | None:
    """Serialise component values, or None if anything in them is not allowed."""
    parts: list[str] = []
    for node in nodes:
        kind = node.type
        if kind == "comment":
            continue
        if kind == "whitespace":
            parts.append(" ")
        elif kind == "url":
            rewritten = rewrite_url(str(node.value))
            if rewritten is None:
                return None
            parts.append(css_url(rewritten))
        elif kind == "function":
            name = str(node.lower_name)
            if name == "url":
                argument = _single_string(node.arguments)
                rewritten = rewrite_url(argument) if argument is not None else None
                if rewritten is None:
                    return None
                parts.append(css_url(rewritten))
                continue
            if name not in _ALLOWED_FUNCTIONS:
                return None
            inner = _checked_value(node.arguments, rewrite_url)
            if inner is None:
                return None
            parts.append(f"{name}({inner})")
        elif kind in ("() block", "[] block"):
            inner = _checked_value(node.content, rewrite_url)
            if inner is None:
                return None
            parts.append(f"({inner})" if kind == "() block" else f"[{inner}]")
        elif kind in ("string", "ident"):
            if _scripty(str(node.value)):
                return None
            parts.append(str(node.serialize()))
        elif kind in ("number", "percentage", "dimension", "hash", "literal", "unicode-range"):
            parts.append(str(node.serialize()))
        else:  # {} block, at-keyword, error: nothing a declaration value needs
            return None
    return "".join(parts)


def _single_string(nodes: Iterable[Any]) -> str | None:
    values = [node for node in nodes if node.type not in ("whitespace", "comment")]
    if len(values) == 1 and values[0].type == "string":
        return str(values[0].value)
    return None


# Inlining <style> blocks.


@dataclass(frozen=True, slots=True)
class Selector:
    """A compound selector of at most a type, one id and classes: ``td``, ``.x``, ``p#a.b``."""

    tag: str | None
    element_id: str | None
    classes: tuple[str, ...]

    @property
    def specificity(self) -> tuple[int, int, int]:
        return (1 if self.element_id else 0, len(self.classes), 1 if self.tag else 0)

    def matches(self, element: Element, classes: frozenset[str]) -> bool:
        if self.tag is not None and element.tag != self.tag:
            return False
        if self.element_id is not None and element.get("id") != self.element_id:
            return False
        return all(name in classes for name in self.classes)


@dataclass(frozen=True, slots=True)
class StyleRule:
    selectors: tuple[Selector, ...]
    declarations: str
    order: int


_COMPOUND_RE = re.compile(r"([a-zA-Z][a-zA-Z0-9-]*|\*)?((?:[.#]-?[_a-zA-Z][-_a-zA-Z0-9]*)*)")
_PIECE_RE = re.compile(r"([.#])(-?[_a-zA-Z][-_a-zA-Z0-9]*)")


def _parse_selector(text: str) -> Selector | None:
    match = _COMPOUND_RE.fullmatch(text.strip())
    if match is None or not (match.group(1) or match.group(2)):
        return None
    tag = match.group(1)
    ids = [name for kind, name in _PIECE_RE.findall(match.group(2)) if kind == "#"]
    classes = tuple(name for kind, name in _PIECE_RE.findall(match.group(2)) if kind == ".")
    if len(ids) > 1:
        return None
    return Selector(
        tag=None if tag in (None, "*") else tag.lower(),
        element_id=ids[0] if ids else None,
        classes=classes,
    )


def _max_nesting(css: str) -> int:
    depth = deepest = 0
    for bracket in re.finditer(r"[(){}\[\]]", css):
        depth += 1 if bracket.group() in "({[" else -1
        deepest = max(deepest, depth)
    return deepest


def parse_stylesheet(css: str) -> list[StyleRule]:
    """Rules with simple selectors from a ``<style>`` block. At-rules (``@media``, ``@import``,
    ``@font-face``) and rules with combinators, pseudo-classes or attribute selectors are
    ignored: inlining them would apply mobile or hover styles unconditionally."""
    css = css[:MAX_STYLESHEET_CHARS]
    if _max_nesting(css) > 20:
        return []
    rules: list[StyleRule] = []
    parsed = tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True)
    for order, rule in enumerate(parsed[:MAX_RULES]):
        if rule.type != "qualified-rule":
            continue
        prelude = str(tinycss2.serialize(rule.prelude))
        selectors = [_parse_selector(piece) for piece in prelude.split(",")]
        simple = tuple(s for s in selectors if s is not None)
        declarations = str(tinycss2.serialize(rule.content)).strip()
        if simple and declarations and len(declarations) <= MAX_STYLE_CHARS:
            rules.append(StyleRule(simple, declarations, order))
    return rules


def inline_styles(root: Element, rules: list[StyleRule]) -> None:
    """Prepend matching rules' declarations to each element's ``style`` attribute, ordered by
    specificity then source order, so the element's own style still wins."""
    if not rules:
        return
    elements = [element for element in root.iter() if isinstance(element.tag, str)]
    by_tag: dict[str, list[Element]] = defaultdict(list)
    by_id: dict[str, list[Element]] = defaultdict(list)
    by_class: dict[str, list[Element]] = defaultdict(list)
    classes_of: dict[Element, frozenset[str]] = {}
    for element in elements:
        by_tag[str(element.tag)].append(element)
        element_id = element.get("id")
        if element_id:
            by_id[element_id].append(element)
        classes = frozenset((element.get("class") or "").split())
        classes_of[element] = classes
        for name in classes:
            by_class[name].append(element)
    matched: dict[Element, list[tuple[tuple[int, int, int], int, str]]] = defaultdict(list)
    sizes: dict[Element, int] = defaultdict(int)
    budget = MAX_APPLICATIONS
    for rule in rules:
        for selector in rule.selectors:
            if selector.element_id is not None:
                candidates = by_id.get(selector.element_id, [])
            elif selector.classes:
                candidates = by_class.get(selector.classes[0], [])
            elif selector.tag is not None:
                candidates = by_tag.get(selector.tag, [])
            else:
                candidates = elements
            for element in candidates:
                if budget <= 0:
                    break
                if not selector.matches(element, classes_of[element]):
                    continue
                if sizes[element] + len(rule.declarations) > MAX_STYLE_CHARS:
                    continue
                budget -= 1
                sizes[element] += len(rule.declarations)
                matched[element].append((selector.specificity, rule.order, rule.declarations))
    for element, entries in matched.items():
        entries.sort(key=lambda entry: (entry[0], entry[1]))
        own = element.get("style")
        declarations = [entry[2].rstrip("; ") for entry in entries]
        if own:
            declarations.append(own)
        element.set("style", "; ".join(declarations))
