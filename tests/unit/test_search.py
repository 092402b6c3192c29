"""The search box's query language (webmail/search.py): pure parsing, no database."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest

from webmail.search import MAX_TERMS, _json_regex, parse_date, parse_query, spellings


def test_plain_words_are_separate_terms_and_all_must_match() -> None:
    query = parse_query("  quarterly   Report ")
    assert query.words == ("quarterly", "Report")
    assert query.text == "quarterly Report"
    assert query


def test_a_quoted_phrase_is_one_term() -> None:
    query = parse_query('"annual report" budget "unclosed phrase')
    assert query.words == ("annual report", "budget", "unclosed phrase")


def test_field_operators_take_words_or_quoted_phrases() -> None:
    query = parse_query('from:"Zoë Sender" to:bob@example.test cc:carol subject:invoice')
    assert query.senders == ("Zoë Sender",)
    assert query.recipients == ("bob@example.test",)
    assert query.cc == ("carol",)
    assert query.subjects == ("invoice",)
    assert query.words == ()


def test_operators_are_case_insensitive() -> None:
    query = parse_query("FROM:bob Is:Unread HAS:Attachment")
    assert query.senders == ("bob",)
    assert query.unread is True
    assert query.attachment is True


@pytest.mark.parametrize(
    ("text", "unread", "flagged"),
    [
        ("is:unread", True, None),
        ("is:read", False, None),
        ("is:flagged", None, True),
        ("is:starred", None, True),
        ("is:unflagged", None, False),
        ("is:unread is:flagged", True, True),
    ],
)
def test_is_operators(text: str, unread: bool | None, flagged: bool | None) -> None:
    query = parse_query(text)
    assert (query.unread, query.flagged) == (unread, flagged)
    assert query.words == ()


def test_dates() -> None:
    query = parse_query("after:2026-01-05 before:2026/02/01")
    assert query.after == date(2026, 1, 5)
    assert query.before == date(2026, 2, 1)


def test_persian_digits_and_solar_hijri_dates() -> None:
    assert parse_date("۱۴۰۳-۰۱-۰۱") == date(2024, 3, 20)
    assert parse_date("1403/01/01") == date(2024, 3, 20)
    assert parse_date("2026-02-30") is None
    assert parse_date("yesterday") is None


def test_what_it_cannot_read_is_ignored_and_reported() -> None:
    query = parse_query("from: bob is:important has:pdf before:tomorrow subject:")
    assert query.ignored == ("from:", "is:important", "has:pdf", "before:tomorrow", "subject:")
    assert query.words == ("bob",)
    assert query.before is None


def test_unknown_operators_are_plain_text() -> None:
    query = parse_query('https://example.test/x label:"a b"')
    assert query.words == ("https://example.test/x", "label:a b")
    assert query.ignored == ()


def test_persian_text_is_kept_and_normalised() -> None:
    decomposed = "Zoe\u0301"  # e + combining acute: NFC makes it é
    query = parse_query(f'گزارش from:"علی رضایی" {decomposed}')
    assert query.words == ("گزارش", "Zoé")
    assert query.senders == ("علی رضایی",)


def test_nothing_to_search_is_falsy() -> None:
    assert not parse_query("")
    assert not parse_query('   "" ')
    assert not parse_query("is:nonsense")


def test_the_number_of_text_terms_is_capped() -> None:
    query = parse_query(" ".join(f"w{i}" for i in range(MAX_TERMS + 5)))
    assert len(query.words) == MAX_TERMS
    assert len(query.ignored) == 5


def test_arabic_and_persian_spellings_of_yeh_and_kaf() -> None:
    assert spellings("كتاب علي") == ["كتاب علي", "کتاب علی"]
    assert spellings("کتاب علی") == ["کتاب علی", "كتاب علي"]
    assert spellings("report") == ["report"]


@pytest.mark.parametrize("stored", ["Zoë Sender", "ZOË SENDER", "zoë sender"])
def test_the_json_pattern_matches_any_case_raw_or_escaped(stored: str) -> None:
    """Addresses are JSON text: SQLite holds json.dumps output (\\u-escaped), Postgres
    prints non-ASCII as is. The pattern for a search term must find both, in any case."""
    pattern = re.compile(_json_regex("Zoë"), re.IGNORECASE)
    for text in (json.dumps([[stored, "z@x"]]), json.dumps([[stored, "z@x"]], ensure_ascii=False)):
        assert pattern.search(text), text
    assert not pattern.search(json.dumps([["Zoe Sender", "z@x"]]))
