"""Read header fields out of raw bytes and decode the few values a mail client shows.

Everything here is linear in its input. The stdlib's policy.default parser is used for address
lists short enough that its worst case is cheap (on Python 3.11 it is quadratic: a 1 MB To: took
two minutes); longer or refused values go through a small single-pass parser instead.
"""

from __future__ import annotations

import binascii
import re
from datetime import UTC, datetime
from email import errors as email_errors
from email import policy
from email.headerregistry import AddressHeader
from email.utils import parsedate_to_datetime
from urllib.parse import unquote_to_bytes

from webmail.mime.charsets import decode_bytes, decode_header_bytes, fix_surrogates
from webmail.mime.transfer import decode_base64

# Only these fields are kept; the rest of a header block is skipped over.
WANTED_FIELDS = frozenset(
    {
        "subject",
        "from",
        "to",
        "cc",
        "reply-to",
        "date",
        "message-id",
        "in-reply-to",
        "references",
        "content-type",
        "content-transfer-encoding",
        "content-disposition",
        "content-id",
    }
)
MAX_HEADER_LINES = 10_000
MAX_FIELD_BYTES = 256 * 1024  # a longer value is cut; enough for ~5,000 addresses
MAX_SUBJECT_CHARS = 2_000
MAX_ADDRESSES = 1_000
MAX_REFERENCES = 200
STDLIB_ADDRESS_LIMIT = 1_024  # policy.default costs ~30 ms at worst below this, seconds above

_FIELD_NAME_RE = re.compile(rb"[\x21-\x39\x3b-\x7e]+")
_WSP = b" \t"


def parse_header_block(raw: bytes, start: int, end: int) -> tuple[dict[str, bytes], int]:
    """Fields wanted from the header block at ``raw[start:end]``, and where the body starts.

    Follows the stdlib feedparser: a blank line ends the headers; so does the first line that is
    neither a field nor a continuation (it then starts the body). Values are unfolded bytes; the
    first occurrence of a field wins.
    """
    fields: dict[str, list[bytes]] = {}
    current: list[bytes] | None = None
    current_size = 0
    pos = start
    if raw.startswith(b"From ", pos, end):  # mbox separator line
        newline = raw.find(b"\n", pos, end)
        pos = end if newline < 0 else newline + 1
    lines = 0
    while pos < end:
        newline = raw.find(b"\n", pos, end)
        line_end = end if newline < 0 else newline
        next_pos = end if newline < 0 else newline + 1
        stop = line_end - 1 if line_end > pos and raw[line_end - 1] == 0x0D else line_end
        if stop == pos:
            return _joined(fields), next_pos
        lines += 1
        if lines > MAX_HEADER_LINES:
            return _joined(fields), _skip_to_blank_line(raw, pos, end)
        if raw[pos] in _WSP:
            if current is not None and current_size < MAX_FIELD_BYTES:
                piece = raw[pos : min(stop, pos + MAX_FIELD_BYTES - current_size)]
                current.append(piece)
                current_size += len(piece)
            pos = next_pos
            continue
        colon = raw.find(b":", pos, stop)
        name_bytes = raw[pos:colon].rstrip(_WSP) if colon > pos else b""
        if not _FIELD_NAME_RE.fullmatch(name_bytes):
            return _joined(fields), pos  # the first body line, with no blank line before it
        name = name_bytes.decode("ascii").lower()
        if name in WANTED_FIELDS and name not in fields:
            piece = raw[colon + 1 : min(stop, colon + 1 + MAX_FIELD_BYTES)]
            current = fields[name] = [piece]
            current_size = len(piece)
        else:
            current = None
        pos = next_pos
    return _joined(fields), end


def _joined(fields: dict[str, list[bytes]]) -> dict[str, bytes]:
    return {name: b"".join(pieces).strip() for name, pieces in fields.items()}


_BLANK_LINE_RE = re.compile(rb"\r?\n\r?\n")


