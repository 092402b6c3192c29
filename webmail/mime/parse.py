"""Turn a raw message into what a mail client shows: envelope fields, body text/HTML, attachments.

Bounded for hostile input: structure is cut at 30 levels and 1,000 entities (see structure.py),
each text part decodes at most MAX_PART_BYTES, and header values are capped before parsing.
``parse_message`` returns the best partial result it can and never raises.
"""

from __future__ import annotations

import logging
import mimetypes
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from webmail.mime.charsets import decode_bytes
from webmail.mime.flowed import unflow
from webmail.mime.headers import (
    clean_text,
    header_text,
    parse_addresses,
    parse_content_id,
    parse_date,
    parse_header_block,
    parse_message_id,
    parse_references,
    parse_subject,
)
from webmail.mime.htmltext import html_to_text
from webmail.mime.sanitize import text_to_html
from webmail.mime.structure import (
    Entity,
    body_bytes,
    find_entity,
    parse_structure,
    payload,
    prepare,
)
from webmail.mime.transfer import decode_transfer

logger = logging.getLogger(__name__)

MAX_PART_BYTES = 4 * 1024 * 1024  # decoded bytes read from one text part
MAX_BODY_CHARS = 8 * 1024 * 1024  # text (or HTML) of the whole message
MAX_FILENAME_CHARS = 200

Disposition = Literal["inline", "attachment"]


@dataclass(frozen=True, slots=True)
class Attachment:
    """A part that is not shown as the body: a file, an inline image or an attached message."""

    filename: str  # safe to put in Content-Disposition: no path, no control characters
    content_type: str  # lower-case type/subtype
    size: int  # bytes after transfer decoding
    content_id: str | None  # without angle brackets; what cid: URLs in the HTML refer to
    disposition: Disposition
    part_id: str  # IMAP-style section number, e.g. "2" or "1.2"

    def payload(self, raw: bytes) -> bytes | None:
        """The decoded bytes of this attachment in ``raw`` (the message it was parsed from)."""
        return attachment_payload(raw, self.part_id)


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """Envelope, body and attachments of one message. Addresses are ``(name, address)``;
    ``message_id``, ``in_reply_to`` and ``references`` keep their angle brackets."""

    subject: str = ""
    from_: list[tuple[str, str]] = field(default_factory=list)
    to: list[tuple[str, str]] = field(default_factory=list)
    cc: list[tuple[str, str]] = field(default_factory=list)
    reply_to: list[tuple[str, str]] = field(default_factory=list)
    date: datetime | None = None
    message_id: str = ""
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    text: str = ""  # readable text; for HTML-only mail a rendering of the HTML
    html: str | None = None  # the chosen HTML, decoded but NOT sanitised
    text_is_flowed: bool = False  # text came from format=flowed and is already unwrapped
    attachments: list[Attachment] = field(default_factory=list)
    # What was wrong with the message and repaired or cut, e.g. "too_deep", "too_many_parts".
    defects: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Item:
    """One readable body part, or one chosen alternative: its text and/or HTML."""

    text: str | None
    html: str | None
    flowed: bool = False


