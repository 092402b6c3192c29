"""Header decoding: addresses (both parsers), parameters, encoded words, ids."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from webmail.mime.headers import (
    STDLIB_ADDRESS_LIMIT,
    _simple_addresses,
    _stdlib_addresses,
    decode_encoded_words,
    parse_addresses,
    parse_message_id,
    parse_parameterised,
)

ALICE = ("", "alice@example.org")
ADDRESS_CASES = [
    ("alice@example.org", [ALICE]),
    ("Alice <alice@example.org>", [("Alice", "alice@example.org")]),
    ('"Smith, J" <j@example.org>, alice@example.org', [("Smith, J", "j@example.org"), ALICE]),
    (
        "friends: alice@example.org, b@example.org;, c@example.org",
        [ALICE, ("", "b@example.org"), ("", "c@example.org")],
    ),
    ("undisclosed-recipients:;", []),
    ("=?utf-8?q?Z=C3=BCrich?= <z@example.ch>", [("Zürich", "z@example.ch")]),
    ('"=?utf-8?q?J=C3=B6rg?=" <j@example.org>', [("Jörg", "j@example.org")]),
    ("Jörg <j@example.org>", [("Jörg", "j@example.org")]),
    ('"a\\"b" <x@example.org>', [('a"b', "x@example.org")]),
    (
        "alice@example.org (comment (nested)), Foo <f@example.org>",
        [ALICE, ("Foo", "f@example.org")],
    ),
    ("<@route.example:alice@example.org>", [ALICE]),
    ("alice@example.org, , ,b@example.org", [ALICE, ("", "b@example.org")]),
    ("broken <alice@example.org", [("broken", "alice@example.org")]),
]

Parser = Callable[[str], "list[tuple[str, str]] | None"]


@pytest.mark.parametrize("parser", [_stdlib_addresses, _simple_addresses], ids=["stdlib", "simple"])
@pytest.mark.parametrize(("value", "expected"), ADDRESS_CASES)
def test_both_address_parsers_agree(
    parser: Parser, value: str, expected: list[tuple[str, str]]
) -> None:
    assert parser(value) == expected


def test_long_address_lists_take_the_linear_parser() -> None:
    value = ", ".join(f'"Name {i}" <user{i}@example.org>' for i in range(100))
    assert len(value) > STDLIB_ADDRESS_LIMIT

    parsed = parse_addresses(value.encode())

    assert parsed == [(f"Name {i}", f"user{i}@example.org") for i in range(100)]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("text/plain", ("text/plain", {})),
        ('Text/HTML; Charset="UTF-8"', ("text/html", {"charset": "UTF-8"})),
        ("multipart/mixed; boundary=abc; x=y", ("multipart/mixed", {"boundary": "abc", "x": "y"})),
        ('a/b; name="semi;colon.txt"', ("a/b", {"name": "semi;colon.txt"})),
        ('a/b; name="quoted \\"inner\\""', ("a/b", {"name": 'quoted "inner"'})),
        ("a/b; name*=utf-8''%E2%82%AC.txt", ("a/b", {"name": "€.txt"})),
        ("a/b; name*0=one; name*1=two", ("a/b", {"name": "onetwo"})),
        ("a/b; name*1*=%41; name*0*=utf-8''%42", ("a/b", {"name": "BA"})),
        ("a/b; name=plain; name*=utf-8''star", ("a/b", {"name": "star"})),
        ("a/b; ;; =x; flag; k=v", ("a/b", {"flag": "", "k": "v"})),
        ('a/b; name="unterminated', ("a/b", {"name": "unterminated"})),
    ],
)
def test_parameters(value: str, expected: tuple[str, dict[str, str]]) -> None:
    assert parse_parameterised(value) == expected


def test_encoded_words_keep_text_outside_them() -> None:
    assert decode_encoded_words("[list] =?utf-8?q?caf=C3=A9?= and more") == "[list] café and more"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"<abc@example.org>", "<abc@example.org>"),
        (b"  <abc@example.org> (comment)", "<abc@example.org>"),
        (b"abc@example.org", "<abc@example.org>"),
        (b"<>", ""),
        (b"", ""),
    ],
)
def test_message_ids_keep_their_brackets(value: bytes, expected: str) -> None:
    assert parse_message_id(value) == expected