def _skip_to_blank_line(raw: bytes, pos: int, end: int) -> int:
    match = _BLANK_LINE_RE.search(raw, pos, end)
    return end if match is None else match.end()


# RFC 2047 encoded words.

_ENCODED_WORD_RE = re.compile(r"=\?([^?\s]{1,64})\?([bBqQ])\?([^?\s]*)\?=")


def _decode_word_payload(encoding: str, payload: str) -> bytes:
    data = payload.encode("ascii", errors="replace")
    if encoding in "bB":
        return decode_base64(data)
    return binascii.a2b_qp(data, header=True)


def decode_encoded_words(text: str) -> str:
    """Decode RFC 2047 encoded words; adjacent words in one charset are joined before decoding,
    so a multi-byte character split across two words (a common mailer bug) survives."""
    if "=?" not in text:
        return text
    out: list[str] = []
    pending: bytearray = bytearray()
    pending_charset: str | None = None
    pos = 0

    def flush() -> None:
        nonlocal pending_charset
        if pending_charset is not None:
            out.append(decode_bytes(bytes(pending), pending_charset))
            pending.clear()
            pending_charset = None

    for match in _ENCODED_WORD_RE.finditer(text):
        gap = text[pos : match.start()]
        if gap and not (pending_charset is not None and gap.isspace()):
            flush()
            out.append(gap)
        charset = match.group(1).split("*", 1)[0].lower()  # RFC 2231 language suffix
        if pending_charset is not None and charset != pending_charset:
            flush()
        pending_charset = charset
        pending.extend(_decode_word_payload(match.group(2), match.group(3)))
        pos = match.end()
    flush()
    out.append(text[pos:])
    return "".join(out)


def clean_text(text: str) -> str:
    """Text safe to store and show: no NUL, no lone surrogate, no line breaks in a header."""
    text = fix_surrogates(text)
    return text.replace("\x00", "\ufffd")


def header_text(value: bytes | None, hint: str | None = None) -> str:
    """An unstructured header (Subject, and display names): unfolded and decoded."""
    if not value:
        return ""
    text = decode_header_bytes(value, hint)
    text = re.sub(r"[\r\n]+", "", text)
    return clean_text(decode_encoded_words(text)).strip()


def parse_subject(value: bytes | None, hint: str | None = None) -> str:
    subject = header_text(value, hint)
    subject = re.sub(r"[\t ]+", " ", subject)
    return subject[:MAX_SUBJECT_CHARS]


# Content-Type / Content-Disposition parameters (RFC 2045, RFC 2231).

_PARAM_NAME_RE = re.compile(r"\s*([^\s=;\"]+)\s*")
_RFC2231_NAME_RE = re.compile(r"(.+?)(?:\*(\d{1,3}))?(\*)?")
_TOKEN_RE = re.compile(r"[^\s;]*")
_MAX_PARAMS = 64


