"""IMAP adapter: `ImapSession`, a typed layer over IMAPClient that speaks in our own dataclasses.

IMAPClient and imaplib do the wire work and IMAPClient's parser reads the responses. This module
picks each command path once per server (QRESYNC, CONDSTORE or a UID diff; MOVE or COPY and
EXPUNGE), turns responses into the frozen dataclasses below and failures into
`webmail.protocols.errors`. Nothing outside sees IMAPClient types. Server data is untrusted: the
conversion of envelopes, addresses and structures never raises, it degrades to empty values.
"""

from __future__ import annotations

import base64
import binascii
import imaplib
import logging
import re
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self, TypeAlias, cast

from imapclient import IMAPClient, imap_utf7
from imapclient import exceptions as imapclient_errors
from imapclient.datetime_util import parse_to_datetime
from imapclient.response_parser import parse_response

from webmail.protocols.connect import (
    ConnectOptions,
    Endpoint,
    network_error,
    open_socket,
    ssl_context,
    tls_error,
    tls_server_name,
)
from webmail.protocols.errors import (
    AuthError,
    FolderGone,
    PermanentError,
    ProtocolError,
    TLSError,
    TransientError,
    UidValidityChanged,
)

logger = logging.getLogger(__name__)

SpecialUse = Literal["inbox", "sent", "drafts", "trash", "junk", "archive"]
IdleKind = Literal["exists", "expunge", "fetch", "other"]

# A parsed IMAP value as IMAPClient's parser returns it, and a raw untagged response as imaplib
# stores it (a line, or a line ending in a literal together with that literal).
_Atom: TypeAlias = bytes | int | None | tuple["_Atom", ...]
_Entry: TypeAlias = bytes | tuple[bytes, bytes]

_MAX_LINE = 32 * 1024 * 1024  # imaplib's 1 MB refuses a plain UID SEARCH of ~150k messages
_MAX_SET_CHARS = 4000  # Dovecot's default imap_max_line_length is 64k; stay far below
_MAX_SET_EXPANSION = 10_000_000  # UIDs we will expand from one server-sent set
_MAX_DEPTH = 64  # BODYSTRUCTURE nesting we follow
_MAX_UID = 2**32 - 1
# RFC 2177 section 3: servers may drop an IDLE after 30 minutes; renew well before.
IDLE_RENEW_SECONDS = 25 * 60
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TRANSIENT_CODES = frozenset({"UNAVAILABLE", "INUSE", "SERVERBUG", "LIMIT"})  # RFC 5530


# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class FolderInfo:
    """One mailbox from LIST. Use ``raw_name`` (as on the wire) in later commands."""

    name: str
    raw_name: str
    delimiter: str | None
    flags: frozenset[str]
    special_use: SpecialUse | None
    subscribed: bool
    selectable: bool


@dataclass(frozen=True)
class FolderStatus:
    messages: int
    unseen: int
    uidnext: int
    uidvalidity: int
    highestmodseq: int | None


@dataclass(frozen=True)
class SelectState:
    uidvalidity: int
    uidnext: int
    exists: int
    highestmodseq: int | None


@dataclass(frozen=True)
class FlagChange:
    uid: int
    flags: frozenset[str]
    modseq: int | None


@dataclass(frozen=True)
class Changes:
    """Flag changes and expunged UIDs since a mod-sequence (RFC 7162)."""

    changed: list[FlagChange]
    vanished: list[int]


@dataclass(frozen=True)
class Address:
    name: str
    email: str


@dataclass(frozen=True)
class Envelope:
    """What the message list needs, from one FETCH; never the body."""

    uid: int
    flags: frozenset[str]
    internaldate: datetime
    size: int
    subject: str
    from_: tuple[Address, ...]
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    bcc: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    date: datetime | None
    message_id: str
    in_reply_to: str
    has_attachments: bool
    modseq: int | None


@dataclass(frozen=True)
class IdleEvent:
    """An untagged response seen while idling. ``number`` is the message sequence number (or
    the count for "exists"); ``uids`` are known when the server says which (VANISHED, or a FETCH
    that carries its UID)."""

    kind: IdleKind
    number: int = 0
    uids: tuple[int, ...] = ()


# --------------------------------------------------------------------------------------------
# Decoding untrusted server data (never raises)

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINE_BREAK = re.compile(r"[\r\n\t]+")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([QqBb])\?([^?\s]*)\?=")
_Q_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")
_RESPONSE_CODE = re.compile(r"\[([A-Z-]+)")
_DOVECOT_TIMING = re.compile(r"\s*\(\d+\.\d+(?: \+ \d+\.\d+)* secs\)\.?")


def _text(atom: _Atom) -> str:
    """Bytes as text: UTF-8 if it is, else Latin-1 (which cannot fail)."""
    if isinstance(atom, bytes):
        try:
            return atom.decode("utf-8")
        except UnicodeDecodeError:
            return atom.decode("latin-1")
    if isinstance(atom, int):
        return str(atom)
    return ""


def _clean(text: str) -> str:
    """One line of text safe to store and show: no NULs or control characters."""
    return _CONTROL.sub("", _LINE_BREAK.sub(" ", text)).strip()


def _is_number(text: str | bytes, max_digits: int = 20) -> bool:
    """ASCII digits only ("²".isdigit() is true), and short: int() refuses > 4300 digits."""
    return 0 < len(text) <= max_digits and text.isascii() and text.isdigit()


def _int(atom: _Atom) -> int | None:
    if isinstance(atom, int):
        return atom
    if isinstance(atom, bytes) and _is_number(atom):
        return int(atom)
    return None


def _decode_charset(data: bytes, charset: str) -> str:
    try:
        return data.decode(charset)
    except (LookupError, UnicodeError, ValueError, TypeError):
        pass
    # Unknown or mislabelled charset: UTF-8 if it is valid, else the label with replacements.
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode(charset, errors="replace")
    except (LookupError, UnicodeError, ValueError, TypeError):
        return data.decode("latin-1")


def _decode_word(match: re.Match[str]) -> tuple[str, bytes] | None:
    charset = match.group(1).split("*", 1)[0].lower()  # RFC 2231 section 5: "utf-8*en"
    payload = match.group(3)
    if match.group(2) in "Qq":
        data = payload.replace("_", " ").encode("utf-8", "surrogateescape")
        return charset, _Q_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), data)
    try:
        return charset, base64.b64decode(payload + "=" * (-len(payload) % 4))
    except (binascii.Error, ValueError):
        return None


def _join_words(words: list[tuple[str, bytes]]) -> str:
    # Adjacent words in one charset are joined before decoding: mailers split multi-byte
    # characters across encoded words.
    out: list[str] = []
    charset, data = "", b""
    for word_charset, word in words:
        if word_charset != charset and data:
            out.append(_decode_charset(data, charset))
            data = b""
        charset = word_charset
        data += word
    if data:
        out.append(_decode_charset(data, charset))
    return "".join(out)


def decode_header_text(raw: str | bytes | None) -> str:
    """An unstructured header value (RFC 2047 encoded words decoded) as one clean line.

    Never raises: undecodable words are kept as sent, unknown charsets fall back to UTF-8.
    """
    text = _FOLD.sub("", _text(raw) if not isinstance(raw, str) else raw)
    if "=?" not in text:
        return _clean(text)
    return _decode_encoded_words(text)


def _decode_encoded_words(text: str) -> str:
    """decode_header_text's slow part, cached for short values: a mailbox names the same
    senders (and the same encoded subjects of a thread) over and over, and a first sync
    decodes them all."""
    return _decode_cached(text) if len(text) <= _CACHED_TEXT else _decode_words(text)


_CACHED_TEXT = 1000  # longer values are decoded every time, so the caches stay small


def _decode_words(text: str) -> str:
    out: list[str] = []
    words: list[tuple[str, bytes]] = []
    pos = 0
    for match in _ENCODED_WORD.finditer(text):
        between = text[pos : match.start()]
        # RFC 2047 section 6.2: white space between adjacent encoded words is not displayed.
        if between and not (words and between.isspace()):
            out.append(_join_words(words))
            words = []
            out.append(between)
        decoded = _decode_word(match)
        if decoded is None:
            out.append(_join_words(words))
            words = []
            out.append(match.group(0))
        else:
            words.append(decoded)
        pos = match.end()
    out.append(_join_words(words))
    out.append(text[pos:])
    return _clean("".join(out))


_decode_cached = lru_cache(maxsize=4096)(_decode_words)


def decode_folder_name(raw_name: str) -> str:
    """Display form of a wire mailbox name (RFC 3501 section 5.1.3 modified UTF-7).

    A name that is not canonical modified UTF-7 is shown as sent (or as UTF-8, which some
    servers send against the RFC) rather than mangled.
    """
    if not raw_name.isascii():
        try:
            return raw_name.encode("latin-1").decode("utf-8")
        except (UnicodeError, ValueError):
            return raw_name
    raw = raw_name.encode("ascii")
    try:
        decoded: str = imap_utf7.decode(raw)
        encoded: bytes = imap_utf7.encode(decoded)
    except (UnicodeError, ValueError, binascii.Error):
        return raw_name
    return decoded if encoded == raw else raw_name


def encode_folder_name(name: str) -> str:
    """Wire (modified UTF-7) form of a folder name a user typed."""
    encoded: bytes = imap_utf7.encode(name)
    return encoded.decode("ascii")


