"""parse_message on broken and hostile mail: best partial result, never an exception."""

from __future__ import annotations

import pytest

from webmail.mime import attachment_payload, parse_message
from webmail.mime.headers import MAX_ADDRESSES, MAX_SUBJECT_CHARS
from webmail.mime.structure import MAX_DEPTH, MAX_ENTITIES


def test_a_wrongly_declared_utf8_body_in_latin1_still_reads() -> None:
    raw = b"Content-Type: text/plain; charset=utf-8\n\ncaf\xe9 cr\xe8me, 3\x80\n"

    assert parse_message(raw).text == "café crème, 3€\n"


def test_a_long_latin1_body_labelled_utf8_reads_as_windows_1252() -> None:
    body = "Ärger über Öl, Größe, déjà vu, naïve café. " * 500

    message = parse_message(b"Content-Type: text/plain; charset=utf-8\n\n" + body.encode("cp1252"))

    assert message.text == body


def test_a_stray_latin1_byte_in_utf8_keeps_the_utf8() -> None:
    raw = "Content-Type: text/plain; charset=utf-8\n\nGrüße, 5 € – ".encode() + b"caf\xe9\n"

    assert parse_message(raw).text == "Grüße, 5 € – café\n"


def test_utf8_declared_as_latin1_or_ascii_reads_as_utf8() -> None:
    latin1 = b"Content-Type: text/plain; charset=iso-8859-1\n\nGr\xc3\xbc\xc3\x9fe\n"
    ascii_ = b"Content-Type: text/plain; charset=us-ascii\n\nGr\xc3\xbc\xc3\x9fe\n"

    assert parse_message(latin1).text == "Grüße\n"
    assert parse_message(ascii_).text == "Grüße\n"


def test_latin1_really_latin1_stays_latin1() -> None:
    raw = b"Content-Type: text/plain; charset=iso-8859-1\n\nd\xe9j\xe0 vu\n"

    assert parse_message(raw).text == "déjà vu\n"


@pytest.mark.parametrize(
    "charset", ["x-klingon", "unicode_escape", "base64", "rot13", "undefined", '"', "utf-8\x00"]
)
def test_unknown_or_unusable_charsets_fall_back_without_raising(charset: str) -> None:
    raw = b"Content-Type: text/plain; charset=" + charset.encode() + b"\n\ncaf\xc3\xa9 \\u0041\n"

    assert parse_message(raw).text == "café \\u0041\n"


def test_legacy_charsets_decode_with_their_supersets() -> None:
    gbk = "简体中文".encode("gbk")  # GBK-only bytes, labelled gb2312 as mailers do
    sjis = "①日本".encode("cp932")
    raw_gb = b"Content-Type: text/plain; charset=gb2312\n\n" + gbk
    raw_sjis = b"Content-Type: text/plain; charset=shift_jis\n\n" + sjis

    assert parse_message(raw_gb).text == "简体中文"
    assert parse_message(raw_sjis).text == "①日本"


def test_undeclared_8bit_headers_are_read_as_utf8_or_windows_1252() -> None:
    raw = (
        b"From: J\xc3\xb6rg \xc3\x9cbel <j@example.org>\n"
        b"To: Ren\xe9 <rene@example.org>\n"
        b"Subject: Gr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln\n\nbody\n"
    )

    message = parse_message(raw)

    assert message.from_ == [("Jörg Übel", "j@example.org")]
    assert message.to == [("René", "rene@example.org")]
    assert message.subject == "Grüße aus Köln"


def test_8bit_headers_use_the_body_charset_as_a_hint() -> None:
    subject = "Привет".encode("koi8-r")
    raw = b"Subject: " + subject + b"\nContent-Type: text/plain; charset=koi8-r\n\nx\n"

    assert parse_message(raw).subject == "Привет"


def test_nul_bytes_do_not_survive_into_strings() -> None:
    raw = (
        b"Subject: a\x00b\nFrom: N\x00ame <x\x00@example.org>\n"
        b"Content-Type: text/plain\n\nhello\x00world\n"
    )

    message = parse_message(raw)

    assert "\x00" not in message.subject + message.text + repr(message.from_)
    assert message.subject == "a\ufffdb"
    assert message.text == "hello\ufffdworld\n"


