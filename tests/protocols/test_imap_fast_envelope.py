"""The bulk FETCH fast paths of the IMAP adapter, against their oracles (no server needed).

`_fast_envelope` reads the one response shape a first sync sees 100,000 times; whatever it
returns must equal what the general path makes of the same response with IMAPClient's parser
alone (`_oracle`), and the everyday shape must take it. `_PinnedIMAP4._get_response` stores a
FETCH line without imaplib's regular expressions; it must store exactly what imaplib would.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import imaplib
import io
import re
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from imapclient.exceptions import ProtocolError as ImapClientProtocolError
from imapclient.response_parser import parse_response

from webmail.protocols.imap import (  # noqa: PLC2701 - the fast paths are tested directly
    _INTERNALDATE,
    Address,
    Envelope,
    _datetime,
    _envelope,
    _EnvelopeCollector,
    _fast_date,
    _fast_envelope,
    _fast_flag_items,
    _int,
    _make_envelope,
    _PinnedIMAP4,
    _utc,
)
from webmail.protocols.imap import (
    _MONTHS as MONTH_NUMBERS,
)
from webmail.protocols.imap import (
    _internaldate as parse_internaldate,
)

# --------------------------------------------------------------------------------------------
# Building FETCH responses as a server writes them, and as imaplib hands them over


@dataclass(frozen=True)
class Literal:
    data: bytes


Piece = bytes | Literal


def _quoted(data: bytes) -> bytes:
    return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def _group(pieces: list[Piece]) -> list[bytes | tuple[bytes, bytes]]:
    """What imaplib stores for one response: (line up to "{n}", literal) pairs, then the
    rest of the line."""
    entries: list[bytes | tuple[bytes, bytes]] = []
    line = b""
    for piece in pieces:
        if isinstance(piece, Literal):
            entries.append((line + b"{%d}" % len(piece.data), piece.data))
            line = b""
        else:
            line += piece
    entries.append(line)
    return entries


def _oracle_items(group: list[bytes | tuple[bytes, bytes]]) -> dict[bytes, Any] | None:
    """`_fetch_items` with IMAPClient parsing alone."""
    try:
        parsed = parse_response(group)  # type: ignore[arg-type]
    except (ImapClientProtocolError, ValueError, IndexError, TypeError, RecursionError):
        parsed = None
    items: dict[bytes, Any] | None
    if parsed is None or len(parsed) < 2 or not isinstance(parsed[1], tuple):
        first = group[0] if isinstance(group[0], bytes) else group[0][0]
        match = re.search(rb"\bUID (\d+)", first, re.IGNORECASE)
        items = {b"UID": int(match.group(1))} if match else None
    else:
        items = {}
        for index in range(0, len(parsed[1]) - 1, 2):
            key = parsed[1][index]
            if isinstance(key, bytes):
                items[key.upper()] = parsed[1][index + 1]
    return items


def _oracle(group: list[bytes | tuple[bytes, bytes]]) -> Envelope | None:
    """The general path (`_fetch_items`, then `_envelope`), with IMAPClient parsing."""
    items = _oracle_items(group)
    uid = _int(items.get(b"UID")) if items else None
    return None if items is None or uid is None else _envelope(uid, items)


# Strings as mail puts them in headers: plain, encoded words, 8-bit, quotes and backslashes.
_TEXT_PIECES = [b"a", b"Bob", b" ", b"  ", b"(", b")", b'"', b"\\", b"=?", b"?=", b"{", b"}",
                b"=?utf-8?b?w7xiZXI=?=", b"=?iso-8859-1?q?caf=E9?=", b"=?utf-8?q?a_b?= ",
                b"\xc3\xbc", b"\xff", b"NIL", b"%", b"*", b"[", b"]", b"0", b"123", b",",
                b"<1@x>", b"\xe2\x80\x8b", b"Re: "]  # fmt: skip
_TEXT = st.lists(st.sampled_from(_TEXT_PIECES), max_size=8).map(b"".join)
_CONTROL_TEXT = st.lists(
    st.sampled_from([*_TEXT_PIECES, b"\t", b"\x00", b"\x7f", b"\x1b"]), max_size=8
).map(b"".join)


@st.composite
def _string(draw: st.DrawFn, text: st.SearchStrategy[bytes] = _TEXT) -> list[Piece]:
    value = draw(text)
    if draw(st.integers(0, 9)) == 0:
        return [Literal(value)]
    quoted: list[Piece] = [_quoted(value)]
    return quoted


@st.composite
def _nstring(draw: st.DrawFn, text: st.SearchStrategy[bytes] = _TEXT) -> list[Piece]:
    if draw(st.integers(0, 4)) == 0:
        return [b"NIL"]
    return draw(_string(text))


# hypothesis takes naive bounds; a zone is added where they are used
_MOMENTS = st.datetimes(
    min_value=dt.datetime(1000, 1, 2),  # noqa: DTZ001
    max_value=dt.datetime(9998, 12, 30),  # noqa: DTZ001
)
_ZONES = st.integers(-23 * 60, 23 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
_DAYS = [b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"]
_MONTHS = [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct",
           b"Nov", b"Dec"]  # fmt: skip


@st.composite
def _rfc5322_date(draw: st.DrawFn) -> bytes:
    """Date header values: the common form, its odd relatives, and broken ones."""
    day = draw(st.sampled_from([b"1", b"01", b"9", b"28", b"29", b"30", b"31", b"00", b"32"]))
    month = draw(st.sampled_from([*_MONTHS, b"jan", b"Foo"]))
    year = draw(st.sampled_from([b"2024", b"1999", b"0050", b"1000", b"9999", b"24", b"99"]))
    hour = draw(st.sampled_from([b"00", b"09", b"23", b"24", b"7"]))
    minute = draw(st.sampled_from([b"00", b"59", b"60"]))
    second = draw(st.sampled_from([b":00", b":59", b":60", b""]))
    zone = draw(
        st.sampled_from(
            [b"+0000", b"-0000", b"+0100", b"-0800", b"+0530", b"+2359", b"-2400", b"+0199",
             b"+9959", b"GMT", b"EST", b"UT", b"Z", b""]
        )
    )  # fmt: skip
    name = draw(st.sampled_from([b"", *(d + b", " for d in _DAYS), b"Tue,", b"Foo, "]))
    tail = draw(st.sampled_from([b"", b" (CET)", b" (Pacific Standard Time)", b"  ", b" x"]))
    return name + b" ".join([day, month, year, hour + b":" + minute + second, zone]) + tail


@st.composite
def _envelope_date(draw: st.DrawFn) -> list[Piece]:
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return [b"NIL"]
    if kind == 1:
        return draw(_string())
    if kind == 2:  # any instant, written the everyday way
        moment = draw(_MOMENTS).replace(tzinfo=draw(_ZONES))
        text = moment.strftime("%a, %d %b %Y %H:%M:%S %z")
        return [_quoted(text.encode())]
    return [_quoted(draw(_rfc5322_date()))]


@st.composite
def _internaldate(draw: st.DrawFn) -> list[Piece]:
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return draw(_nstring())
    if kind == 1:
        return [_quoted(draw(_rfc5322_date()))]
    day = draw(st.sampled_from([b" 1", b"01", b"31", b"29", b"00", b"1 "]))
    month = draw(st.sampled_from([*_MONTHS, b"jan"]))
    year = draw(st.sampled_from([b"2019", b"0000", b"0001", b"9999", b"1970"]))
    clock = draw(st.sampled_from([b"00:00:00", b"23:59:59", b"24:00:00", b"12:60:00"]))
    zone = draw(st.sampled_from([b"+0000", b"-0000", b"+0100", b"-0700", b"+2300", b"+9999"]))
    return [_quoted(day + b"-" + month + b"-" + year + b" " + clock + b" " + zone)]


@st.composite
def _address_list(draw: st.DrawFn, everyday: bool = False) -> list[Piece]:
    count = draw(st.integers(0, 3))
    if count == 0:
        return [b"NIL" if everyday else draw(st.sampled_from([b"NIL", b"()"]))]
    out: list[Piece] = [b"("]
    for index in range(count):
        if index and draw(st.booleans()):
            out.append(b" ")
        group = draw(st.integers(0, 5)) == 0  # RFC 3501 group syntax: NIL host
        host: list[Piece] = [b"NIL"] if group else draw(_nstring())
        out += [b"(", *draw(_nstring()), b" ", *draw(_nstring()), b" "]
        out += [*draw(_nstring()), b" ", *host, b")"]
    return [*out, b")"]


def _join(parts: list[list[Piece]], separator: bytes = b" ") -> list[Piece]:
    out: list[Piece] = []
    for index, part in enumerate(parts):
        if index:
            out.append(separator)
        out += part
    return out


@st.composite
def _envelope_item(draw: st.DrawFn, everyday: bool = False) -> list[Piece]:
    fields = [
        draw(_envelope_date()),
        draw(_nstring()),
        *(draw(_address_list(everyday)) for _ in range(6)),
        draw(_nstring()),
        draw(_nstring()),
    ]
    return [b"ENVELOPE (", *_join(fields), b")"]


_PARAM_NAMES = [b"charset", b"name", b"NAME", b"name*", b"filename", b"FileName*0", b"format",
                b"boundary", b"x-name", b"nam"]  # fmt: skip


@st.composite
def _params(draw: st.DrawFn) -> list[Piece]:
    count = draw(st.integers(0, 3))
    if count == 0:
        return [b"NIL"]
    pairs = [[_quoted(draw(st.sampled_from(_PARAM_NAMES))), *draw(_string())] for _ in range(count)]
    return [b"(", *_join([piece for pair in pairs for piece in [_join([[p] for p in pair])]]), b")"]


@st.composite
def _disposition(draw: st.DrawFn) -> list[Piece]:
    if draw(st.booleans()):
        return [b"NIL"]
    kind = draw(st.sampled_from([b"attachment", b"ATTACHMENT", b"inline", b"Inline", b"form"]))
    return [b"(", _quoted(kind), b" ", *draw(_params()), b")"]


def _number(draw: st.DrawFn, everyday: bool = False) -> bytes:
    return draw(st.sampled_from([b"0", b"7", b"1235", b"61578", *([] if everyday else [b"007"])]))


@st.composite
def _extension(draw: st.DrawFn) -> list[list[Piece]]:
    """MD5 (leaves only, added by the caller), disposition, language, location: any prefix."""
    fields = [draw(_disposition()), draw(_nstring()), draw(_nstring())]
    return fields[: draw(st.integers(0, 3))]


def _leaf(draw: st.DrawFn, depth: int, everyday: bool) -> list[Piece]:
    media = draw(st.sampled_from([b"text", b"TEXT", b"image", b"application", b"message"]))
    subtype = draw(st.sampled_from([b"plain", b"html", b"png", b"pdf", b"rfc822", b"global"]))
    fields: list[list[Piece]] = [
        [_quoted(media)],
        [_quoted(subtype)],
        draw(_params()),
        draw(_nstring()),
        draw(_nstring()),
        [_quoted(b"base64")],
        [_number(draw, everyday)],
    ]
    if media.lower() == b"text":
        fields.append([_number(draw, everyday)])
    elif media == b"message" and subtype in (b"rfc822", b"global") and depth < 3:
        fields.append(draw(_envelope_item(everyday))[1:])  # "(...)" without "ENVELOPE "
        fields[-1] = [b"(", *fields[-1]]
        fields.append(_body(draw, depth + 1, everyday))
        fields.append([_number(draw, everyday)])
    if draw(st.booleans()):
        fields += [draw(_nstring()), *draw(_extension())]
    return [b"(", *_join(fields), b")"]


def _body(draw: st.DrawFn, depth: int = 0, everyday: bool = False) -> list[Piece]:
    if depth >= 3 or draw(st.integers(0, 2)) == 0:
        return _leaf(draw, depth, everyday)
    parts = [_body(draw, depth + 1, everyday) for _ in range(draw(st.integers(1, 3)))]
    subtype = draw(st.sampled_from([b"mixed", b"related", b"RELATED", b"alternative"]))
    extension = [draw(_params()), *draw(_extension())] if draw(st.booleans()) else []
    joined = _join(parts, draw(st.sampled_from([b"", b" "])))
    return [b"(", *joined, b" ", *_join([[_quoted(subtype)], *extension]), b")"]


_FLAGS = [b"\\Seen", b"\\Answered", b"\\Flagged", b"\\Deleted", b"\\Draft", b"\\Recent",
          b"\\recent", b"$Forwarded", b"$Work", b"Junk", b"NIL", b"nil", b"007", b"0", b"42",
          b"a.b-c+d", b"\\*"]  # fmt: skip


_EVERYDAY_FLAGS = [f for f in _FLAGS if f not in (b"007", b"\\*")]


@st.composite
def fetch_response(draw: st.DrawFn, everyday: bool = False) -> list[bytes | tuple[bytes, bytes]]:
    """A FETCH response of the sync's items in any order, as imaplib stores it. ``everyday``:
    only what the fast path must take (a quoted INTERNALDATE, numbers without leading zeros,
    flags that are atoms, address lists that are NIL or not empty)."""
    flags = draw(st.lists(st.sampled_from(_EVERYDAY_FLAGS if everyday else _FLAGS), max_size=4))
    if everyday:
        moment = draw(_MOMENTS).replace(tzinfo=draw(_ZONES))
        internaldate: list[Piece] = [_quoted(imaplib.Time2Internaldate(moment).strip('"').encode())]
    else:
        internaldate = draw(_internaldate())
    items: list[list[Piece]] = [
        [b"UID ", b"%d" % draw(st.integers(1, 2**32 - 1))],
        [b"FLAGS (", b" ".join(flags), b")"],
        [b"INTERNALDATE ", *internaldate],
        [b"RFC822.SIZE ", b"%d" % draw(st.integers(0, 2**40))],
        draw(_envelope_item(everyday)),
        [b"BODYSTRUCTURE ", *_body(draw, everyday=everyday)],
    ]
    if draw(st.booleans()):
        items.append([b"MODSEQ (", b"%d" % draw(st.integers(1, 2**63 - 1)), b")"])
    items = draw(st.permutations(items))
    number = draw(st.integers(1, 10**6))
    return _group([b"%d (" % number, *_join(items), b")"])


def _check(group: list[bytes | tuple[bytes, bytes]]) -> Envelope | None:
    fast = _fast_envelope(group)
    if fast is not None:
        assert fast == _oracle(group)
        assert fast.internaldate.tzinfo is dt.UTC
        assert fast.date is None or fast.date.tzinfo is dt.UTC
    return fast


@settings(max_examples=250, deadline=None)
@given(fetch_response())
def test_the_fast_envelope_equals_the_general_path(group):
    _check(group)


@settings(max_examples=150, deadline=None)
@given(fetch_response(everyday=True))
def test_the_everyday_shape_takes_the_fast_path(group):
    assert _check(group) is not None


_MUTATIONS = [b"", b" ", b"(", b")", b'"', b"\\", b"NIL", b"{3}", b"\x00", b"[", b"UID 9 ",
              b"0", b"\r\n", b"\xff", b"BODY[]", b"%"]  # fmt: skip


@settings(max_examples=250, deadline=None)
@given(fetch_response(), st.data())
def test_the_fast_envelope_agrees_on_damaged_responses(group, data):
    # Damage the last line (or the only one): whatever the fast path still accepts, the general
    # path must read the same way; anything else must fall back (None).
    last = group[-1]
    assert isinstance(last, bytes)
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(last)))
        cut = data.draw(st.integers(0, 3))
        last = last[:at] + data.draw(st.sampled_from(_MUTATIONS)) + last[at + cut :]
    _check([*group[:-1], last])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"UID 5", b"FLAGS (\\Seen)", b'INTERNALDATE "x"', b"NIL",
                                 b"ENVELOPE", b"BODYSTRUCTURE", b"(", b")", b" ", b'"a"',
                                 b"RFC822.SIZE 0", b"MODSEQ (1)"]), max_size=20))  # fmt: skip
def test_the_fast_envelope_agrees_on_any_item_soup(pieces):
    _check([b"1 (" + b" ".join(pieces) + b")"])


@settings(max_examples=300, deadline=None)
@given(_rfc5322_date())
def test_envelope_dates_parse_like_the_general_date_parser(value):
    assert _fast_date(_quoted(value)) == _datetime(value)


@st.composite
def _internaldate_text(draw: st.DrawFn) -> bytes:
    """RFC 3501 date-time values ("17-Jul-1996 02:44:25 -0700"), valid and not."""
    day = draw(st.sampled_from([b" 1", b"01", b"28", b"29", b"31", b"00", b"32", b"1", b"x1"]))
    month = draw(st.sampled_from([*_MONTHS, b"jan", b"Foo"]))
    year = draw(st.sampled_from([b"2024", b"1999", b"0001", b"9999", b"24"]))
    clock = draw(st.sampled_from([b"00:00:00", b"23:59:59", b"24:00:00", b"12:60:00", b"1:2:3",
                                  b"12-30-00", b"ab:cd:ef"]))  # fmt: skip
    zone = draw(st.sampled_from([b"+0000", b"-0700", b"+1400", b"+2359", b"-2400", b"+0199",
                                 b"0000", b"+00000"]))  # fmt: skip
    sep = draw(st.sampled_from([b" ", b"  ", b"-"]))
    return day + b"-" + month + b"-" + year + b" " + clock + sep + zone


@settings(max_examples=300, deadline=None)
@given(_internaldate_text())
def test_internaldates_by_slices_equal_the_regular_expression(value):
    # The reference: the RFC 3501 grammar as a regular expression, else the general parser.
    match = _INTERNALDATE.fullmatch(value)
    if match is None or match.group(2) not in MONTH_NUMBERS:
        expected = _datetime(value)
    else:
        day, month, year, hour, minute, second, sign, zone_h, zone_m = match.groups()
        offset = (int(zone_h) * 60 + int(zone_m)) * (-1 if sign == b"-" else 1)
        expected = _utc(int(year), MONTH_NUMBERS[month], int(day), int(hour), int(minute),
                        int(second), offset)  # fmt: skip
    assert parse_internaldate(value) == expected


@given(_CONTROL_TEXT)
def test_strings_with_control_characters_take_the_general_path(value):
    line = (
        b'1 (UID 3 FLAGS () INTERNALDATE "01-Jan-2019 00:00:00 +0000" RFC822.SIZE 1 ENVELOPE '
        b"(NIL " + _quoted(value) + b" NIL NIL NIL NIL NIL NIL NIL NIL) BODYSTRUCTURE "
        b'("text" "plain" NIL NIL NIL "7bit" 1 1))'
    )
    fast = _check([line])
    if any(byte < 0x20 or byte == 0x7F for byte in value):
        assert fast is None


def test_a_dovecot_response_reads_in_full():
    line = (
        b'3 (UID 3 FLAGS (\\Seen \\Recent) INTERNALDATE "01-Jan-2019 05:49:09 +0000" '
        b'RFC822.SIZE 64006 MODSEQ (2) ENVELOPE ("Mon, 31 Dec 2018 21:49:09 -0800" '
        b'"Meeting notes" (("=?utf-8?b?S2ltIE5ndXnhu4Vu?=" NIL "kim.nguyen" "example.vn")) '
        b'(("=?utf-8?b?S2ltIE5ndXnhu4Vu?=" NIL "kim.nguyen" "example.vn")) '
        b'(("=?utf-8?b?S2ltIE5ndXnhu4Vu?=" NIL "kim.nguyen" "example.vn")) '
        b'((NIL NIL "alice" "example.test")) NIL NIL NIL "<2.alice.inbox@seed.example.test>") '
        b'BODYSTRUCTURE ((("text" "plain" ("charset" "utf-8") NIL NIL "8bit" 827 21 NIL NIL NIL '
        b'NIL)("text" "html" ("charset" "utf-8") NIL NIL "8bit" 846 14 NIL NIL NIL NIL) '
        b'"alternative" ("boundary" "=_rig_2_alt") NIL NIL NIL)("image" "png" NIL NIL NIL '
        b'"base64" 61578 NIL ("attachment" ("filename" "photo.png")) NIL NIL) "mixed" '
        b'("boundary" "=_rig_2_mix") NIL NIL NIL))'
    )
    envelope = _check([line])
    assert envelope is not None
    assert envelope.uid == 3
    assert envelope.flags == frozenset({"\\Seen"})
    assert envelope.internaldate == dt.datetime(2019, 1, 1, 5, 49, 9, tzinfo=dt.UTC)
    assert envelope.date == envelope.internaldate
    assert envelope.from_ == (Address("Kim Nguyễn", "kim.nguyen@example.vn"),)
    assert envelope.to == (Address("", "alice@example.test"),)
    assert (envelope.size, envelope.modseq, envelope.has_attachments) == (64006, 2, True)


def test_a_literal_subject_reads_like_a_quoted_one():
    subject = 'Grüße "x'.encode()  # 8-bit, so servers send it as a literal
    head = b"7 (UID 7 ENVELOPE (NIL {%d}" % len(subject)
    rest = (
        b' NIL NIL NIL NIL NIL NIL NIL NIL) BODYSTRUCTURE ("text" "plain" NIL NIL NIL "8bit" 1 1))'
    )
    group: list[bytes | tuple[bytes, bytes]] = [(head, subject), rest]
    envelope = _check(group)
    assert envelope is not None
    assert envelope.subject == 'Grüße "x'


def test_make_envelope_is_the_constructor():
    values: dict[str, Any] = {
        "uid": 1, "flags": frozenset({"\\Seen"}), "size": 5, "subject": "s",
        "internaldate": dt.datetime(2020, 1, 1, tzinfo=dt.UTC), "date": None,
        "from_": (Address("a", "b@c"),), "to": (), "cc": (), "bcc": (), "reply_to": (),
        "message_id": "<m>", "in_reply_to": "", "has_attachments": False, "modseq": 3,
    }  # fmt: skip
    made, built = _make_envelope(**values), Envelope(**values)
    assert made == built and hash(made) == hash(built) and repr(made) == repr(built)
    assert dataclasses.asdict(made) == dataclasses.asdict(built)
    assert set(values) == {f.name for f in dataclasses.fields(Envelope)}
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.uid = 2  # type: ignore[misc]


def test_a_message_sent_twice_is_merged_later_items_winning():
    full = (
        b'4 (UID 9 FLAGS () INTERNALDATE "01-Jan-2019 00:00:00 +0000" RFC822.SIZE 10 ENVELOPE '
        b'(NIL "hi" NIL NIL NIL NIL NIL NIL NIL NIL) BODYSTRUCTURE ("text" "plain" NIL NIL NIL '
        b'"7bit" 1 1) MODSEQ (5))'
    )
    update = b"4 (UID 9 FLAGS (\\Seen) MODSEQ (6))"  # another client read it meanwhile
    collector = _EnvelopeCollector([9, 10])
    for line in (full, update, b"5 (UID 77 FLAGS ())"):
        envelope = _fast_envelope([line]) or _oracle([line])
        assert envelope is not None
        collector.add(envelope, [line])
    [merged] = collector.envelopes()
    assert (merged.subject, merged.size, merged.flags, merged.modseq) == (
        "hi",
        10,
        frozenset({"\\Seen"}),
        6,
    )


@st.composite
def flag_response(draw: st.DrawFn) -> bytes:
    """What CHANGEDSINCE, a flags window or STORE answer: UID, FLAGS, MODSEQ in any order."""
    items = [
        b"UID %d" % draw(st.integers(1, 2**32 - 1)),
        b"FLAGS (" + b" ".join(draw(st.lists(st.sampled_from(_FLAGS), max_size=5))) + b")",
        b"MODSEQ (%d)" % draw(st.integers(1, 2**63 - 1)),
    ]
    chosen = draw(st.lists(st.sampled_from(items), min_size=1, max_size=4))
    return b"%d (" % draw(st.integers(1, 10**6)) + b" ".join(chosen) + b")"


@settings(max_examples=300, deadline=None)
@given(flag_response(), st.data())
def test_flag_responses_read_like_imapclient(line, data):
    if data.draw(st.booleans()):  # damaged, sometimes
        at = data.draw(st.integers(0, len(line)))
        line = line[:at] + data.draw(st.sampled_from(_MUTATIONS)) + line[at + 1 :]
    fast = _fast_flag_items(line)
    if fast is not None:
        assert fast == _oracle_items([line])


def test_an_everyday_flag_response_takes_the_fast_path():
    line = b"12 (UID 99001 FLAGS (\\Flagged \\Seen $Work 42 007) MODSEQ (5))"
    assert _fast_flag_items(line) == _oracle_items([line])
    assert _fast_flag_items(line) == {
        b"UID": 99001,
        b"FLAGS": (b"\\Flagged", b"\\Seen", b"$Work", 42, b"007"),
        b"MODSEQ": (5,),
    }


# --------------------------------------------------------------------------------------------
# Reading responses: the FETCH shortcut stores what imaplib stores


def _reader(cls: type[imaplib.IMAP4], data: bytes) -> Any:
    """An IMAP4 of ``cls`` reading ``data`` (no socket), set up as __init__ would."""
    reader: Any = object.__new__(cls)
    reader.file = io.BufferedReader(io.BytesIO(data))
    reader.debug = 0
    reader.untagged_responses = {}
    reader.tagged_commands = {b"ABCD1": None}
    reader.tagre = re.compile(rb"(?P<tag>ABCD\d+) (?P<type>[A-Z]+) (?P<data>.*)", re.ASCII)
    reader.continuation_response = ""
    reader._cmd_log_len, reader._cmd_log_idx, reader._cmd_log = 10, 0, {}
    reader.mo = None
    reader._mode_ascii()  # Literal, Untagged_status, _encoding
    if isinstance(reader, _PinnedIMAP4):
        reader._pushed_back = None
        reader.eof = False
    return reader


_LINES = [b"* 1 FETCH (UID 1 FLAGS (\\Seen))", b"* 22 FETCH (UID 5 BODY[] {3}\r\nabc)",
          b"* 3 FETCH ", b"* 3 FETCH", b"* 03 FETCH (x)", b"* FETCH (x)", b"* 9 EXISTS",
          b"* 2 EXPUNGE", b"* OK [UIDNEXT 7] Predicted", b"* VANISHED (EARLIER) 1:3",
          b"* 4 FETCH (UID 4 X {2}\r\nab Y {0}\r\n)", b"* 5 fetch (UID 5)",
          b"* 6 FETCH (UID 6 ENVELOPE (\"}\"))", b"* 7 FETCH (a\rb)", b"ABCD1 OK done"]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_LINES), min_size=1, max_size=12))
def test_reading_fetch_lines_stores_what_imaplib_stores(lines):
    data = b"".join(line + b"\r\n" for line in lines)
    ours, theirs = _reader(_PinnedIMAP4, data), _reader(imaplib.IMAP4, data)

    def read(reader: Any) -> object:
        try:
            return reader._get_response()
        except imaplib.IMAP4.abort as exc:  # e.g. "* 5 fetch": imaplib wants upper case
            return type(exc), str(exc)

    for _ in lines:
        outcome = read(ours)
        assert outcome == read(theirs)
        assert ours.untagged_responses == theirs.untagged_responses
        assert ours.tagged_commands == theirs.tagged_commands
        if isinstance(outcome, tuple):
            break