_INTERNALDATE = re.compile(
    rb"([ \d]\d)-([A-Z][a-z]{2})-(\d{4}) (\d\d):(\d\d):(\d\d) ([-+])(\d\d)(\d\d)"
)
_MONTHS = {
    m: i for i, m in enumerate(b"Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)
}


# date and zone ("17-Jul-1996 -0700") -> that day's midnight there, in UTC; None if invalid
_DAY_STARTS: dict[bytes, datetime | None] = {}
_DAY_START = re.compile(
    rb"([ \d]\d)-(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)-(\d{4}) ([-+])(\d\d)(\d\d)"
)
_WEEKDAYS = frozenset((b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"))


def _day_start(key: bytes) -> datetime | None:
    start = _DAY_STARTS.get(key, _EPOCH)
    if start is not _EPOCH:
        return start
    match = _DAY_START.fullmatch(key)
    if match is not None:
        day, month, year, sign, zone_h, zone_m = match.groups()
        midnight = _midnight(int(year), _MONTHS[month], int(day))
        offset = (int(zone_h) * 60 + int(zone_m)) * (-1 if sign == b"-" else 1)
        try:
            start = midnight - timedelta(minutes=offset) if midnight is not None else None
        except OverflowError:
            start = None
    else:
        start = None
    if len(_DAY_STARTS) >= 8192:
        _DAY_STARTS.clear()
    _DAY_STARTS[key] = start
    return start


# "hh:mm:ss" -> its offset into the day; at most 86,400 of them recur across a mailbox.
_CLOCKS: dict[bytes, timedelta] = {}
_NOT_CLOCK = timedelta(days=-1)  # not that form: the caller's general path reads it
_NO_SUCH_TIME = timedelta(days=-2)  # 24:00:00, 12:60:00 and the like


def _clock_delta(clock: bytes) -> timedelta:
    hour, minute, second = clock[0:2], clock[3:5], clock[6:8]
    if (
        len(clock) != 8
        or clock[2:3] != b":"
        or clock[5:6] != b":"
        or not (hour.isdigit() and minute.isdigit() and second.isdigit())
    ):
        delta = _NOT_CLOCK
    elif int(hour) > 23 or int(minute) > 59 or int(second) > 59:
        delta = _NO_SUCH_TIME
    else:
        delta = timedelta(seconds=int(hour) * 3600 + int(minute) * 60 + int(second))
    if len(_CLOCKS) >= 100_000:
        _CLOCKS.clear()
    _CLOCKS[clock] = delta
    return delta


def _clock_time(day: bytes, clock: bytes) -> datetime | None:
    """The instant of ``clock`` ("hh:mm:ss") on ``day`` (a `_day_start` key); `_EPOCH` as
    "not this form" (the caller takes its general path), None for an impossible time."""
    start = _DAY_STARTS.get(day, _EPOCH)
    if start is _EPOCH:
        start = _day_start(day)
    if start is None:
        return _EPOCH
    delta = _CLOCKS.get(clock)
    if delta is None:
        delta = _clock_delta(clock)
    if delta is _NOT_CLOCK:
        return _EPOCH
    if delta is _NO_SUCH_TIME:
        return None
    try:
        return start + delta
    except OverflowError:
        return _EPOCH


def _internaldate(atom: _Atom) -> datetime | None:
    """RFC 3501 date-time ("17-Jul-1996 02:44:25 -0700") without the general date parser.
    The fixed-width form every server sends takes slices and a per-day cache: a first sync
    converts 100,000 of them."""
    if isinstance(atom, bytes) and len(atom) == 26 and atom[11:12] == b" ":
        value = _clock_time(atom[:11] + atom[20:], atom[12:20])
        if value is not _EPOCH:
            return value
    match = _INTERNALDATE.fullmatch(atom) if isinstance(atom, bytes) else None
    month = _MONTHS.get(match.group(2)) if match else None
    if match is None or month is None:
        return _datetime(atom)
    day, _m, year, hour, minute, second, sign, zone_h, zone_m = match.groups()
    offset = (int(zone_h) * 60 + int(zone_m)) * (-1 if sign == b"-" else 1)
    return _utc(int(year), month, int(day), int(hour), int(minute), int(second), offset)


@lru_cache(maxsize=4096)
def _midnight(year: int, month: int, day: int) -> datetime | None:
    try:
        return datetime(year, month, day, tzinfo=UTC)
    except ValueError:
        return None


def _utc(
    year: int, month: int, day: int, hour: int, minute: int, second: int, offset: int
) -> datetime | None:
    """The instant of a local time ``offset`` minutes east of UTC; None if there is none.
    (Mail of one mailbox shares few days: the day's midnight is cached.)"""
    midnight = _midnight(year, month, day)
    if midnight is None or hour > 23 or minute > 59 or second > 59:
        return None
    try:
        return midnight + timedelta(seconds=hour * 3600 + minute * 60 + second - offset * 60)
    except OverflowError:
        return None


def _datetime(atom: _Atom) -> datetime | None:
    if not isinstance(atom, bytes) or not atom.strip():
        return None
    try:
        value: datetime = parse_to_datetime(atom, normalise=False)
        if value.tzinfo is None:  # "-0000" or no zone: RFC 5322 says the zone is unknown
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    except (ValueError, TypeError, IndexError, OverflowError):
        return None


def _addresses(atom: _Atom) -> tuple[Address, ...]:
    if not isinstance(atom, tuple):
        return ()
    out: list[Address] = []
    for item in atom:
        if not isinstance(item, tuple) or len(item) < 4:
            continue
        name, _route, mailbox, host = item[:4]
        if host is None:
            # RFC 3501 section 7.4.2: NIL host starts a group (mailbox is its name) and NIL
            # mailbox and host end it; the members in between are ordinary addresses.
            continue
        local, domain = _clean(_text(mailbox)), _clean(_text(host))
        email = f"{local}@{domain}" if local and domain else local or domain
        out.append(Address(name=decode_header_text(_text(name)), email=email))
    return tuple(out)


def _flags(atom: _Atom) -> frozenset[str]:
    """Flags as sent, without \\Recent: it belongs to one session (RFC 3501 section 2.3.2; gone
    in IMAP4rev2), so a cache that stored it would flap between connections."""
    if not isinstance(atom, tuple):
        return frozenset()
    flags = (_clean(_text(f)) for f in atom)
    return frozenset(f for f in flags if f and f.lower() != "\\recent")


def _modseq(atom: _Atom) -> int | None:
    value = _int(atom[0]) if isinstance(atom, tuple) and atom else _int(atom)
    return value if value is not None and value > 0 else None


def _has_param(params: _Atom, name: str) -> bool:
    if not isinstance(params, tuple):
        return False
    for key in params[0::2]:
        text = _text(key).lower()
        if text == name or text.startswith(name + "*"):  # RFC 2231 "filename*" / "filename*0"
            return True
    return False


def _has_attachments(body: _Atom, *, in_related: bool = False, depth: int = 0) -> bool:
    """Any part with Content-Disposition attachment, or a named non-text leaf.

    Inline parts with a Content-ID inside multipart/related (images of an HTML body) are not
    attachments. Attached messages are not searched inside.
    """
    if not isinstance(body, tuple) or not body or depth > _MAX_DEPTH:
        return False
    if isinstance(body[0], tuple):
        # multipart: the parts, then the subtype and extension data
        index = 0
        while index < len(body) and isinstance(body[index], tuple):
            index += 1
        related = index < len(body) and _text(body[index]).lower() == "related"
        return any(
            _has_attachments(part, in_related=related, depth=depth + 1) for part in body[:index]
        )
    media = _text(body[0]).lower()
    subtype = _text(body[1]).lower() if len(body) > 1 else ""
    # RFC 3501 section 7.4.2 BODYSTRUCTURE: body-fields take 7 slots; text adds a line count,
    # message/rfc822 an envelope, a body and a line count; then MD5, then the disposition.
    if media == "text":
        disposition_at = 9
    elif media == "message" and subtype in ("rfc822", "global"):
        disposition_at = 11
    else:
        disposition_at = 8
    disposition = body[disposition_at] if len(body) > disposition_at else None
    kind, disposition_params = "", None
    if isinstance(disposition, tuple) and disposition:
        kind = _text(disposition[0]).lower()
        disposition_params = disposition[1] if len(disposition) > 1 else None
    if kind == "attachment":
        return True
    if media in ("text", "multipart"):
        return False
    params = body[2] if len(body) > 2 else None
    named = _has_param(disposition_params, "filename") or _has_param(params, "name")
    if not named:
        return False
    content_id = body[3] if len(body) > 3 else None
    return not (in_related and content_id is not None and kind != "attachment")


def _parse_uid_set(text: str) -> list[int]:
    """Expand "1:3,7" (either order per range). Raises PermanentError on absurd sizes."""
    out: list[int] = []
    for part in text.strip().split(","):
        low, _, high = part.partition(":")
        if not _is_number(low, 10) or (high and not _is_number(high, 10)):
            continue
        first, last = int(low), int(high or low)
        if first > last:
            first, last = last, first
        if len(out) + last - first + 1 > _MAX_SET_EXPANSION:
            raise PermanentError("the server reported an implausibly large set of messages")
        out.extend(range(first, last + 1))
    return out


def _compress(uids: Iterable[int]) -> list[str]:
    """Sorted ranges ("1:3", "7") of the given UIDs."""
    ranges: list[str] = []
    ordered = sorted(set(uids))
    start = prev = -1
    for uid in ordered:
        if uid == prev + 1:
            prev = uid
            continue
        if start >= 0:
            ranges.append(f"{start}:{prev}" if prev > start else str(start))
        start = prev = uid
    if start >= 0:
        ranges.append(f"{start}:{prev}" if prev > start else str(start))
    return ranges


def _uid_sets(uids: Iterable[int]) -> list[str]:
    """UID sets, each short enough for one command line."""
    sets: list[str] = []
    current: list[str] = []
    length = 0
    for item in _compress(uids):
        if current and length + len(item) + 1 > _MAX_SET_CHARS:
            sets.append(",".join(current))
            current, length = [], 0
        current.append(item)
        length += len(item) + 1
    if current:
        sets.append(",".join(current))
    return sets


def _checked_uids(uids: Iterable[int]) -> list[int]:
    out = list(dict.fromkeys(uids))
    for uid in out:
        if not isinstance(uid, int) or isinstance(uid, bool) or not 0 < uid <= _MAX_UID:
            raise ValueError(f"not a UID: {uid!r}")
    return out


_SYSTEM_FLAGS = {
    f.lower(): f for f in ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft")
}
_ATOM_SPECIALS = frozenset('(){ %*"\\]')


def _flag_list(flags: Iterable[str]) -> str:
    """A parenthesised flag list; refuses \\Recent (server-only) and non-atom keywords."""
    out: list[str] = []
    for flag in flags:
        if flag.startswith("\\"):
            system = _SYSTEM_FLAGS.get(flag.lower())
            if system is None:
                raise ValueError(f"{flag!r} is not a flag a client may set")
            out.append(system)
        elif (
            flag
            and len(flag) <= 255
            and flag.isascii()
            and flag.isprintable()
            and not any(ch in _ATOM_SPECIALS for ch in flag)
        ):
            out.append(flag)
        else:
            raise ValueError(f"{flag!r} is not a valid IMAP keyword")
    return "(" + " ".join(dict.fromkeys(out)) + ")"


def _mailbox_arg(raw_name: str) -> str:
    if not raw_name or not raw_name.isascii() or any(ch in raw_name for ch in "\r\n\x00"):
        raise PermanentError(f"the folder name {raw_name!r} cannot be sent to the server")
    return '"' + raw_name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _group(entries: Iterable[_Entry | None]) -> Iterator[list[_Entry]]:
    """Split imaplib's untagged data into one list per response.

    imaplib stores a response with literals as (line, literal) pairs followed by the bytes of
    the rest of the line, so a response ends at the first plain bytes entry.
    """
    group: list[_Entry] = []
    for entry in entries:
        if entry is None:
            continue
        group.append(entry)
        if isinstance(entry, bytes):
            yield group
            group = []
    if group:
        yield group


# A fast path for the common shape of a response line (no literals, no "[...]" atoms, no "%"
# or control characters): IMAPClient's byte-at-a-time lexer costs ~20x the wire time on bulk
# FETCH. It yields exactly what IMAPClient's parse_response would (property-tested with
# IMAPClient as the oracle) and returns None for anything else, which IMAPClient then parses.
_FAST_TOKEN = re.compile(
    rb"[ \t\r\n]*+"  # white space between tokens
    rb"(?:(\()|(\))"  # ( and )
    rb'|"([^"\\]*+(?:\\.[^"\\]*+)*+)"'  # a quoted string
    rb'|([^\x00-\x1f ()%"\[]++)(?!["\[])'  # an atom not running into a quote or "["
    rb"|(.))",  # anything else: leave the line to IMAPClient
    re.DOTALL,
)
_QUOTED_ESCAPE = re.compile(rb'\\([\\"])')


def _fast_parse(line: bytes) -> tuple[_Atom, ...] | None:
    stack: list[list[_Atom]] = [[]]
    for opening, close, quoted, atom, other in _FAST_TOKEN.findall(line):
        if other:
            return None
        if opening:
            stack.append([])
        elif close:
            if len(stack) == 1:
                return None  # IMAPClient returns a stray ")" as an atom; let it
            done = tuple(stack.pop())
            stack[-1].append(done)
        elif atom:
            if atom[:1] == b"{":
                return None  # a literal marker to IMAPClient
            if atom == b"NIL":
                stack[-1].append(None)
            elif atom.isdigit() and (atom[:1] != b"0" or len(atom) == 1):
                if len(atom) > 4000:
                    return None  # int() would refuse it; so does IMAPClient
                stack[-1].append(int(atom))
            else:
                stack[-1].append(atom)
        else:
            stack[-1].append(_QUOTED_ESCAPE.sub(rb"\1", quoted) if b"\\" in quoted else quoted)
    if len(stack) != 1:
        return None  # unbalanced: IMAPClient reports it
    return tuple(stack[0])


def _parse(group: list[_Entry]) -> tuple[_Atom, ...] | None:
    """One response through IMAPClient's parser; None (logged) if it is malformed."""
    if len(group) == 1 and isinstance(group[0], bytes):
        fast = _fast_parse(group[0])
        if fast is not None:
            return fast
    try:
        # IMAPClient annotates list[bytes] but reads imaplib's (line, literal) pairs too.
        parsed: tuple[_Atom, ...] = parse_response(cast("list[bytes]", group))
    except (imapclient_errors.ProtocolError, ValueError, IndexError, TypeError, RecursionError):
        # Only the size: the response holds mail content, which does not belong in logs.
        size = sum(len(e) if isinstance(e, bytes) else len(e[0]) + len(e[1]) for e in group)
        logger.warning("unparseable IMAP response skipped (%d bytes)", size)
        return None
    return parsed


_UID_IN_LINE = re.compile(rb"\bUID (\d+)", re.IGNORECASE)


def _fetch_items(group: list[_Entry]) -> dict[bytes, _Atom] | None:
    """The data items of one FETCH response, keyed by upper-case name."""
    if len(group) == 1 and isinstance(group[0], bytes):
        fast = _fast_flag_items(group[0])
        if fast is not None:
            return fast
    parsed = _parse(group)
    if parsed is None or len(parsed) < 2 or not isinstance(parsed[1], tuple):
        # Keep the UID if we can read it, so the message is not lost from the list for good.
        first = group[0] if isinstance(group[0], bytes) else group[0][0]
        match = _UID_IN_LINE.search(first)
        return {b"UID": int(match.group(1))} if match else None
    items = parsed[1]
    out: dict[bytes, _Atom] = {}
    for index in range(0, len(items) - 1, 2):
        key = items[index]
        if isinstance(key, bytes):
            out[key.upper()] = items[index + 1]
    return out


# A fast path for the one response shape a first sync reads 100,000 times: a FETCH of UID,
# FLAGS, INTERNALDATE, RFC822.SIZE, MODSEQ, ENVELOPE and BODYSTRUCTURE written the way Dovecot
# (and most servers) write it: quoted strings without control characters, NIL, plain numbers,
# single spaces. One regular expression (run in C) checks the whole line and cuts out the
# fields; only what the Envelope needs is converted, and BODYSTRUCTURE is parsed only when it
# could name an attachment. Anything else returns None and takes the general path
# (`_fetch_items` and `_envelope`), whose result this must equal: property-tested with
# IMAPClient's parser as the oracle (tests/protocols/test_imap_fast_envelope.py).
# A quoted string; only \\ and \" escaped ("unrolled": one tight loop per run of plain bytes).
_Q = rb'"[^"\\\x00-\x1f\x7f]*+(?:\\["\\][^"\\\x00-\x1f\x7f]*+)*+"'
_NSTRING = rb"(?:NIL|" + _Q + rb")"
_ADDRESS = rb"\(" + rb" ".join([_NSTRING] * 4) + rb"\)"
_ADDRESS_LIST = rb"(?:NIL|\(" + _ADDRESS + rb"(?: ?" + _ADDRESS + rb")*+\))"
_BODY_ELEMENT = rb"(?:NIL|" + _Q + rb"|0|[1-9][0-9]{0,15})(?=[ )])"
_BODY_DEPTH = 12  # deeper structures take the general path


def _body_pattern(depth: int) -> bytes:
    """A parenthesised list of quoted strings, NIL, numbers and nested lists (to ``depth``)."""
    inner = (
        _BODY_ELEMENT
        if depth == 0
        else rb"(?:" + _BODY_ELEMENT + rb"|" + _body_pattern(depth - 1) + rb")"
    )
    return rb"\((?: ?" + inner + rb")*+\)"


_ENVELOPE_ITEM = (
    rb"ENVELOPE \((?P<date>" + _NSTRING + rb") (?P<subject>" + _NSTRING + rb") "
    rb"(?P<from>" + _ADDRESS_LIST + rb") " + _ADDRESS_LIST + rb" "  # the sender is not kept
    rb"(?P<reply_to>" + _ADDRESS_LIST + rb") (?P<to>" + _ADDRESS_LIST + rb") "
    rb"(?P<cc>" + _ADDRESS_LIST + rb") (?P<bcc>" + _ADDRESS_LIST + rb") "
    rb"(?P<in_reply_to>" + _NSTRING + rb") (?P<message_id>" + _NSTRING + rb")\)"
)
_FLAG = rb"\\?[A-Za-z0-9$_.+&'!#~^|=/@:;<>,?`-]{1,255}"
_FETCH_ITEM = (
    rb"(?:UID (?P<uid>[1-9][0-9]{0,9})(?=[ )])"
    rb"|FLAGS \((?P<flags>(?:" + _FLAG + rb"(?: " + _FLAG + rb")*+)?)\)"
    rb'|INTERNALDATE "(?P<internaldate>[^"\\\x00-\x1f\x7f]*+)"'
    rb"|RFC822\.SIZE (?P<size>0|[1-9][0-9]{0,15})(?=[ )])"
    rb"|MODSEQ \((?P<modseq>[1-9][0-9]{0,18})\)"
    rb"|" + _ENVELOPE_ITEM + rb""
    rb"|BODYSTRUCTURE (?P<body>" + _body_pattern(_BODY_DEPTH) + rb"))"
)
# Items after the first follow a space ("(?<=\()" holds only right after the parenthesis).
_FAST_FETCH = re.compile(rb"[0-9]+ \((?:(?:(?<=\()| )" + _FETCH_ITEM + rb")++\)")
_FAST_ADDRESS = re.compile(rb"\((" + rb") (".join([_NSTRING] * 4) + rb")\)")
_LITERAL_MARK = re.compile(rb"\{([0-9]{1,9})\}\Z")
_DATE = re.compile(
    rb"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?([0-9]{1,2}) "
    rb"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([1-9][0-9]{3}) "
    rb"([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9]) ([-+])([01][0-9]|2[0-3])([0-5][0-9])"
    rb"(?: .*)?"  # e.g. " (CET)": the date parser ignores what follows the zone
)
_FLAG_SETS: dict[bytes, frozenset[str]] = {}
_ADDRESS_LISTS: dict[bytes, tuple[Address, ...]] = {}


# The other bulk shape: UID, FLAGS and MODSEQ (CHANGEDSINCE, flags of a window, STORE).
_FAST_FLAG_FETCH = re.compile(
    rb"[0-9]+ \((?:(?:(?<=\()| )(?:UID (?P<uid>[1-9][0-9]{0,9})(?=[ )])"
    rb"|FLAGS \((?P<flags>(?:" + _FLAG + rb"(?: " + _FLAG + rb")*+)?)\)"
    rb"|MODSEQ \((?P<modseq>[1-9][0-9]{0,18})\)))++\)"
)


def _fast_flag_items(line: bytes) -> dict[bytes, _Atom] | None:
    """`_fetch_items` of a response with only UID, FLAGS and MODSEQ; None for anything else.
    Property-tested against IMAPClient's parser like `_fast_envelope`."""
    match = _FAST_FLAG_FETCH.fullmatch(line)
    if match is None:
        return None
    uid, flags, modseq = match.groups()
    items: dict[bytes, _Atom] = {}
    if uid is not None:
        items[b"UID"] = int(uid)
    if flags is not None:
        items[b"FLAGS"] = tuple(_flag_atom(word) for word in flags.split())
    if modseq is not None:
        items[b"MODSEQ"] = (int(modseq),)
    return items


def _flag_atom(word: bytes) -> _Atom:
    """A flag as IMAPClient's parser returns an atom: NIL is None, a number an int."""
    if word == b"NIL":
        return None
    if word.isdigit() and (word[:1] != b"0" or len(word) == 1):
        return int(word)
    return word


def _fast_string(token: bytes) -> bytes | None:
    """NIL or a quoted string as `_fast_parse` would return it."""
    if token == b"NIL":
        return None
    body = token[1:-1]
    return _QUOTED_ESCAPE.sub(rb"\1", body) if b"\\" in body else body


def _fast_text(token: bytes) -> str:
    """`_clean(_text(...))` of a token the fast pattern accepted (no control characters)."""
    if token == b"NIL":
        return ""
    value = _fast_string(token)
    assert value is not None  # noqa: S101 - NIL handled above; for mypy
    return _text(value).strip()


def _fast_header(token: bytes) -> str:
    """`decode_header_text(_text(...))` of an accepted token."""
    if token == b"NIL":
        return ""
    value = _fast_string(token)
    assert value is not None  # noqa: S101 - NIL handled above; for mypy
    text = _text(value)
    return _decode_encoded_words(text) if "=?" in text else text.strip()


def _fast_addresses(token: bytes | None) -> tuple[Address, ...]:
    if token is None or token == b"NIL":
        return ()
    cached = _ADDRESS_LISTS.get(token)
    if cached is not None:
        return cached
    out: list[Address] = []
    for name, _route, mailbox, host in _FAST_ADDRESS.findall(token):
        if host == b"NIL":
            continue  # group syntax, as in `_addresses`
        local, domain = _fast_text(mailbox), _fast_text(host)
        email = f"{local}@{domain}" if local and domain else local or domain
        out.append(Address(name=_fast_header(name), email=email))
    addresses = tuple(out)
    if len(token) <= _CACHED_TEXT:  # the same senders and recipients recur
        if len(_ADDRESS_LISTS) >= 4096:
            _ADDRESS_LISTS.clear()
        _ADDRESS_LISTS[token] = addresses
    return addresses


def _fast_flags(raw: bytes | None) -> frozenset[str]:
    if raw is None:
        return frozenset()
    flags = _FLAG_SETS.get(raw)
    if flags is None:
        flags = frozenset(
            word.decode("ascii")
            for word in raw.split()
            if word != b"NIL" and word.lower() != b"\\recent"
        )
        if len(_FLAG_SETS) < 1024 and len(raw) <= _CACHED_TEXT:  # few distinct flag sets
            _FLAG_SETS[raw] = flags
    return flags


def _fast_date(token: bytes | None) -> datetime | None:
    """`_datetime` of an ENVELOPE date; the common RFC 5322 form without the general parser."""
    if token is None or token == b"NIL":
        return None
    value = _fast_string(token)
    assert value is not None  # noqa: S101 - NIL handled above; for mypy
    # The common form, "Tue, 01 Jan 2019 18:51:49 +0530", by slices and a per-day cache.
    # What `_DATE` refuses (a year from 0, a zone past 23:59, 24:00) the general parser reads.
    if (
        len(value) == 31
        and value[3:5] == b", "
        and value[:3] in _WEEKDAYS
        and value[16:17] == value[25:26] == b" "
        and value[12:13] != b"0"
        and value[27:29] <= b"23"
        and value[29:30] <= b"5"
    ):
        sent = _clock_time(value[5:16].replace(b" ", b"-") + value[25:], value[17:25])
        if sent is not None and sent is not _EPOCH:
            return sent
    match = _DATE.fullmatch(value)
    if match is None:
        return _datetime(value)
    day, month, year, hour, minute, second, sign, zone_h, zone_m = match.groups()
    offset = (int(zone_h) * 60 + int(zone_m)) * (-1 if sign == b"-" else 1)
    return _utc(int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second), offset)


def _fast_has_attachments(body: bytes | None) -> bool:
    if body is None:
        return False
    lowered = body.lower()
    # `_has_attachments` can only say yes for a disposition "attachment" or a "name" or
    # "filename" parameter; without those words (in ASCII) there is nothing to walk.
    if body.isascii() and b"attachment" not in lowered and b"name" not in lowered:
        return False
    parsed = _fast_parse(body)
    return _has_attachments(parsed[0] if parsed else None)


def _inline_literals(group: list[_Entry]) -> bytes | None:
    """A response with literals as one line, each literal written as a quoted string (what
    the parser returns for either is the same bytes); None if a literal cannot be quoted."""
    parts: list[bytes] = []
    for entry in group:
        if isinstance(entry, bytes):
            parts.append(entry)
            continue
        line, literal = entry
        mark = _LITERAL_MARK.search(line)
        if mark is None or int(mark.group(1)) != len(literal):
            return None
        if any(byte < 0x20 or byte == 0x7F for byte in literal):
            return None
        parts.append(line[: mark.start()])
        parts.append(b'"' + literal.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"')
    return b"".join(parts)


def _any_envelope(group: list[_Entry]) -> Envelope | None:
    """The Envelope of one FETCH response: the fast path, else the general one."""
    envelope = _fast_envelope(group)
    if envelope is not None:
        return envelope
    message = _fetch_items(group)
    uid = _int(message.get(b"UID")) if message else None
    if message is None or uid is None:
        return None
    return _envelope(uid, message)


class _EnvelopeCollector:
    """The Envelopes of one batch of UIDs, as its FETCH responses arrive."""

    def __init__(self, wanted: list[int]) -> None:
        self.wanted = wanted
        self.wanted_set = set(wanted)
        self.found: dict[int, Envelope] = {}
        # Every response per UID: a server may send a message twice (another client changed
        # its flags meanwhile); those are merged, later items over earlier ones.
        self.responses: dict[int, list[list[_Entry]]] = {}

    def add(self, envelope: Envelope, group: list[_Entry]) -> bool:
        """Take the response if its UID is one of ours."""
        uid = envelope.uid
        if uid not in self.wanted_set:
            return False
        if uid in self.found:
            self.responses[uid].append(group)
        else:
            self.found[uid] = envelope
            self.responses[uid] = [group]
        return True

    def envelopes(self) -> list[Envelope]:
        for uid, groups in self.responses.items():
            if len(groups) > 1:
                merged: dict[bytes, _Atom] = {}
                for group in groups:
                    merged.update(_fetch_items(group) or {})
                self.found[uid] = _envelope(uid, merged)
        return [self.found[uid] for uid in self.wanted if uid in self.found]


def _fast_envelope(group: list[_Entry]) -> Envelope | None:
    """The Envelope of one FETCH response, or None for the general path. Needs UID, ENVELOPE
    and BODYSTRUCTURE in the response; equals ``_envelope(uid, _fetch_items(group))``."""
    if len(group) == 1 and isinstance(group[0], bytes):
        line: bytes | None = group[0]
    else:
        line = _inline_literals(group)
    match = _FAST_FETCH.fullmatch(line) if line is not None else None
    if match is None:
        return None
    (uid, flags, internaldate, size, modseq, date, subject, from_, reply_to, to, cc, bcc,
     in_reply_to, message_id, body) = match.groups()  # fmt: skip
    if uid is None or subject is None or body is None:
        return None
    sent = _fast_date(date)
    return _make_envelope(
        uid=int(uid),
        flags=_fast_flags(flags),
        internaldate=(
            (_internaldate(internaldate) if internaldate is not None else None) or sent or _EPOCH
        ),
        size=int(size) if size is not None else 0,
        subject=_fast_header(subject),
        from_=_fast_addresses(from_),
        to=_fast_addresses(to),
        cc=_fast_addresses(cc),
        bcc=_fast_addresses(bcc),
        reply_to=_fast_addresses(reply_to),
        date=sent,
        message_id=_fast_text(message_id),
        in_reply_to=_fast_text(in_reply_to),
        has_attachments=_fast_has_attachments(body),
        modseq=int(modseq) if modseq is not None else None,
    )


def _make_envelope(**values: object) -> Envelope:
    """``Envelope(**values)`` at a third of the cost (a frozen dataclass's __init__ sets each
    field through object.__setattr__): the fast path makes 100,000 of them in a first sync.
    Still frozen, equal and hashing alike; tests check it against the constructor (and the
    property tests that every field equals the general path's)."""
    envelope = object.__new__(Envelope)
    object.__setattr__(envelope, "__dict__", values)
    return envelope


def _server_text(exc: BaseException | str, secret: str = "") -> str:
    text = str(exc)
    if secret:
        text = text.replace(secret, "***")
    text = _DOVECOT_TIMING.sub("", _clean(text))
    return text[:300]


def _response_code(text: str) -> str | None:
    match = _RESPONSE_CODE.search(text)
    return match.group(1) if match else None


def _line(data: Sequence[object]) -> str:
    first = data[0] if data else b""
    return _text(first) if isinstance(first, bytes) else ""


# --------------------------------------------------------------------------------------------
# Connection plumbing


_TLS_CONTEXT_SECONDS = 300.0
_tls_contexts: dict[tuple[str, int, int], tuple[float, ssl.SSLContext]] = {}


def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    """`ssl_context`, reused for a few minutes: building one loads the system CA store (~40 ms
    here), more than all the rest of a sync that finds nothing new. Keyed by the CA file's
    path, size and modification time, so an edited file is read again."""
    key = ("", 0, 0)
    if ca_file:
        try:
            info = Path(ca_file).stat()
        except OSError:
            return ssl_context(ca_file)  # raises the TLSError that explains it
        key = (ca_file, info.st_mtime_ns, info.st_size)
    now = time.monotonic()
    cached = _tls_contexts.get(key)
    if cached is not None and now - cached[0] < _TLS_CONTEXT_SECONDS:
        return cached[1]
    context = ssl_context(ca_file)
    if len(_tls_contexts) >= 16:
        _tls_contexts.clear()
    _tls_contexts[key] = (now, context)
    return context


# What imaplib's Untagged_status pattern reads as type FETCH with data "<n> <rest>".
_UNTAGGED_FETCH = re.compile(rb"\* ([0-9]+) FETCH (.+)", re.DOTALL)


class _PinnedIMAP4(imaplib.IMAP4):
    """imaplib over a socket already connected to a policy-checked address.

    ``host`` stays the name the user typed: imaplib's STARTTLS uses it for SNI and the hostname
    check, and so do we for implicit TLS.
    """

    # While set, each untagged FETCH response goes here as it arrives (see
    # `ImapSession._pipelined_envelopes`) instead of into untagged_responses.
    fetch_sink: Callable[[list[_Entry]], None] | None = None

    def __init__(
        self, host: str, port: int, sock: socket.socket, tls: ssl.SSLContext | None
    ) -> None:
        self._pinned_sock = sock
        self._implicit_tls = tls
        self.eof = False
        self._pushed_back: bytes | None = None
        super().__init__(host, port)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        if self._implicit_tls is None:
            return self._pinned_sock
        return self._implicit_tls.wrap_socket(self._pinned_sock, server_hostname=self.host)

    def readline(self) -> bytes:
        line = cast(bytes, self.file.readline(_MAX_LINE + 1))
        if not line:
            # imaplib turns this into abort("socket error: EOF"), which IMAPClient's idle_check
            # also gets when a non-blocking read merely found nothing; tell the two apart.
            self.eof = self._peer_closed()
        if len(line) > _MAX_LINE:
            raise self.error(f"got more than {_MAX_LINE} bytes in one line")
        return line

    def _get_line(self) -> bytes:
        """imaplib's, without formatting every line into its debug log (a repr of each of the
        100,000 FETCH lines of a first sync, mail text included, for a log nobody reads)."""
        if self._pushed_back is not None:
            line, self._pushed_back = self._pushed_back, None
            return line
        line = self.readline()
        if not line:
            raise self.abort("socket error: EOF")
        if not line.endswith(b"\r\n"):  # RFC 3501 section 2.2: every line ends in CRLF
            raise self.abort("socket error: unterminated line")
        return line[:-2]

    def _get_response(self) -> bytes | None:
        """imaplib's, with a shortcut for the bulk of a sync: an untagged FETCH without a
        literal is stored as imaplib stores it, without its four regular expressions."""
        line = self._get_line()
        if line[-1:] != b"}":  # imaplib's literal marker ends the line with "{n}"
            match = _UNTAGGED_FETCH.fullmatch(line)
            if match is not None:
                data = match.group(1) + b" " + match.group(2)
                if self.fetch_sink is not None:
                    self.fetch_sink([data])
                else:
                    self.untagged_responses.setdefault("FETCH", []).append(data)
                return line
        self._pushed_back = line
        # typeshed leaves imaplib's internals out (IMAP4.__getattr__ is Any)
        response: bytes | None = cast("Any", super())._get_response()
        if self.fetch_sink is not None and "FETCH" in self.untagged_responses:
            # A response with literals, complete now: on to the sink, in arrival order.
            for group in _group(self.untagged_responses.pop("FETCH")):
                self.fetch_sink(group)
        return response

    def _peer_closed(self) -> bool:
        sock = self.sock
        if isinstance(sock, ssl.SSLSocket):
            return True  # non-blocking TLS reads raise SSLWantReadError instead of returning b""
        try:
            return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True


class _Client(IMAPClient):  # type: ignore[misc,unused-ignore]  # Any if mypy skips imapclient
    """IMAPClient whose imaplib connection is a `_PinnedIMAP4`."""

    def __init__(
        self, host: str, port: int, sock: socket.socket, tls: ssl.SSLContext | None, timeout: float
    ) -> None:
        self._pinned = (sock, tls)
        super().__init__(host, port, ssl=tls is not None, ssl_context=tls, timeout=timeout)
        self.folder_encode = False  # we always pass wire names, already modified UTF-7
        self.normalise_times = False
        # IMAPClient turns imaplib's tracing on; it formats every response line (mail text
        # included) even when nothing logs it.
        self._imap.debug = 0

    def _create_IMAP4(self) -> _PinnedIMAP4:  # noqa: N802 - IMAPClient's name
        sock, tls = self._pinned
        return _PinnedIMAP4(self.host, self.port, sock, tls)


_FLAG_ROLES: dict[str, SpecialUse] = {
    "\\sent": "sent",
    "\\drafts": "drafts",
    "\\trash": "trash",
    "\\junk": "junk",
    "\\archive": "archive",
}
# Names servers without SPECIAL-USE (RFC 6154) commonly use, most likely first.
_ROLE_NAMES: dict[SpecialUse, tuple[str, ...]] = {
    "sent": ("sent", "sent items", "sent messages", "sent mail"),
    "drafts": ("drafts", "draft"),
    "trash": ("trash", "deleted items", "deleted messages", "deleted"),
    "junk": ("junk", "spam", "junk e-mail", "junk email", "bulk mail"),
    "archive": ("archive", "archives"),
}


def _assign_special_use(folders: list[FolderInfo]) -> list[FolderInfo]:
    roles: dict[str, SpecialUse] = {}
    claimed: set[SpecialUse] = set()
    for folder in folders:
        if folder.raw_name.upper() == "INBOX":
            roles[folder.raw_name] = "inbox"
            continue
        for flag in folder.flags:
            role = _FLAG_ROLES.get(flag.lower())
            if role is not None:
                roles[folder.raw_name] = role
                claimed.add(role)
                break
    for role, names in _ROLE_NAMES.items():
        if role in claimed:
            continue
        candidates: list[tuple[int, int, str]] = []
        for position, folder in enumerate(folders):
            if folder.raw_name in roles or not folder.selectable:
                continue
            name = folder.name
            if folder.delimiter and name.upper().startswith("INBOX" + folder.delimiter):
                name = name[len("INBOX") + len(folder.delimiter) :]
            if folder.delimiter and folder.delimiter in name:
                continue
            if name.lower() in names:
                candidates.append((names.index(name.lower()), position, folder.raw_name))
        if candidates:
            roles[min(candidates)[2]] = role
    return [
        FolderInfo(
            name=f.name,
            raw_name=f.raw_name,
            delimiter=f.delimiter,
            flags=f.flags,
            special_use=roles.get(f.raw_name),
            subscribed=f.subscribed,
            selectable=f.selectable,
        )
        for f in folders
    ]


def _idle_events(responses: Iterable[object], host: str) -> list[IdleEvent]:
    events: list[IdleEvent] = []
    for response in responses:
        if not isinstance(response, tuple) or not response:
            continue
        head = response[0]
        word = response[1].upper() if len(response) > 1 and isinstance(response[1], bytes) else b""
        if isinstance(head, int):
            if word == b"EXISTS":
                events.append(IdleEvent("exists", head))
            elif word == b"EXPUNGE":
                events.append(IdleEvent("expunge", head))
            elif word == b"FETCH":
                items = response[2] if len(response) > 2 else None
                uid = None
                if isinstance(items, tuple):
                    pairs = dict(zip(items[0::2], items[1::2], strict=False))
                    uid = _int(pairs.get(b"UID"))
                events.append(IdleEvent("fetch", head, (uid,) if uid else ()))
            else:
                events.append(IdleEvent("other", head))
            continue
        tag = head.upper() if isinstance(head, bytes) else b""
        if tag == b"BYE":
            raise TransientError(f"{host} ended the session (BYE)")
        if tag == b"VANISHED":
            # RFC 7162 section 3.2.10: with QRESYNC enabled expunges arrive as VANISHED <uids>.
            rest = [a for a in response[1:] if not isinstance(a, tuple)]
            uids = tuple(_parse_uid_set(_text(rest[-1]))) if rest else ()
            events.append(IdleEvent("expunge", len(uids), uids))
        elif tag not in (b"OK", b"NO"):  # "OK Still here" keep-alives carry no news
            events.append(IdleEvent("other", 0))
    return events


# --------------------------------------------------------------------------------------------
# The session


class ImapSession:
    """One logged-in IMAP connection. Create with `ImapSession.connect`; use as a context
    manager (logs out on exit, closes without LOGOUT on error).

    Not thread-safe. After a TransientError the connection is closed and every later call
    raises TransientError: open a new session.
    """

    def __init__(self, client: _Client, endpoint: Endpoint, address: str) -> None:
        self._client = client
        self._imap = cast(_PinnedIMAP4, client._imap)
        self._endpoint = endpoint
        self.address = address
        self._capabilities: frozenset[str] = frozenset()
        self._qresync = False
        self._condstore = False
        self._selected: str | None = None
        self._readonly = True
        self._pending_vanished: set[int] = set()
        self._idling = False
        self._idle_since = 0.0
        self._closed = False

    # -- life cycle -------------------------------------------------------------------------

    @classmethod
    def connect(cls, endpoint: Endpoint, options: ConnectOptions) -> ImapSession:
        """Connect, secure, log in and ENABLE QRESYNC (or CONDSTORE) when offered."""
        context = _tls_context(options.ca_file) if endpoint.security != "none" else None
        sock, address = open_socket(endpoint, options)
        implicit = context if endpoint.security == "tls" else None
        client: _Client | None = None
        try:
            client = _Client(
                tls_server_name(endpoint.host), endpoint.port, sock, implicit, options.timeout
            )
        except OSError as exc:
            raise network_error(exc, endpoint.host, endpoint.port, "connecting") from exc
        except imaplib.IMAP4.error as exc:
            raise TransientError(
                f"{endpoint.host} did not greet like an IMAP server: {_server_text(exc)}"
            ) from exc
        finally:
            if client is None:
                sock.close()
        session = cls(client, endpoint, address)
        try:
            session._start(context)
        except BaseException:
            session.close()
            raise
        return session

    def _start(self, context: ssl.SSLContext | None) -> None:
        host = self._endpoint.host
        if self._endpoint.security == "starttls":
            with self._guard("starting TLS", handshake=True):
                if "STARTTLS" not in self._imap.capabilities:
                    raise TLSError(f"{host} does not offer STARTTLS")
                self._client.starttls(context)
        if self._imap.state == "NONAUTH":
            with self._guard("logging in", login=True):
                self._login()
        with self._guard("reading the server's capabilities"):
            capabilities = self._client.capabilities()  # type: ignore[no-untyped-call,unused-ignore]
            self._capabilities = frozenset(_text(c).upper() for c in capabilities)
            if "QRESYNC" in self._capabilities and "ENABLE" in self._capabilities:
                enabled = {_text(c).upper() for c in self._client.enable("QRESYNC")}
                # RFC 7162 section 3.2.3: enabling QRESYNC also enables CONDSTORE.
                self._qresync = "QRESYNC" in enabled
                self._condstore = self._qresync
            if not self._condstore and "CONDSTORE" in self._capabilities:
                if "ENABLE" in self._capabilities:
                    self._client.enable("CONDSTORE")
                # Without ENABLE, the first CHANGEDSINCE or MODSEQ fetch enables it (3.1).
                self._condstore = True

    def _login(self) -> None:
        username, password = self._endpoint.username, self._endpoint.password
        capabilities = self._imap.capabilities
        if "LOGINDISABLED" in capabilities:
            raise PermanentError(
                f"{self._endpoint.host} does not allow logging in without TLS; use TLS or STARTTLS"
            )
        if "AUTH=PLAIN" in capabilities:
            # SASL PLAIN carries UTF-8 (RFC 4616); LOGIN would need ASCII or literals.
            self._client.plain_login(username, password)  # type: ignore[no-untyped-call,unused-ignore]
        elif username.isascii() and password.isascii():
            quoted = '"' + username.replace("\\", "\\\\").replace('"', '\\"') + '"'
            self._imap.login(quoted, password)
        else:
            raise PermanentError(
                f"{self._endpoint.host} accepts only ASCII user names and passwords"
            )

    def logout(self) -> None:
        """LOGOUT and close; safe to call twice."""
        if self._closed:
            return
        if not self._idling:
            with suppress(imaplib.IMAP4.error, OSError):
                self._imap.logout()
        self.close()

    def close(self) -> None:
        """Close the connection without LOGOUT; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._idling = False
        with suppress(OSError):
            self._imap.shutdown()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.logout()
        else:
            self.close()

    # -- error translation and command plumbing ----------------------------------------------

    @contextmanager
    def _guard(self, doing: str, *, handshake: bool = False, login: bool = False) -> Iterator[None]:
        if self._closed:
            raise TransientError("the IMAP connection is closed; open a new one")
        try:
            yield
        except ProtocolError as exc:
            if isinstance(exc, TransientError):
                self.close()
            raise
        except (imaplib.IMAP4.error, OSError) as exc:
            error = self._translate(exc, doing, handshake=handshake, login=login)
            if isinstance(error, TransientError) or isinstance(exc, OSError):
                # The stream may be mid-response; nothing more can be read from it safely.
                self.close()
            raise error from exc

    def _translate(
        self, exc: imaplib.IMAP4.error | OSError, doing: str, *, handshake: bool, login: bool
    ) -> ProtocolError:
        host, port = self._endpoint.host, self._endpoint.port
        if isinstance(exc, ssl.SSLError) and not isinstance(exc, ssl.SSLCertVerificationError):
            if not handshake:
                return TransientError(f"the TLS connection to {host} failed while {doing}")
            return tls_error(exc, host)
        if isinstance(exc, OSError):
            return network_error(exc, host, port, doing)
        text = _server_text(exc, self._endpoint.password if login else "")
        code = _response_code(text)
        if isinstance(exc, imaplib.IMAP4.readonly):
            return PermanentError(f"the folder is read-only on {host}")
        if isinstance(exc, imaplib.IMAP4.abort):
            return TransientError(f"{host} closed the connection while {doing}: {text}")
        if code in _TRANSIENT_CODES:
            return TransientError(f"{host} cannot do this right now ({doing}): {text}")
        if login or isinstance(exc, imapclient_errors.LoginError):
            if code == "PRIVACYREQUIRED":
                return PermanentError(f"{host} requires TLS to log in: {text}")
            return AuthError(f"{host} refused the user name or password: {text}")
        if isinstance(exc, imapclient_errors.CapabilityError):
            return PermanentError(f"{host} does not support {doing}: {text}")
        return PermanentError(f"{host} refused {doing}: {text}")

    def _harvest(self) -> None:
        """Keep VANISHED responses for the selected folder until `changes_since` reports them.

        With QRESYNC a server announces expunges once, as VANISHED, during whatever command is
        running (RFC 7162 section 3.2.10); dropping them would lose deletions.
        """
        entries = self._imap.untagged_responses.pop("VANISHED", None)
        if entries and self._selected is not None:
            for entry in entries:
                line = _text(entry if isinstance(entry, bytes) else entry[0])
                if line.upper().startswith("(EARLIER)"):
                    line = line[len("(EARLIER)") :]
                self._pending_vanished.update(_parse_uid_set(line))

    def _run(
        self, name: str, *args: str, response: str | None = None
    ) -> tuple[str, str, list[_Entry]]:
        """Send one command; returns (status, tagged text, untagged data named ``response``).

        Untagged data left over from earlier commands is dropped first, so it never leaks into
        this command's answer (and never piles up in a long-lived session).
        """
        self._harvest()
        self._imap.untagged_responses.clear()
        typ, data = self._imap._simple_command(name, *args)
        entries = self._imap.untagged_responses.pop(response, []) if response else []
        self._harvest()
        return str(typ), _line(data), entries

    def _require_selected(self, *, writable: bool = False) -> str:
        if self._selected is None:
            raise PermanentError("no folder is open on this connection")
        if writable and self._readonly:
            raise PermanentError("the folder was opened read-only; select it with readonly=False")
        return self._selected

    def _folder_error(self, raw_name: str, text: str, doing: str) -> ProtocolError:
        host = self._endpoint.host
        gone = FolderGone(f"the folder {decode_folder_name(raw_name)} no longer exists on {host}")
        if _response_code(text) in ("TRYCREATE", "NONEXISTENT"):
            return gone
        if _response_code(text) in _TRANSIENT_CODES:
            return TransientError(f"{host} cannot do this right now ({doing}): {text}")
        # Not every server sends a response code (Dovecot 2.3 does not for SELECT): ask.
        typ, _text_, entries = self._run("LIST", '""', _mailbox_arg(raw_name), response="LIST")
        exists = any(
            parsed is not None
            and len(parsed) >= 3
            and _text(parsed[2]) == raw_name
            and "\\nonexistent" not in {_text(f).lower() for f in _tuple(parsed[0])}
            for parsed in (_parse(g) for g in _group(entries))
        )
        if typ == "OK" and not exists:
            return gone
        return PermanentError(f"{host} refused {doing}: {text}")

    # -- capabilities -----------------------------------------------------------------------

    @property
    def capabilities(self) -> frozenset[str]:
        return self._capabilities

    @property
    def tls_version(self) -> str | None:
        """The negotiated TLS version ("TLSv1.3"), or None on a plain-text connection."""
        sock = self._imap.sock
        return sock.version() if isinstance(sock, ssl.SSLSocket) else None

    @property
    def has_qresync(self) -> bool:
        """QRESYNC offered and enabled (RFC 7162 section 3.2)."""
        return self._qresync

    @property
    def has_condstore(self) -> bool:
        return self._condstore

    @property
    def has_move(self) -> bool:
        return "MOVE" in self._capabilities

    @property
    def has_idle(self) -> bool:
        return "IDLE" in self._capabilities

    @property
    def has_special_use(self) -> bool:
        return "SPECIAL-USE" in self._capabilities

    # -- folders ----------------------------------------------------------------------------

    def list_folders(self) -> list[FolderInfo]:
        """Every folder, with special use (RFC 6154, else common names) and subscription."""
        with self._guard("listing folders"):
            subscribed: set[str] | None = None
            if "LIST-EXTENDED" in self._capabilities:
                # RFC 5258 section 3: RETURN (SUBSCRIBED) marks subscribed folders with
                # \Subscribed; RFC 6154 section 2 adds the special-use attributes on request.
                returns = "SUBSCRIBED SPECIAL-USE" if self.has_special_use else "SUBSCRIBED"
                typ, text, entries = self._run(
                    "LIST", '""', '"*"', "RETURN", f"({returns})", response="LIST"
                )
            else:
                typ, text, entries = self._run("LIST", '""', '"*"', response="LIST")
                if typ == "OK":
                    _t, _x, lsub = self._run("LSUB", '""', '"*"', response="LSUB")
                    subscribed = {f.raw_name for f in (_folder(g, None) for g in _group(lsub)) if f}
            if typ != "OK":
                raise PermanentError(f"{self._endpoint.host} refused to list folders: {text}")
        folders = [f for f in (_folder(g, subscribed) for g in _group(entries)) if f is not None]
        unique = {f.raw_name: f for f in folders}
        return _assign_special_use(list(unique.values()))

    def status(self, raw_name: str, *, unseen: bool = True) -> FolderStatus:
        """Counts and UID state of a folder without selecting it (``unseen=False`` leaves out
        the unseen count, which a server may have to count; then it reads 0)."""
        mailbox = _mailbox_arg(raw_name)
        names = "MESSAGES UNSEEN UIDNEXT UIDVALIDITY" if unseen else "MESSAGES UIDNEXT UIDVALIDITY"
        if "CONDSTORE" in self._capabilities:
            names += " HIGHESTMODSEQ"
        with self._guard("reading a folder's status"):
            typ, text, entries = self._run("STATUS", mailbox, f"({names})", response="STATUS")
            if typ != "OK":
                raise self._folder_error(raw_name, text, "reading the folder's status")
        values: dict[bytes, _Atom] = {}
        for group in _group(entries):
            parsed = _parse(group)
            if (
                parsed
                and len(parsed) >= 2
                and isinstance(parsed[-1], tuple)
                and (_text(parsed[0]) == raw_name or not values)
            ):
                items = parsed[-1]
                values = {
                    _text(k).upper().encode(): v
                    for k, v in zip(items[0::2], items[1::2], strict=False)
                }
        return FolderStatus(
            messages=_int(values.get(b"MESSAGES")) or 0,
            unseen=_int(values.get(b"UNSEEN")) or 0,
            uidnext=_int(values.get(b"UIDNEXT")) or 0,
            uidvalidity=_int(values.get(b"UIDVALIDITY")) or 0,
            highestmodseq=_int(values.get(b"HIGHESTMODSEQ")),
        )

    def select(
        self, raw_name: str, *, readonly: bool = True, expect_uidvalidity: int | None = None
    ) -> SelectState:
        """Open a folder (EXAMINE when ``readonly``). FolderGone if it no longer exists;
        UidValidityChanged if ``expect_uidvalidity`` is given and differs."""
        mailbox = _mailbox_arg(raw_name)
        host = self._endpoint.host
        with self._guard("opening a folder"):
            self._harvest()
            self._selected = None
            self._pending_vanished.clear()
            typ, data = self._imap.select(mailbox, readonly)
            if typ != "OK":
                raise self._folder_error(raw_name, _line(data), "opening the folder")
            codes = self._imap.untagged_responses
            uidvalidity = _last_int(codes.get("UIDVALIDITY"))
            if uidvalidity is None:
                raise PermanentError(f"{host} gave no UIDVALIDITY; the folder cannot be synced")
            uidnext = _last_int(codes.get("UIDNEXT"))
            exists = _last_int(codes.get("EXISTS")) or 0
            modseq = None
            if self._condstore and "NOMODSEQ" not in codes:  # RFC 7162 section 3.1.2.2
                modseq = _last_int(codes.get("HIGHESTMODSEQ"))
            self._selected, self._readonly = raw_name, readonly
            if uidnext is None:  # optional in RFC 3501: derive it from the last message
                uidnext = max(self._search_uids("ALL", "UID", "*"), default=0) + 1
        if expect_uidvalidity is not None and expect_uidvalidity != uidvalidity:
            raise UidValidityChanged(
                f"{decode_folder_name(raw_name)} was recreated on {host} (UIDVALIDITY "
                f"{expect_uidvalidity} -> {uidvalidity}); cached messages are void"
            )
        return SelectState(
            uidvalidity=uidvalidity, uidnext=uidnext, exists=exists, highestmodseq=modseq
        )

    # -- reading messages -------------------------------------------------------------------

    def _fetch_responses(
        self, uid_set: str, items: str, modifiers: str | None = None
    ) -> list[list[_Entry]]:
        """The FETCH responses of one UID FETCH, unparsed."""
        args = ["FETCH", uid_set, items, *([modifiers] if modifiers else [])]
        typ, text, entries = self._run("UID", *args, response="FETCH")
        if typ != "OK":
            raise PermanentError(f"{self._endpoint.host} refused to fetch messages: {text}")
        return list(_group(entries))

    def _fetch(
        self, uid_set: str, items: str, modifiers: str | None = None
    ) -> list[dict[bytes, _Atom]]:
        groups = self._fetch_responses(uid_set, items, modifiers)
        return [m for m in (_fetch_items(g) for g in groups) if m is not None]

    def _fetch_by_uid(self, uids: Iterable[int], items: str) -> dict[int, dict[bytes, _Atom]]:
        wanted = set(_checked_uids(uids))
        out: dict[int, dict[bytes, _Atom]] = {}
        for uid_set in _uid_sets(wanted):
            for message in self._fetch(uid_set, items):
                uid = _int(message.get(b"UID"))
                if uid is not None and uid in wanted:  # drop unsolicited FETCH for others
                    # A server may send a message twice (RFC 7162 section 3.2.4: a flag change
                    # by another client during our command); later items update earlier ones.
                    out.setdefault(uid, {}).update(message)
        return out

    def _search_uids(self, *criteria: str) -> list[int]:
        typ, text, entries = self._run("UID", "SEARCH", *criteria, response="SEARCH")
        if typ != "OK":
            raise PermanentError(f"{self._endpoint.host} refused to search: {text}")
        return sorted(
            int(word)
            for entry in entries
            for word in _text(entry if isinstance(entry, bytes) else entry[0]).split()
            if _is_number(word)
        )

    def search_text(self, terms: Sequence[str]) -> list[int]:
        """UIDs in the selected folder whose headers or body hold every term: `UID SEARCH
        CHARSET UTF-8 TEXT t1 TEXT t2 ...` (RFC 3501 section 6.4.4), the server's own
        case-insensitive substring search. IMAPClient sends non-ASCII terms as literals."""
        self._require_selected()
        criteria: list[str] = []
        for term in terms:
            criteria += ["TEXT", term]
        with self._guard("searching"):
            self._harvest()
            found = self._client.search(criteria or ["ALL"], charset="UTF-8")
            self._harvest()
        return sorted(int(uid) for uid in found)

    def changes_since(self, modseq: int, *, vanished: bool) -> Changes:
        """Flags changed since ``modseq`` and, with ``vanished`` (QRESYNC), expunged UIDs.

        RFC 7162 section 3.1.4 (CHANGEDSINCE) and 3.2.6 (VANISHED modifier). Without QRESYNC
        pass ``vanished=False`` and find expunges by comparing `uid_list`.
        """
        if modseq < 1:
            raise ValueError("modseq must be positive (RFC 7162 mod-sequence-value)")
        self._require_selected()
        if not self._condstore:
            raise PermanentError(f"{self._endpoint.host} does not support CONDSTORE")
        if vanished and not self._qresync:
            raise PermanentError(f"{self._endpoint.host} does not support QRESYNC")
        modifiers = f"(CHANGEDSINCE {modseq}{' VANISHED' if vanished else ''})"
        with self._guard("reading changes"):
            messages = self._fetch("1:*", "(UID FLAGS)", modifiers)
            gone = sorted(self._pending_vanished) if vanished else []
            self._pending_vanished.clear()
        gone_set = set(gone)
        changed: dict[int, FlagChange] = {}
        for message in messages:
            uid = _int(message.get(b"UID"))
            # A FETCH can precede the VANISHED for the same message; expunged wins.
            if uid is None or uid in gone_set or b"FLAGS" not in message:
                continue
            changed[uid] = FlagChange(
                uid, _flags(message[b"FLAGS"]), _modseq(message.get(b"MODSEQ"))
            )
        return Changes(changed=sorted(changed.values(), key=lambda c: c.uid), vanished=gone)

    def uid_list(self, first: int = 1) -> list[int]:
        """Every UID in the open folder (from ``first`` on: new mail), ascending."""
        self._require_selected()
        if not 0 < first <= _MAX_UID:
            return []
        # "n:*" also matches the last message when its UID is below n (RFC 3501 section 6.4.8:
        # "*" is the largest UID and a range is unordered), so the result is filtered too.
        criteria = ("ALL",) if first == 1 else ("UID", f"{first}:*")
        with self._guard("listing messages"):
            if "ESEARCH" not in self._capabilities:
                return [uid for uid in self._search_uids(*criteria) if uid >= first]
            # RFC 4731: one compact set instead of a line with every UID.
            typ, text, entries = self._run(
                "UID", "SEARCH", "RETURN", "(ALL)", *criteria, response="ESEARCH"
            )
            if typ != "OK":
                raise PermanentError(f"{self._endpoint.host} refused to search: {text}")
            uids: list[int] = []
            for group in _group(entries):
                parsed = _parse(group) or ()
                words = [_text(a).upper() if isinstance(a, bytes) else None for a in parsed]
                if "ALL" in words:
                    index = words.index("ALL") + 1
                    if index < len(parsed):
                        uids.extend(_parse_uid_set(_text(parsed[index])))
        return sorted({uid for uid in uids if uid >= first})

    def flags_in(self, uids: Sequence[int] | range) -> dict[int, frozenset[str]]:
        """Current flags of the given UIDs (for servers without CONDSTORE); missing = gone."""
        self._require_selected()
        with self._guard("reading flags"):
            if isinstance(uids, range) and uids.step == 1:
                if len(uids) == 0:
                    return {}
                first, last = uids[0], uids[-1]
                _checked_uids([first, last])
                found = self._fetch(f"{first}:{last}", "(UID FLAGS)")
                by_uid = {_int(m.get(b"UID")): m for m in found}
                return {
                    uid: _flags(m.get(b"FLAGS"))
                    for uid, m in by_uid.items()
                    if uid is not None and uid in uids
                }
            messages = self._fetch_by_uid(uids, "(UID FLAGS)")
        return {uid: _flags(m.get(b"FLAGS")) for uid, m in messages.items()}

    def fetch_envelopes(self, uids: Sequence[int]) -> list[Envelope]:
        """Envelopes of the given UIDs, in the order asked; expunged UIDs are left out."""
        with closing(self.fetch_envelope_batches([uids])) as batches:
            return next(batches)

    def fetch_envelope_batches(
        self, batches: Sequence[Sequence[int]]
    ) -> Generator[list[Envelope], None, None]:
        """`fetch_envelopes` of each batch in turn, pipelined: the next batch's FETCH is sent
        before this one is read, so the server prepares it while the caller stores this one.

        Yields one list per batch. Close the iterator (``contextlib.closing``) when stopping
        early: closing reads what is still in flight, so the connection stays usable.
        """
        self._require_selected()
        wanted = [_checked_uids(batch) for batch in batches]
        items = "UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE"
        if self._condstore:
            items += " MODSEQ"
        return self._pipelined_envelopes(wanted, f"({items})")

    def _pipelined_envelopes(
        self, wanted: list[list[int]], items: str
    ) -> Generator[list[Envelope], None, None]:
        collectors: dict[int, _EnvelopeCollector] = {}
        in_flight: deque[tuple[int, str]] = deque()  # (batch, tag), oldest first

        def send(index: int) -> None:
            collectors[index] = _EnvelopeCollector(wanted[index])
            for uid_set in _uid_sets(wanted[index]):
                in_flight.append((index, self._imap._command("UID", "FETCH", uid_set, items)))

        def route(group: list[_Entry]) -> None:
            envelope = _any_envelope(group)
            # Route by UID: Dovecot runs pipelined FETCHes side by side, so responses of
            # the next batch can come before this one completes. A UID in two batches in
            # flight goes to both; one in none is unsolicited (RFC 7162 3.2.4): dropped.
            if envelope is not None:
                for collector in collectors.values():
                    collector.add(envelope, group)

        def complete(tag: str) -> None:
            # Each response is parsed as it arrives, so the server goes on writing the next
            # ones meanwhile: read first and parse after, and it stalls as soon as the
            # socket buffers are full (a batch is ~3 MB), which was a third of a first sync.
            self._imap.fetch_sink = route
            try:
                typ, data = self._imap._command_complete("UID", tag)
            finally:
                self._imap.fetch_sink = None
            self._harvest()
            for group in _group(self._imap.untagged_responses.pop("FETCH", [])):
                route(group)
            if typ != "OK":
                raise PermanentError(
                    f"{self._endpoint.host} refused to fetch messages: {_line(data)}"
                )

        try:
            for index in range(len(wanted)):
                with self._guard("fetching message summaries"):
                    if index == 0:
                        self._harvest()
                        self._imap.untagged_responses.clear()
                        send(0)
                    if index + 1 < len(wanted):
                        send(index + 1)
                    while in_flight and in_flight[0][0] == index:
                        complete(in_flight.popleft()[1])
                yield collectors.pop(index).envelopes()
        finally:
            if in_flight and not self._closed:
                # Stopped early: read the rest so the next command's answer is its own.
                with self._guard("fetching message summaries"):
                    while in_flight:
                        self._imap._command_complete("UID", in_flight.popleft()[1])
                    self._harvest()
                    self._imap.untagged_responses.pop("FETCH", None)

    def fetch_preview(self, uids: Sequence[int]) -> dict[int, str]:
        """Server-made preview text (RFC 8970 PREVIEW, or Dovecot's SNIPPET); {} if neither."""
        self._require_selected()
        if "PREVIEW" in self._capabilities:
            items = "(UID PREVIEW)"
        elif "PREVIEW=FUZZY" in self._capabilities:
            items = "(UID PREVIEW=FUZZY)"
        elif "SNIPPET=FUZZY" in self._capabilities:
            items = "(UID SNIPPET (FUZZY))"
        else:
            return {}
        with self._guard("fetching previews"):
            messages = self._fetch_by_uid(uids, items)
        out: dict[int, str] = {}
        for uid, message in messages.items():
            value = message.get(b"PREVIEW", message.get(b"PREVIEW=FUZZY"))
            snippet = message.get(b"SNIPPET")
            if isinstance(snippet, tuple) and len(snippet) >= 2:  # SNIPPET (FUZZY "text")
                value = snippet[1]
            if isinstance(value, bytes):
                out[uid] = " ".join(_clean(value.decode("utf-8", "replace")).split())
        return out

    def fetch_headers(self, uids: Sequence[int], names: Sequence[str]) -> dict[int, dict[str, str]]:
        """Selected header fields (unfolded, RFC 2047 decoded), keyed as ``names`` spell them."""
        self._require_selected()
        for name in names:
            if not re.fullmatch(r"[!-9;-~]+", name):
                raise ValueError(f"not a header field name: {name!r}")
        if not names:
            return {}
        fields = " ".join(name.upper() for name in names)
        with self._guard("fetching headers"):
            messages = self._fetch_by_uid(uids, f"(UID BODY.PEEK[HEADER.FIELDS ({fields})])")
        out: dict[int, dict[str, str]] = {}
        for uid, message in messages.items():
            block = next(
                (v for k, v in message.items() if k.startswith(b"BODY[HEADER.FIELDS")), None
            )
            parsed = _header_block(block if isinstance(block, bytes) else b"")
            out[uid] = {name: parsed[name.lower()] for name in names if name.lower() in parsed}
        return out

    def fetch_raw(self, uid: int) -> bytes | None:
        """The whole message (without setting \\Seen), or None if it is gone."""
        self._require_selected()
        with self._guard("downloading a message"):
            messages = self._fetch_by_uid([uid], "(UID BODY.PEEK[])")
        value = messages.get(uid, {}).get(b"BODY[]")
        return value if isinstance(value, bytes) else None

    # -- changing messages ------------------------------------------------------------------

    def store_flags(
        self, uids: Sequence[int], flags: Iterable[str], *, add: bool
    ) -> dict[int, frozenset[str]]:
        """Add or remove flags; returns the flags the server reports afterwards (per UID)."""
        self._require_selected(writable=True)
        wanted = _checked_uids(uids)
        flag_list = _flag_list(flags)
        if not wanted:
            return {}
        result: dict[int, frozenset[str]] = {}
        with self._guard("changing flags"):
            for uid_set in _uid_sets(wanted):
                typ, text, entries = self._run(
                    "UID", "STORE", uid_set, "+FLAGS" if add else "-FLAGS", flag_list,
                    response="FETCH",
                )  # fmt: skip
                if typ != "OK":
                    raise PermanentError(f"{self._endpoint.host} refused to change flags: {text}")
                for message in (_fetch_items(g) for g in _group(entries)):
                    uid = _int(message.get(b"UID")) if message else None
                    if message and uid in wanted and b"FLAGS" in message:
                        result[uid] = _flags(message[b"FLAGS"])
            # RFC 3501 section 6.4.6 lets a server skip the FETCH of a message whose flags did
            # not change (Dovecot does), so ask for the rest.
            missing = [uid for uid in wanted if uid not in result]
            if missing:
                for uid, message in self._fetch_by_uid(missing, "(UID FLAGS)").items():
                    result[uid] = _flags(message.get(b"FLAGS"))
        return result

    def move(self, uids: Sequence[int], dest_raw: str) -> dict[int, int]:
        """Move to another folder; returns old UID -> new UID where the server says (COPYUID).

        MOVE (RFC 6851) when offered, else COPY, \\Deleted and UID EXPUNGE (RFC 4315).
        """
        self._require_selected(writable=True)
        wanted = _checked_uids(uids)
        dest = _mailbox_arg(dest_raw)
        if not wanted:
            return {}
        mapping: dict[int, int] = {}
        command = "MOVE" if self.has_move else "COPY"
        with self._guard("moving messages"):
            for uid_set in _uid_sets(wanted):
                typ, text, entries = self._run("UID", command, uid_set, dest, response="COPYUID")
                if typ != "OK":
                    raise self._folder_error(dest_raw, text, "moving messages")
                mapping.update(_copyuid_map(entries))
            if command == "COPY":
                self._delete_and_expunge(wanted)
        return mapping

    def expunge(self, uids: Sequence[int]) -> None:
        """Delete just these messages for good (\\Deleted, then UID EXPUNGE)."""
        self._require_selected(writable=True)
        wanted = _checked_uids(uids)
        if not wanted:
            return
        with self._guard("deleting messages"):
            self._delete_and_expunge(wanted)

    def _delete_and_expunge(self, uids: list[int]) -> None:
        host = self._endpoint.host
        for uid_set in _uid_sets(uids):
            typ, text, _e = self._run("UID", "STORE", uid_set, "+FLAGS.SILENT", "(\\Deleted)")
            if typ != "OK":
                raise PermanentError(f"{host} refused to mark messages deleted: {text}")
        if "UIDPLUS" in self._capabilities:
            for uid_set in _uid_sets(uids):
                typ, text, _e = self._run("UID", "EXPUNGE", uid_set)
                if typ != "OK":
                    raise PermanentError(f"{host} refused to expunge: {text}")
            return
        # Plain EXPUNGE removes every \Deleted message, including ones another client only
        # marked; do it only when ours are the only ones.
        others = set(self._search_uids("DELETED")) - set(uids)
        if others:
            logger.warning(
                "%s lacks UIDPLUS and other messages are marked deleted; leaving %d messages "
                "marked \\Deleted instead of expunging",
                host,
                len(uids),
            )
            return
        typ, text, _e = self._run("EXPUNGE")
        if typ != "OK":
            raise PermanentError(f"{host} refused to expunge: {text}")

    def append(
        self,
        raw_name: str,
        message: bytes,
        flags: Iterable[str] = (),
        internaldate: datetime | None = None,
    ) -> int | None:
        """Store a message in a folder; returns its UID when the server says (APPENDUID)."""
        mailbox = _mailbox_arg(raw_name)
        flag_list = _flag_list(flags)
        when = internaldate
        if when is not None and when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        with self._guard("saving a message"):
            self._harvest()
            self._imap.untagged_responses.clear()
            # typeshed says str; imaplib returns (status, data) like every command
            typ, data = cast(
                "tuple[str, list[bytes]]",
                self._imap.append(
                    mailbox,
                    flag_list if flag_list != "()" else "",
                    imaplib.Time2Internaldate(when) if when else "",
                    message,
                ),
            )
            text = _line(data)
            if typ != "OK":
                raise self._folder_error(raw_name, text, "saving a message")
        match = re.search(r"\[APPENDUID \d+ (\d+)\]", text)
        return int(match.group(1)) if match else None

    # -- push -------------------------------------------------------------------------------

    def noop(self) -> list[IdleEvent]:
        """NOOP: keeps the connection alive and returns what changed meanwhile."""
        if self._idling:
            raise RuntimeError("call idle_done() before other commands")
        with self._guard("checking the connection"):
            self._harvest()
            _text_, responses = self._client.noop()  # type: ignore[no-untyped-call,unused-ignore]
            return _idle_events(responses, self._endpoint.host)

    def idle_start(self) -> None:
        """Enter IDLE (RFC 2177) on the open folder."""
        self._require_selected()
        if self._idling:
            return
        with self._guard("waiting for new mail"):
            self._harvest()
            self._imap.untagged_responses.clear()
            self._client.idle()
        self._idling = True
        self._idle_since = time.monotonic()

    def idle_wait(self, timeout: float) -> list[IdleEvent]:
        """Wait up to ``timeout`` seconds for changes; [] when nothing happened.

        Re-issues IDLE before the server's 30-minute limit (RFC 2177 section 3) so callers can
        simply loop. Raises TransientError when the server closes the connection.
        """
        if not self._idling:
            raise RuntimeError("call idle_start() first")
        if timeout <= 0:
            raise ValueError("idle_wait needs a positive timeout")
        events: list[IdleEvent] = []
        if time.monotonic() - self._idle_since > IDLE_RENEW_SECONDS:
            events.extend(self.idle_done())
            self.idle_start()
        with self._guard("waiting for new mail"):
            responses = self._client.idle_check(timeout=min(timeout, IDLE_RENEW_SECONDS))
            events.extend(_idle_events(responses, self._endpoint.host))
            if self._imap.eof:
                raise TransientError(f"{self._endpoint.host} closed the connection")
        return events

    def idle_done(self) -> list[IdleEvent]:
        """Leave IDLE; returns events that arrived since the last `idle_wait`."""
        if not self._idling:
            return []
        with self._guard("leaving IDLE"):
            self._idling = False
            _text_, responses = self._client.idle_done()
            return _idle_events(responses, self._endpoint.host)


# --------------------------------------------------------------------------------------------
# Response conversion helpers used by the session


def _tuple(atom: _Atom) -> tuple[_Atom, ...]:
    return atom if isinstance(atom, tuple) else ()


def _last_int(entries: list[bytes | tuple[bytes, bytes]] | None) -> int | None:
    if not entries:
        return None
    last = entries[-1]
    return _int(last if isinstance(last, bytes) else last[0])


def _folder(group: list[_Entry], subscribed: set[str] | None) -> FolderInfo | None:
    parsed = _parse(group)
    if parsed is None or len(parsed) < 3:
        return None
    flags = frozenset(_clean(_text(f)) for f in _tuple(parsed[0]))
    lowered = {f.lower() for f in flags}
    raw = parsed[2]
    raw_name = raw.decode("latin-1") if isinstance(raw, bytes) else _text(raw)
    if not raw_name:
        return None
    delimiter = _text(parsed[1]) or None
    return FolderInfo(
        name=decode_folder_name(raw_name),
        raw_name=raw_name,
        delimiter=delimiter,
        flags=flags,
        special_use=None,
        subscribed=raw_name in subscribed if subscribed is not None else "\\subscribed" in lowered,
        selectable=not lowered & {"\\noselect", "\\nonexistent"},
    )


def _envelope(uid: int, message: dict[bytes, _Atom]) -> Envelope:
    fields = list(_tuple(message.get(b"ENVELOPE")))
    fields += [None] * (10 - len(fields))
    date = _datetime(fields[0])
    return Envelope(
        uid=uid,
        flags=_flags(message.get(b"FLAGS")),
        internaldate=_internaldate(message.get(b"INTERNALDATE")) or date or _EPOCH,
        size=max(0, _int(message.get(b"RFC822.SIZE")) or 0),
        subject=decode_header_text(_text(fields[1])),
        from_=_addresses(fields[2]),
        reply_to=_addresses(fields[4]),
        to=_addresses(fields[5]),
        cc=_addresses(fields[6]),
        bcc=_addresses(fields[7]),
        date=date,
        in_reply_to=_clean(_text(fields[8])),
        message_id=_clean(_text(fields[9])),
        has_attachments=_has_attachments(message.get(b"BODYSTRUCTURE")),
        modseq=_modseq(message.get(b"MODSEQ")),
    )


def _copyuid_map(entries: list[_Entry]) -> dict[int, int]:
    """RFC 4315 section 3: COPYUID <uidvalidity> <source set> <destination set>, in order."""
    mapping: dict[int, int] = {}
    for entry in entries:
        words = _text(entry if isinstance(entry, bytes) else entry[0]).split()
        if len(words) < 3:
            continue
        try:
            source, dest = _parse_uid_set(words[1]), _parse_uid_set(words[2])
        except PermanentError:
            continue
        if len(source) == len(dest):
            mapping.update(zip(source, dest, strict=True))
    return mapping


def _header_block(data: bytes) -> dict[str, str]:
    """Header fields of a HEADER.FIELDS block, lower-case names, repeated fields joined."""
    text = _FOLD.sub("", _text(data))
    fields: dict[str, str] = {}
    for line in text.splitlines():
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            continue
        key = name.lower()
        value = decode_header_text(value)
        fields[key] = f"{fields[key]} {value}" if key in fields else value
    return fields


__all__ = [
    "IDLE_RENEW_SECONDS",
    "Address",
    "Changes",
    "Envelope",
    "FlagChange",
    "FolderInfo",
    "FolderStatus",
    "IdleEvent",
    "IdleKind",
    "ImapSession",
    "SelectState",
    "SpecialUse",
    "decode_folder_name",
    "decode_header_text",
    "encode_folder_name",
]