@pytest.mark.parametrize(
    ("encoded", "expected"),
    [
        (b"SGVsbG8gd29ybGQ=", b"Hello world"),
        (b"SGVsbG8gd29ybGQ", b"Hello world"),  # missing padding
        (b"SGVs!!bG8g\n d29y*bGQ=", b"Hello world"),  # junk characters
        (b"SGVsbG8=IHdvcmxk", b"Hello world"),  # separately padded chunks
        (b"SGVsbG8gd29ybGQ=\n=\n==", b"Hello world"),  # stray padding
        (b"SGVsbG8gd29ybGQhI", b"Hello world!"),  # a lone trailing sextet
        (b"", b""),
        (b"====", b""),
    ],
)
def test_broken_base64_decodes_what_can_be_decoded(encoded: bytes, expected: bytes) -> None:
    raw = (
        b"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n"
        b"Content-Transfer-Encoding: base64\n\n" + encoded + b"\n--b\n"
        b"Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n"
        + encoded
        + b"\n--b--\n"
    )

    message = parse_message(raw)

    assert message.text == expected.decode()
    [attachment] = message.attachments
    assert attachment.size == len(expected)
    assert attachment_payload(raw, "2") == expected


def test_broken_quoted_printable_keeps_the_undecodable_bits() -> None:
    raw = (
        b"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable"
        b"\n\nGr=C3=BC=C3=9Fe =ZZ=\nsoft break, =E2=82=AC, trailing =\n"
    )

    assert parse_message(raw).text == "Grüße =ZZsoft break, €, trailing "


def test_unknown_transfer_encoding_passes_bytes_through() -> None:
    raw = b"Content-Type: text/plain\nContent-Transfer-Encoding: x-weird\n\nplain text\n"

    assert parse_message(raw).text == "plain text\n"


def test_a_multipart_without_boundary_parameter_is_shown_as_text() -> None:
    message = parse_message(b"Content-Type: multipart/mixed\n\nsome text\n")

    assert message.text == "some text\n"
    assert "multipart_without_boundary" in message.defects


def test_a_boundary_that_never_appears_shows_the_body_as_text() -> None:
    message = parse_message(b"Content-Type: multipart/mixed; boundary=nope\n\nsome text\n")

    assert message.text == "some text\n"
    assert "boundary_not_found" in message.defects


def test_a_missing_closing_boundary_keeps_the_last_part() -> None:
    raw = (
        b"Content-Type: multipart/mixed; boundary=b\n\npreamble\n--b\nContent-Type: text/plain"
        b"\n\nfirst\n--b\nContent-Type: text/plain\n\nsecond, cut off"
    )

    message = parse_message(raw)

    assert message.text == "first\n\nsecond, cut off"
    assert "closing_boundary_missing" in message.defects


def test_a_boundary_prefix_inside_a_part_is_not_a_delimiter() -> None:
    raw = (
        b"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\n"
        b"--bx is not a delimiter\n x--b neither\n--b  \nContent-Type: text/plain\n\nlast\n--b--"
    )

    assert parse_message(raw).text == "--bx is not a delimiter\n x--b neither\n\nlast"


def test_bare_cr_line_endings_are_understood() -> None:
    raw = b"Subject: old mac\rContent-Type: text/plain\r\rline one\rline two\r"

    message = parse_message(raw)

    assert message.subject == "old mac"
    assert message.text == "line one\nline two\n"


def nested(depth: int, *, leaf: bytes = b"Content-Type: text/plain\n\nhello deep\n") -> bytes:
    head = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (i, i) for i in range(depth)
    )
    tail = b"".join(b"\n--b%d--\n" % i for i in reversed(range(depth)))
    return b"Subject: deep\n" + head + leaf + tail


def test_1000_levels_of_nesting_become_one_opaque_attachment() -> None:
    raw = nested(1000)

    message = parse_message(raw)

    assert message.subject == "deep"
    assert "too_deep" in message.defects
    [opaque] = message.attachments
    assert opaque.content_type == "message/rfc822"
    assert opaque.part_id == ".".join(["1"] * MAX_DEPTH)
    payload = attachment_payload(raw, opaque.part_id) or b""
    assert b"hello deep" in payload
    assert opaque.size == len(payload)
    # The opaque part is itself a message: parsing it goes 30 levels further down.
    assert "too_deep" in parse_message(payload).defects


def test_text_above_the_depth_cap_is_still_shown() -> None:
    deep_chain = nested(200, leaf=b"Content-Type: text/plain\n\nbelow the cap\n")
    chain_body = deep_chain.split(b"\n", 1)[1]  # without its Subject line
    raw = (
        b"Subject: mixed depth\nContent-Type: multipart/mixed; boundary=top\n\n"
        b"--top\nContent-Type: text/plain\n\nvisible text\n--top\n" + chain_body + b"\n--top--\n"
    )

    message = parse_message(raw)

    assert message.text == "visible text"
    assert len(message.attachments) == 1