@dataclass(slots=True)
class _Walk:
    items: list[_Item] = field(default_factory=list)
    attachments: list[Entity] = field(default_factory=list)

    def extend(self, other: _Walk) -> None:
        self.items.extend(other.items)
        self.attachments.extend(other.attachments)


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse ``raw`` (a whole RFC 5322 message). Never raises; see the module docstring."""
    try:
        return _parse(prepare(raw))
    except Exception:  # noqa: BLE001 - a parser bug must degrade to raw text, not a 500 page
        # Runs in web requests and workers on bytes from anyone; every known failure is handled
        # below this line, so reaching here is a bug worth its traceback.
        logger.exception("MIME parse failed; showing the message as plain text")
        return _fallback(bytes(raw))


def _fallback(raw: bytes) -> ParsedMessage:
    try:
        fields, body_start = parse_header_block(raw, 0, len(raw))
        subject = parse_subject(fields.get("subject"))
    except Exception:  # noqa: BLE001 - last resort of the last resort, see parse_message
        body_start, subject = 0, ""
    text = clean_text(decode_bytes(raw[body_start:], None, limit=MAX_PART_BYTES))
    return ParsedMessage(subject=subject, text=text, defects=["parser_error"])


def _parse(raw: bytes) -> ParsedMessage:
    root = parse_structure(raw)
    fields = root.fields
    hint = root.charset
    walk = _walk(raw, root)
    defects = _defects(root)
    items = walk.items
    text, html, flowed = _join_text(items), _join_html(items), any(i.flowed for i in items)
    if len(text) > MAX_BODY_CHARS:
        text = text[:MAX_BODY_CHARS]
        defects.append("text_truncated")
    if html is not None and len(html) > MAX_BODY_CHARS:
        html = html[:MAX_BODY_CHARS]
        defects.append("html_truncated")
    return ParsedMessage(
        subject=parse_subject(fields.get("subject"), hint),
        from_=parse_addresses(fields.get("from"), hint),
        to=parse_addresses(fields.get("to"), hint),
        cc=parse_addresses(fields.get("cc"), hint),
        reply_to=parse_addresses(fields.get("reply-to"), hint),
        date=parse_date(fields.get("date")),
        message_id=parse_message_id(fields.get("message-id")),
        in_reply_to=parse_message_id(fields.get("in-reply-to")),
        references=parse_references(fields.get("references")),
        text=text,
        html=html,
        text_is_flowed=flowed,
        attachments=_attachments(raw, walk.attachments),
        defects=defects,
    )


def _defects(root: Entity) -> list[str]:
    found: list[str] = []
    pending = [root]
    while pending:
        entity = pending.pop()
        found.extend(d for d in entity.defects if d not in found)
        pending.extend(entity.children or ())
    return found


# Choosing the body.


def _walk(raw: bytes, entity: Entity) -> _Walk:
    """Body items and attachments of ``entity``, in document order (recursion depth <= 31)."""
    if entity.opaque:
        return _Walk(attachments=[entity])
    if entity.children is None:
        item = _body_item(raw, entity)
        return _Walk(items=[item]) if item is not None else _Walk(attachments=[entity])
    subtype = entity.content_type.partition("/")[2]
    if subtype == "alternative":
        return _walk_alternative(raw, entity.children)
    if subtype == "related":
        return _walk_related(raw, entity)
    result = _Walk()
    for child in entity.children:
        result.extend(_walk(raw, child))
    return result


def _walk_alternative(raw: bytes, children: list[Entity]) -> _Walk:
    """RFC 2046 5.1.4: later alternatives are more faithful. HTML comes from the last one that
    has HTML, text from the last one that has text of its own; files in any of them are kept."""
    walks = [_walk(raw, child) for child in children]
    result = _Walk()
    for walk in walks:
        result.attachments.extend(walk.attachments)
    with_html = [w for w in walks if any(i.html is not None for i in w.items)]
    with_text = [w for w in walks if any(i.text is not None for i in w.items)]
    if not with_html and not with_text:
        return result
    html: str | None = None
    if with_html:
        html = _join_html(with_html[-1].items)
    text: str | None = None
    flowed = False
    if with_text:
        text_items = with_text[-1].items
        text = "\n\n".join(i.text for i in text_items if i.text is not None)
        flowed = any(i.flowed for i in text_items)
    result.items.append(_Item(text=text, html=html, flowed=flowed))
    return result


def _walk_related(raw: bytes, entity: Entity) -> _Walk:
    """RFC 2387: the root (named by ``start``, else the first part) is the body; the other
    parts are resources it refers to, listed as attachments even if they are text."""
    children = entity.children or []
    start = entity.params.get("start", "").strip().strip("<>")
    root = next(
        (c for c in children if start and parse_content_id(c.fields.get("content-id")) == start),
        children[0] if children else None,
    )
    result = _Walk()
    for child in children:
        if child is root:
            result.extend(_walk(raw, child))
        else:
            result.attachments.extend(_leaves(child))
    return result


def _leaves(entity: Entity) -> list[Entity]:
    found: list[Entity] = []
    pending = [entity]
    while pending:
        current = pending.pop()
        if current.children is None:
            found.append(current)
        else:
            pending.extend(reversed(current.children))
    return found


def _filename_param(entity: Entity) -> str:
    _, disposition_params = entity.disposition()
    return disposition_params.get("filename") or entity.params.get("name") or ""


def _body_item(raw: bytes, entity: Entity) -> _Item | None:
    """A readable item for a text/plain or text/html leaf meant to be shown; None otherwise."""
    if entity.content_type not in ("text/plain", "text/html"):
        return None
    disposition, _ = entity.disposition()
    if disposition == "attachment" or (disposition != "inline" and _filename_param(entity)):
        return None
    data = decode_transfer(body_bytes(raw, entity), entity.transfer_encoding)
    text = decode_bytes(data, entity.charset, limit=MAX_PART_BYTES)
    text = clean_text(text.replace("\r\n", "\n").replace("\r", "\n"))
    if entity.content_type == "text/html":
        return _Item(text=None, html=text)
    if entity.params.get("format", "").lower() == "flowed":
        delsp = entity.params.get("delsp", "").lower() == "yes"
        return _Item(text=unflow(text, delsp=delsp), html=None, flowed=True)
    return _Item(text=text, html=None)


def _join_text(items: list[_Item]) -> str:
    """Text of the body items in order: each item's text, or its HTML rendered as text."""
    texts: list[str] = []
    size = 0
    for item in items:
        if size > MAX_BODY_CHARS:
            break
        text = item.text if item.text is not None else html_to_text(item.html or "")
        texts.append(text)
        size += len(text)
    if len(texts) == 1:
        return texts[0]
    return "\n\n".join(text for text in texts if text.strip())