def parse_parameterised(value: str) -> tuple[str, dict[str, str]]:
    """Split ``type/subtype; a=b; c*=utf-8''x`` into a lower-case first token and parameters.

    Parameter names are lower-case; RFC 2231 continuations and charsets are joined and decoded;
    encoded words inside quoted values (not allowed, but what Outlook and Gmail send) are decoded.
    """
    value = value.replace("\r", "").replace("\n", "")
    head, _, rest = value.partition(";")
    params: dict[str, str] = {}
    pieces: dict[str, dict[int, tuple[str, bool]]] = {}
    pos = 0
    count = 0
    while pos < len(rest) and count < _MAX_PARAMS:
        count += 1
        name_match = _PARAM_NAME_RE.match(rest, pos)
        if name_match is None:
            next_semicolon = rest.find(";", pos)
            if next_semicolon < 0:
                break
            pos = next_semicolon + 1
            continue
        name = name_match.group(1).lower()
        pos = name_match.end()
        param_value = ""
        quoted = False
        if pos < len(rest) and rest[pos] == "=":
            pos += 1
            while pos < len(rest) and rest[pos] in " \t":
                pos += 1
            if pos < len(rest) and rest[pos] == '"':
                param_value, pos = _quoted_string(rest, pos)
                quoted = True
            else:
                token_end = _TOKEN_RE.match(rest, pos)
                if token_end is not None:  # always: the pattern matches the empty string
                    param_value = token_end.group()
                    pos = token_end.end()
        next_semicolon = rest.find(";", pos)
        pos = len(rest) if next_semicolon < 0 else next_semicolon + 1
        split = _RFC2231_NAME_RE.fullmatch(name) if "*" in name else None
        if split is not None:
            base, number, encoded = split.group(1), split.group(2), bool(split.group(3))
            pieces.setdefault(base, {}).setdefault(
                int(number or 0), (param_value, encoded and not quoted)
            )
        elif name not in params:
            params[name] = decode_encoded_words(param_value) if quoted else param_value
    for base, numbered in pieces.items():
        joined = _join_rfc2231(numbered)
        if joined is not None:
            params[base] = joined  # RFC 2231 wins over a plain value of the same name
    return head.strip().lower(), {k: clean_text(v) for k, v in params.items()}


_QUOTED_SCAN_RE = re.compile(r'["\\]')


def _quoted_string(text: str, pos: int) -> tuple[str, int]:
    """Value of the quoted string starting at ``text[pos] == '"'``, and the position after it."""
    out: list[str] = []
    pos += 1
    while True:
        match = _QUOTED_SCAN_RE.search(text, pos)
        if match is None:
            out.append(text[pos:])
            return "".join(out), len(text)
        out.append(text[pos : match.start()])
        if match.group() == '"':
            return "".join(out), match.end()
        out.append(text[match.end() : match.end() + 1])
        pos = match.end() + 1


def _join_rfc2231(numbered: dict[int, tuple[str, bool]]) -> str | None:
    charset: str | None = None
    data = bytearray()
    for index in sorted(numbered)[:_MAX_PARAMS]:
        piece, encoded = numbered[index]
        if index == sorted(numbered)[0] and encoded:
            parts = piece.split("'", 2)
            if len(parts) == 3:
                charset, piece = parts[0] or None, parts[2]
        if encoded:
            data.extend(unquote_to_bytes(piece))
        else:
            data.extend(piece.encode("utf-8"))
    return decode_bytes(bytes(data), charset or "utf-8")


# Addresses.


def parse_addresses(value: bytes | None, hint: str | None = None) -> list[tuple[str, str]]:
    """``[(display name, address)]`` from an address-list header; groups are flattened."""
    if not value:
        return []
    text = re.sub(r"[\r\n]+", "", decode_header_bytes(value, hint))
    if len(text) <= STDLIB_ADDRESS_LIMIT:
        parsed = _stdlib_addresses(text)
        if parsed is not None:
            return parsed[:MAX_ADDRESSES]
    return _simple_addresses(text)[:MAX_ADDRESSES]


# What policy.default's header parser has been seen to raise on hostile input, besides
# HeaderParseError: its grammar functions index past the end and assume types on bad tokens.
_STDLIB_PARSE_ERRORS = (
    email_errors.HeaderParseError,
    LookupError,
    ValueError,
    TypeError,
    AttributeError,
    AssertionError,
    RecursionError,
)


def _stdlib_addresses(text: str) -> list[tuple[str, str]] | None:
    try:
        header = policy.default.header_factory("to", text)
        if not isinstance(header, AddressHeader):
            return None
        result = []
        for address in header.addresses:
            addr = clean_text(address.addr_spec).strip()
            name = clean_text(address.display_name).strip()
            if addr or name:
                result.append((name, addr))
    except _STDLIB_PARSE_ERRORS:
        return None
    return result