def test_10000_parts_are_cut_at_the_entity_cap() -> None:
    parts = b"".join(b"--B\nContent-Type: text/plain\n\npart %d\n" % i for i in range(10_000))
    raw = b"Subject: many\nContent-Type: multipart/mixed; boundary=B\n\n" + parts + b"--B--\n"

    message = parse_message(raw)

    assert message.text.startswith("part 0\n\npart 1\n\n")
    assert message.text.endswith(f"part {MAX_ENTITIES - 2}")
    assert "too_many_parts" in message.defects


def test_10000_attachments_are_counted_up_to_the_cap() -> None:
    parts = b"".join(
        b"--B\nContent-Type: application/octet-stream\nContent-Disposition: attachment;"
        b" filename=f%d.bin\n\n%d\n" % (i, i)
        for i in range(10_000)
    )
    raw = b"Content-Type: multipart/mixed; boundary=B\n\n" + parts + b"--B--\n"

    message = parse_message(raw)

    assert len(message.attachments) == MAX_ENTITIES - 1
    assert message.attachments[123].filename == "f123.bin"
    assert message.attachments[123].size == 3
    assert attachment_payload(raw, "124") == b"123"


def test_a_1mb_header_is_skipped_and_the_rest_still_parsed() -> None:
    raw = (
        b"X-Junk: " + b"x" * 1_000_000 + b"\nSubject: after junk\nFrom: a@example.org\n"
        b"Content-Type: text/plain\n\nbody survives\n"
    )

    message = parse_message(raw)

    assert message.subject == "after junk"
    assert message.from_ == [("", "a@example.org")]
    assert message.text == "body survives\n"


def test_a_1mb_subject_is_truncated() -> None:
    raw = b"Subject: " + "é".encode() * 500_000 + b"\n\nbody\n"

    message = parse_message(raw)

    assert message.subject == "é" * MAX_SUBJECT_CHARS
    assert message.text == "body\n"


def test_a_1mb_address_list_is_capped() -> None:
    addresses = b", ".join(b'"User %d" <user%d@example.org>' % (i, i) for i in range(40_000))
    raw = b"To: " + addresses + b"\nSubject: big list\n\nbody\n"

    message = parse_message(raw)

    assert len(message.to) == MAX_ADDRESSES
    assert message.to[0] == ("User 0", "user0@example.org")
    assert message.to[-1] == (f"User {MAX_ADDRESSES - 1}", f"user{MAX_ADDRESSES - 1}@example.org")
    assert message.subject == "big list"


def test_a_1mb_folded_header_of_tiny_lines() -> None:
    raw = b"Subject: start" + b"\n x" * 500_000 + b"\nContent-Type: text/plain\n\nbody\n"

    message = parse_message(raw)

    assert message.subject.startswith("start x x x")
    assert message.text == "body\n"


def test_a_huge_references_header_keeps_root_and_latest() -> None:
    ids = b" ".join(b"<id%d@example.org>" % i for i in range(5_000))

    references = parse_message(b"References: " + ids + b"\n\n").references

    assert len(references) == 200
    assert references[0] == "<id0@example.org>"
    assert references[-1] == "<id4999@example.org>"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\n\n\n",
        b"Content-Type: \n\n",
        b"Content-Type: text/plain; charset\n\nx",
        b'Content-Type: multipart/mixed; boundary=""\n\nx',
        b"Content-Type: multipart/mixed; boundary=" + b"b" * 10_000 + b"\n\nx",
        b"Content-Transfer-Encoding: base64\n\n" + b"=" * 100_000,
        b"Content-Disposition: attachment; filename*0*=%%%; filename*1*=utf-8''\n\nx",
        b"From: " + b"(" * 50_000 + b"\n\n",
        b"From: " + b"(" * 1_000 + b"\n\n",  # short enough for policy.default, which recurses
        b"From: " + b'"' * 50_000 + b"\n\n",
        b"From: " + b"<" * 50_000 + b"\n\n",
        b"From: " + b"\\" * 50_000 + b"\n\n",
        b"To: undisclosed-recipients:;\n\n",
        b"Subject: =?" + b"=?utf-8?q?" * 20_000 + b"\n\n",
        b"Date: " + b"9" * 10_000 + b"\n\n",
        b"Message-ID: <" + b"a" * 100_000 + b">\n\n",
        b"Content-Type: multipart/alternative; boundary=b\n\n--b\n--b\n--b--\n",
        b"Content-Type: message/rfc822\n\n",
        b"Content-Type: text/plain; format=flowed\n\n" + b"> " * 100_000,
        b"Content-Type: text/html\n\n" + b"<div>" * 100_000,
        b"Content-Transfer-Encoding: x-uuencode\n\nbegin 644 f\n!!!\nend\n",
    ],
)
def test_degenerate_input_never_raises(raw: bytes) -> None:
    message = parse_message(raw)

    assert isinstance(message.text, str)
    assert "parser_error" not in message.defects