def _join_html(items: list[_Item]) -> str | None:
    """HTML of the body items in order if any has HTML: each item's HTML, or its text escaped
    into HTML. None when no item has HTML."""
    if all(item.html is None for item in items):
        return None
    htmls: list[str] = []
    size = 0
    for item in items:
        if size > MAX_BODY_CHARS:
            break
        html = item.html if item.html is not None else text_to_html(item.text or "")
        htmls.append(html)
        size += len(html)
    return "\n".join(htmls)


# Attachments.

_EXTENSIONS = {
    "application/pdf": ".pdf",
    "application/zip": ".zip",
    "application/msword": ".doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.ms-excel": ".xls",
    "application/pgp-signature": ".asc",
    "application/pkcs7-signature": ".p7s",
    "application/pkcs7-mime": ".p7m",
    "application/ics": ".ics",
    "text/calendar": ".ics",
    "text/plain": ".txt",
    "text/html": ".html",
    "text/csv": ".csv",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "message/rfc822": ".eml",
    "message/global": ".eml",
    "message/delivery-status": ".txt",
    "text/rfc822-headers": ".txt",
}
_WINDOWS_RESERVED_RE = re.compile(r"(?i)(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?")
_UNSAFE_FILENAME_CHARS_RE = re.compile(r'[<>:"/\\|?*]')
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _extension(content_type: str) -> str:
    known = _EXTENSIONS.get(content_type)
    if known:
        return known
    guessed = mimetypes.guess_extension(content_type, strict=False)
    return guessed if guessed and len(guessed) <= 10 else ".bin"


def sanitize_filename(name: str, fallback: str) -> str:
    """A filename safe for any file system and for Content-Disposition.

    Keeps the last path component only; drops control, format (bidi overrides, zero-width) and
    private-use characters; replaces characters Windows forbids; caps the length keeping the
    extension; falls back for empty, dot-only and reserved device names.
    """
    if len(name) > 4096:  # keep the extension of a pathologically long name
        name = name[:2048] + name[-64:]
    name = unicodedata.normalize("NFC", name)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in _DROPPED_CATEGORIES)
    name = _UNSAFE_FILENAME_CHARS_RE.sub("_", name)
    name = " ".join(name.split()).strip(" .")
    if not name or _WINDOWS_RESERVED_RE.fullmatch(name):
        return fallback
    if len(name) > MAX_FILENAME_CHARS:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 16:
            name = stem[: MAX_FILENAME_CHARS - len(extension) - 1].rstrip(" .") + "." + extension
        else:
            name = name[:MAX_FILENAME_CHARS].rstrip(" .")
    return name


def _attached_message_subject(raw: bytes, entity: Entity) -> str:
    body = body_bytes(raw, entity)
    if entity.transfer_encoding in ("base64", "quoted-printable"):
        body = decode_transfer(body[: 256 * 1024], entity.transfer_encoding)
    fields, _ = parse_header_block(body, 0, min(len(body), 256 * 1024))
    return header_text(fields.get("subject"))[:MAX_FILENAME_CHARS]


def _attachments(raw: bytes, entities: list[Entity]) -> list[Attachment]:
    result: list[Attachment] = []
    for index, entity in enumerate(entities, 1):
        content_type = "message/rfc822" if entity.opaque else entity.content_type
        fallback = f"attachment-{index}{_extension(content_type)}"
        name = _filename_param(entity)
        if not name and content_type in ("message/rfc822", "message/global") and not entity.opaque:
            subject = _attached_message_subject(raw, entity)
            name = f"{subject}.eml" if subject else ""
        content_id = parse_content_id(entity.fields.get("content-id"))
        disposition_type, _ = entity.disposition()
        disposition: Disposition
        if disposition_type in ("inline", "attachment"):
            disposition = "inline" if disposition_type == "inline" else "attachment"
        else:
            disposition = (
                "inline" if content_id and content_type.startswith("image/") else "attachment"
            )
        result.append(
            Attachment(
                filename=sanitize_filename(name, fallback),
                content_type=content_type,
                size=len(payload(raw, entity)),
                content_id=content_id,
                disposition=disposition,
                part_id=entity.part_id,
            )
        )
    return result


def attachment_payload(raw: bytes, part_id: str) -> bytes | None:
    """The decoded bytes of the part ``part_id`` of ``raw``, or None if there is no such part.

    Walks only the path to the part, so fetching one attachment of a large message does not
    decode the others.
    """
    try:
        prepared = prepare(raw)
        entity = find_entity(prepared, part_id)
        if entity is None or (entity.is_multipart and not entity.opaque):
            return None
        return payload(prepared, entity)
    except Exception:  # noqa: BLE001 - same contract as parse_message: never a 500
        logger.exception("MIME part lookup failed")
        return None