_ADDRESS_TOKEN_RE = re.compile(r'"|\(|<|,|;|:|[^",;:<(]+')


def _simple_addresses(text: str) -> list[tuple[str, str]]:
    """A forgiving single-pass RFC 5322 address-list reader for long or malformed values."""
    result: list[tuple[str, str]] = []
    phrase: list[str] = []
    angle: str | None = None
    pos = 0

    def emit() -> None:
        nonlocal angle
        words = " ".join(" ".join(phrase).split())
        if angle is not None:
            addr, name = angle.strip(), words
        elif " " not in words:
            addr, name = words, ""
        elif "@" in words:  # "user@host junk": keep the word that looks like an address
            addr, name = next(w for w in words.split() if "@" in w), ""
        else:
            addr, name = "", words
        name = decode_encoded_words(name).strip()
        if addr or name:
            result.append((clean_text(name), clean_text(addr.replace(" ", ""))))
        phrase.clear()
        angle = None

    while pos < len(text) and len(result) < MAX_ADDRESSES:
        match = _ADDRESS_TOKEN_RE.match(text, pos)
        if match is None:  # pragma: no cover - the pattern matches any character
            break
        piece = match.group()
        if piece == '"':
            quoted, pos = _quoted_string(text, pos)
            phrase.append(quoted)
            continue
        if piece == "(":
            _, pos = _comment(text, pos)  # comments are dropped, as policy.default does
            continue
        if piece == "<":
            close = text.find(">", pos + 1)
            close = len(text) if close < 0 else close
            angle = text[pos + 1 : close]
            if ":" in angle and angle.startswith("@"):  # obsolete source route
                angle = angle.split(":", 1)[1]
            pos = close + 1
            continue
        pos = match.end()
        if piece in ",;":
            emit()
        elif piece == ":":
            phrase.clear()  # group name; its members follow
        else:
            phrase.append(piece)
    if len(result) < MAX_ADDRESSES:
        emit()
    return result


_COMMENT_SCAN_RE = re.compile(r"[()\\]")


def _comment(text: str, pos: int) -> tuple[str, int]:
    """Text of the (possibly nested) comment starting at ``text[pos] == '('``, and the end."""
    depth = 0
    index = pos
    while True:
        match = _COMMENT_SCAN_RE.search(text, index)
        if match is None:
            return text[pos + 1 :].strip(), len(text)
        index = match.end()
        char = match.group()
        if char == "\\":
            index += 1
        elif char == "(":
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                return text[pos + 1 : match.start()].strip(), index


# Dates and message ids.


def parse_date(value: bytes | None) -> datetime | None:
    """An aware datetime, or None when absent or unparseable. ``-0000`` is read as UTC."""
    if not value:
        return None
    text = decode_header_bytes(value)[:256]
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


_MSG_ID_RE = re.compile(r"<[^<>\s]{1,990}>")


def parse_message_id(value: bytes | None) -> str:
    """The first ``<id>`` in the value (with its angle brackets), else its first word, bracketed."""
    if not value:
        return ""
    text = clean_text(decode_header_bytes(value))
    match = _MSG_ID_RE.search(text)
    if match is not None:
        return match.group()
    words = text.split()
    return f"<{words[0][:990].strip('<>')}>" if words and words[0].strip("<>") else ""


def parse_references(value: bytes | None) -> list[str]:
    """Every ``<id>`` in References; past the cap, keep the root and the most recent ones."""
    if not value:
        return []
    ids = _MSG_ID_RE.findall(clean_text(decode_header_bytes(value)))
    if len(ids) > MAX_REFERENCES:
        ids = ids[:1] + ids[-(MAX_REFERENCES - 1) :]
    return ids


def parse_content_id(value: bytes | None) -> str | None:
    if not value:
        return None
    text = clean_text(decode_header_bytes(value)).strip()
    text = text.split()[0] if text.split() else ""
    text = text.strip("<>").strip()[:998]
    return text or None
