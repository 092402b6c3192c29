"""COPYUID (RFC 4315 section 3) as the IMAP adapter reads it: the map undo relies on."""

from __future__ import annotations

from webmail.protocols.imap import _copyuid_map


def test_ranges_map_in_order() -> None:
    # imaplib keeps the response code's text after the name: "<uidvalidity> <src> <dst>".
    assert _copyuid_map([b"38505 304,319:320 3956:3958"]) == {304: 3956, 319: 3957, 320: 3958}


def test_several_commands_add_up_and_junk_is_ignored() -> None:
    entries: list[bytes | tuple[bytes, bytes]] = [b"1 5 9", b"1 6:7 10:11", b"garbage", b"1 8 "]
    assert _copyuid_map(entries) == {5: 9, 6: 10, 7: 11}


def test_sets_of_different_sizes_map_nothing() -> None:
    assert _copyuid_map([b"1 1:3 7:8"]) == {}
