"""Searching the cache: the query language of the search box and its translation into a
filter on Message. Parsing is pure; the filter reads only cached columns, never the server.

    words "a phrase" from:x to:x cc:x subject:x is:unread is:read is:flagged is:unflagged
    has:attachment before:YYYY-MM-DD after:YYYY-MM-DD

Every term must match (AND); a plain word or phrase matches the subject, sender, recipients
or preview. Matching is a case-insensitive substring test.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, tzinfo

import jdatetime  # type: ignore[import-untyped]
from django.db.models import Expression, F, Func, Q, TextField, Value
from django.db.models.functions import Cast, Collate
from django.db.models.lookups import IContains, IRegex

TEXT_FIELDS = ("subject", "from_name", "from_email", "preview")
ADDRESS_FIELDS = ("to", "cc")  # JSON lists of [name, email]
SEPARATOR = "\x01"
MAX_TERMS = 20  # a pasted paragraph would otherwise become hundreds of LIKEs

OPERATORS = ("from", "to", "cc", "subject", "is", "has", "before", "after")
_TEXT_OPS = {"": "words", "from": "senders", "to": "recipients", "cc": "cc", "subject": "subjects"}
_IS = {
    "unread": ("unread", True),
    "read": ("unread", False),
    "seen": ("unread", False),
    "flagged": ("flagged", True),
    "starred": ("flagged", True),
    "unflagged": ("flagged", False),
}
_TOKEN = re.compile(r'(?:(?P<op>[A-Za-z]+):)?(?:"(?P<quoted>[^"]*)"?|(?P<bare>\S+))')
_DATE = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")
# Persian and Arabic-Indic digits, as a Persian keyboard types them.
_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
# Persian text is often typed with the Arabic forms of yeh and kaf (and vice versa): a term
# is looked for in both spellings.
_TO_PERSIAN = str.maketrans({"ي": "ی", "ى": "ی", "ك": "ک"})
_TO_ARABIC = str.maketrans({"ی": "ي", "ک": "ك"})


@dataclass(frozen=True)
class SearchQuery:
    text: str = ""
    words: tuple[str, ...] = ()  # plain words and quoted phrases
    senders: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ()  # to: matches To and Cc
    cc: tuple[str, ...] = ()
    subjects: tuple[str, ...] = ()
    unread: bool | None = None
    flagged: bool | None = None
    attachment: bool | None = None
    after: date | None = None  # on or after this day
    before: date | None = None  # before this day
    ignored: tuple[str, ...] = field(default=())  # terms not understood, shown to the user

    def __bool__(self) -> bool:
        return any((self.words, self.senders, self.recipients, self.cc, self.subjects)) or any(
            v is not None
            for v in (self.unread, self.flagged, self.attachment, self.after, self.before)
        )


def parse_query(text: str) -> SearchQuery:
    """The search box's text as a structured query. Never raises: what it cannot read
    (an unknown is:/has: value, a bad date, an empty operator) goes to `ignored`; an
    unknown operator such as `http:` is an ordinary word."""
    text = unicodedata.normalize("NFC", " ".join(text.split()))
    text = "".join(c for c in text if unicodedata.category(c) != "Cc")  # ZWNJ (Cf) stays
    lists: dict[str, list[str]] = {key: [] for key in _TEXT_OPS.values()}
    flags: dict[str, bool | None] = {"unread": None, "flagged": None, "attachment": None}
    dates: dict[str, date | None] = {"after": None, "before": None}
    ignored: list[str] = []
    terms = 0
    for match in _TOKEN.finditer(text):
        raw = match.group(0)
        op = (match.group("op") or "").lower()
        quoted = match.group("quoted")
        value = (quoted if quoted is not None else match.group("bare") or "").strip()
        if op not in OPERATORS:
            if raw.rstrip(":").lower() in OPERATORS and raw.endswith(":"):
                ignored.append(raw)  # "from:" with nothing after it
                continue
            # Not an operator: the whole token is text (`http://x` included).
            if quoted is None:
                value = raw.strip('"').strip()
            elif match.group("op"):
                value = f"{match.group('op')}:{value}"
            op = ""
        if op in ("", "from", "to", "cc", "subject"):
            if not value:
                if op:
                    ignored.append(raw)
                continue
            if terms >= MAX_TERMS:
                ignored.append(raw)
                continue
            terms += 1
            lists[_TEXT_OPS[op]].append(value)
        elif op == "is" and value.lower() in _IS:
            name, on = _IS[value.lower()]
            flags[name] = on
        elif op == "has" and value.lower() in ("attachment", "attachments"):
            flags["attachment"] = True
        elif op in ("before", "after") and (day := parse_date(value)) is not None:
            dates[op] = day
        else:
            ignored.append(raw)
    return SearchQuery(
        text=text,
        words=tuple(lists["words"]),
        senders=tuple(lists["senders"]),
        recipients=tuple(lists["recipients"]),
        cc=tuple(lists["cc"]),
        subjects=tuple(lists["subjects"]),
        unread=flags["unread"],
        flagged=flags["flagged"],
        attachment=flags["attachment"],
        after=dates["after"],
        before=dates["before"],
        ignored=tuple(ignored),
    )


def parse_date(value: str) -> date | None:
    """YYYY-MM-DD (or with / or .), in Western or Persian digits; a year before 1700 is a
    Solar Hijri date (1403-01-01 is 2024-03-20)."""
    match = _DATE.fullmatch(value.translate(_DIGITS))
    if match is None:
        return None
    year, month, day = (int(g) for g in match.groups())
    try:
        if year < 1700:
            return jdatetime.date(year, month, day).togregorian()
        return date(year, month, day)
    except ValueError:
        return None


def spellings(term: str) -> list[str]:
    """The term as typed, plus its all-Persian and all-Arabic yeh/kaf spellings."""
    out = [term]
    for variant in (term.translate(_TO_PERSIAN), term.translate(_TO_ARABIC)):
        if variant not in out:
            out.append(variant)
    return out


def _unicode_case(term: str) -> bool:
    """Has letters with case beyond ASCII (É, Ä, Д; Persian has no case)."""
    return any(not c.isascii() and c.lower() != c.upper() for c in term)


def _forms(term: str, vendor: str) -> list[str]:
    """The term as typed and as it appears inside JSON text: Postgres prints jsonb's
    non-ASCII as is; on SQLite Django stores json.dumps output, \\u-escaped."""
    forms = [term, json.dumps(term, ensure_ascii=False)[1:-1]]
    if vendor == "sqlite":
        forms.append(json.dumps(term)[1:-1])
    return list(dict.fromkeys(forms))


def _json_regex(term: str) -> str:
    """A pattern for the JSON text of `term` in any case: each cased non-ASCII letter as
    itself or its \\uXXXX escape, in either case."""
    parts = []
    for char in term:
        if char.isascii():
            parts.append(re.escape(json.dumps(char)[1:-1]))
            continue
        options = dict.fromkeys(
            re.escape(form)
            for c in (char, char.lower(), char.upper())
            if len(c) == 1
            for form in (c, json.dumps(c)[1:-1])
        )
        parts.append("(?:" + "|".join(options) + ")")
    return "".join(parts)


class _Joined(Func):
    """Text columns joined with `||` (none is NULL): the same SQL on Postgres and SQLite."""

    arg_joiner = " || "
    template = "(%(expressions)s)"
    output_field = TextField()


def _haystack(fields: tuple[str, ...]) -> Expression | F:
    """The columns as one text, so a term costs one case-insensitive scan of a row rather
    than one per column. A control character joins them: no term spans two columns."""
    parts: list[Expression | F] = []
    for name in fields:
        parts.append(Cast(name, TextField()) if name in ADDRESS_FIELDS else F(name))
        parts.append(Value(SEPARATOR))
    return parts[0] if len(parts) == 2 else _Joined(*parts[:-1])


def matches(fields: tuple[str, ...], term: str, vendor: str) -> Q:
    """Case-insensitive substring test of the columns, in every spelling of the term."""
    haystack = _haystack(fields)
    addresses = any(name in ADDRESS_FIELDS for name in fields)
    q = Q()
    for spelling in spellings(term):
        if not _unicode_case(spelling):
            # Only ASCII letters to fold: on Postgres UPPER under the C collation does
            # just that, about twice as fast as the locale's Unicode case mapping.
            lhs = Collate(haystack, "C") if vendor == "postgresql" else haystack
            for form in _forms(spelling, vendor) if addresses else [spelling]:
                q |= Q(IContains(lhs, form))
        elif vendor == "sqlite":
            # SQLite's LIKE folds ASCII only: REGEXP runs Python's re, which folds all
            # (slower, so only for such terms).
            patterns = [re.escape(spelling)] + ([_json_regex(spelling)] if addresses else [])
            q |= Q(IRegex(haystack, "|".join(dict.fromkeys(patterns))))
        else:
            for form in _forms(spelling, vendor) if addresses else [spelling]:
                q |= Q(IContains(haystack, form))
    return q


def to_filter(query: SearchQuery, *, vendor: str, zone: tzinfo) -> Q:
    """The query as a filter on Message (`vendor`: connection.vendor; `zone`: whose days
    before:/after: mean). Ownership is not part of it: callers filter the user's messages."""
    q = Q()
    for word in query.words:
        q &= matches(TEXT_FIELDS + ADDRESS_FIELDS, word, vendor)
    for term in query.senders:
        q &= matches(("from_name", "from_email"), term, vendor)
    for term in query.recipients:
        q &= matches(ADDRESS_FIELDS, term, vendor)
    for term in query.cc:
        q &= matches(("cc",), term, vendor)
    for term in query.subjects:
        q &= matches(("subject",), term, vendor)
    if query.unread is not None:
        q &= Q(seen=not query.unread)
    if query.flagged is not None:
        q &= Q(flagged=query.flagged)
    if query.attachment:
        q &= Q(has_attachments=True)
    if query.after is not None:
        q &= Q(internaldate__gte=datetime.combine(query.after, time.min, tzinfo=zone))
    if query.before is not None:
        q &= Q(internaldate__lt=datetime.combine(query.before, time.min, tzinfo=zone))
    return q
