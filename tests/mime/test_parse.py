"""parse_message on well-formed mail: envelope, body choice, attachments and their payloads."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tests.mime.helpers import corpus_bytes
from webmail.mime import Attachment, ParsedMessage, attachment_payload, parse_message


def crlf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


@pytest.fixture(params=["lf", "crlf"])
def line_endings(request: pytest.FixtureRequest) -> object:
    """Each sample both as stored on disk (LF) and as on the wire (CRLF)."""
    return crlf if request.param == "crlf" else (lambda raw: raw)


def test_it_reads_the_envelope(line_endings) -> None:
    message = parse_message(line_endings(corpus_bytes("alternative.eml")))

    assert message.subject == "Re: Quartalszahlen \u2013 Entwurf"
    assert message.from_ == [("Jörg Müller", "joerg@example.org")]
    assert message.to == [("Alice", "alice@example.test"), ("Bob, Jr.", "bob@example.test")]
    assert message.cc == [("", "carol@example.test"), ("", "dave@example.test")]
    assert message.reply_to == [("", "replies@example.org")]
    assert message.date == datetime(2025, 3, 3, 9, 15, tzinfo=timezone(timedelta(hours=1)))
    assert message.message_id == "<5f2c1a@mail.example.org>"
    assert message.in_reply_to == "<parent@example.test>"
    assert message.references == ["<root@example.test>", "<parent@example.test>"]


def test_it_prefers_html_for_html_and_plain_for_text_in_alternative(line_endings) -> None:
    message = parse_message(line_endings(corpus_bytes("alternative.eml")))

    # format=flowed: the wrapped lines of the first paragraph are joined again.
    assert message.text_is_flowed
    assert message.text.startswith(
        "Hallo Alice, die Zahlen für das erste Quartal sind fertig und liegen im gemeinsamen "
        "Ordner.\n"
    )
    assert message.html is not None
    assert '<a href="https://files.example.org/q1">gemeinsamen Ordner</a>' in message.html
    assert "<style>" in message.html  # not sanitised here: that is clean_html's job
    assert message.attachments == []
    assert message.defects == []


def test_it_takes_the_root_of_related_and_lists_the_cid_image(line_endings) -> None:
    raw = line_endings(corpus_bytes("related_cid.eml"))

    message = parse_message(raw)

    assert message.text == "Spring sale: everything 20% off. https://shop.example/sale"
    assert message.html is not None
    assert 'src="cid:logo@shop.example"' in message.html
    assert message.date == datetime(2025, 3, 4, 10, 0, tzinfo=UTC)  # -0000 read as UTC
    [logo] = message.attachments
    assert logo == Attachment(
        filename="logo.png",
        content_type="image/png",
        size=len(logo.payload(raw) or b""),
        content_id="logo@shop.example",
        disposition="inline",
        part_id="2.2",
    )
    assert (logo.payload(raw) or b"").startswith(b"\x89PNG\r\n\x1a\n")
    assert logo.size == 70


def test_it_lists_a_pdf_in_mixed_with_its_exact_bytes(line_endings) -> None:
    raw = line_endings(corpus_bytes("mixed_pdf.eml"))
    pdf = corpus_bytes("mixed_pdf.pdf")

    message = parse_message(raw)

    assert message.text.strip() == "Please find invoice 2025-031 attached. Amount due: 42 €."
    assert message.html is None
    [invoice] = message.attachments
    assert invoice.filename == "invoice-2025-031.pdf"
    assert invoice.content_type == "application/pdf"
    assert invoice.disposition == "attachment"
    assert invoice.content_id is None
    assert invoice.part_id == "2"
    assert invoice.size == len(pdf)
    assert attachment_payload(raw, "2") == pdf


def test_an_attached_message_is_an_attachment_not_body(line_endings) -> None:
    raw = line_endings(corpus_bytes("forwarded.eml"))

    message = parse_message(raw)

    assert message.text.strip() == "See the message below."
    assert "inner body text" not in message.text
    [forwarded] = message.attachments
    assert forwarded.content_type == "message/rfc822"
    assert forwarded.filename == "Inner subject.eml"
    payload = attachment_payload(raw, forwarded.part_id) or b""
    assert payload.startswith(b"From: Carol")
    assert forwarded.size == len(payload)
    assert parse_message(payload).text.strip() == "inner body text"


def mime(headers: str, body: str | bytes) -> bytes:
    body_bytes = body.encode() if isinstance(body, str) else body
    return headers.strip("\n").encode() + b"\n\n" + body_bytes


def test_a_missing_filename_is_generated_from_the_type() -> None:
    raw = mime(
        "Subject: x\nContent-Type: multipart/mixed; boundary=b",
        "--b\nContent-Type: text/plain\n\nhi\n"
        "--b\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n\n"
        f"{base64.b64encode(b'%PDF-1.4 tiny').decode()}\n"
        "--b\nContent-Type: image/jpeg\nContent-Disposition: attachment\n\nJFIF\n"
        "--b--\n",
    )

    message = parse_message(raw)

    assert [(a.filename, a.content_type, a.size) for a in message.attachments] == [
        ("attachment-1.pdf", "application/pdf", 13),
        ("attachment-2.jpg", "image/jpeg", 4),
    ]


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        ("attachment; filename*=UTF-8''na%C3%AFve%20r%C3%A9sum%C3%A9.pdf", "naïve résumé.pdf"),
        (
            "attachment; filename*0*=UTF-8''%E2%82%AC%20rates;"
            " filename*1*=%20for%20Q1; filename*2=.xlsx",
            "€ rates for Q1.xlsx",
        ),
        ("attachment; filename*=iso-8859-1'fr'caf%E9.txt", "café.txt"),
        ('attachment; filename="=?UTF-8?B?w7xiZXJzaWNodC5kb2N4?="', "übersicht.docx"),
        ('attachment; filename="../../etc/passwd"', "passwd"),
        ('attachment; filename="C:\\\\Users\\\\x\\\\evil.exe"', "evil.exe"),
        ('attachment; filename="invoice\u202egnp.exe"', "invoicegnp.exe"),
        ('attachment; filename="a\\"b<c>|d?.txt"', "a_b_c__d_.txt"),
        ('attachment; filename="CON"', "attachment-1.bin"),
        ('attachment; filename="   ..."', "attachment-1.bin"),
        ("attachment; filename*=bogus-charset''%FF%FE.txt", "ÿþ.txt"),
    ],
)
def test_it_decodes_and_sanitises_filenames(disposition: str, expected: str) -> None:
    raw = mime(
        "Subject: files\nContent-Type: multipart/mixed; boundary=b",
        "--b\nContent-Type: text/plain\n\nsee attached\n"
        f"--b\nContent-Type: application/octet-stream\nContent-Disposition: {disposition}\n\n"
        "data\n--b--\n",
    )

    [attachment] = parse_message(raw).attachments

    assert attachment.filename == expected


def test_a_long_filename_is_capped_keeping_its_extension() -> None:
    raw = mime(
        "Subject: long\nContent-Type: multipart/mixed; boundary=b",
        "--b\nContent-Type: application/pdf\n"
        f'Content-Disposition: attachment; filename="{"x" * 5000}.pdf"\n\ndata\n--b--\n',
    )

    [attachment] = parse_message(raw).attachments

    assert attachment.filename == "x" * 196 + ".pdf"


def test_the_name_parameter_of_content_type_is_a_filename_too() -> None:
    raw = mime(
        "Subject: n\nContent-Type: multipart/mixed; boundary=b",
        '--b\nContent-Type: text/plain\n\nbody\n--b\nContent-Type: text/plain; name="notes.txt"'
        "\n\nnotes\n--b--\n",
    )

    message = parse_message(raw)

    assert message.text == "body"  # the line break before a delimiter belongs to the delimiter
    assert [(a.filename, a.size) for a in message.attachments] == [("notes.txt", 5)]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("=?ISO-8859-1?Q?Caf=E9_cr=E8me?=", "Café crème"),
        ("=?UTF-8?B?8J+YgA==?= smile", "😀 smile"),
        ("=?utf-8?q?a?= =?utf-8?q?b?=", "ab"),  # whitespace between encoded words is dropped
        ("=?utf-8?q?a?= plain =?utf-8?q?b?=", "a plain b"),
        ("=?UTF-8?B?4oK=?= =?UTF-8?B?rA==?=", "€"),  # one character split across two words
        ("=?utf-8*de?Q?Gr=C3=BC=C3=9Fe?=", "Grüße"),  # RFC 2231 language tag
        ("=?x-unknown?Q?caf=C3=A9?=", "café"),  # unknown charset: UTF-8, else Windows-1252
        ("=?utf-8?B?broken base64?=", "=?utf-8?B?broken base64?="),  # not an encoded word
        ("Re: [list]   spaced\tout", "Re: [list] spaced out"),
    ],
)
def test_it_decodes_encoded_word_subjects(header: str, expected: str) -> None:
    assert parse_message(f"Subject: {header}\n\nbody".encode()).subject == expected


def test_format_flowed_without_delsp_keeps_the_space() -> None:
    raw = mime(
        "Content-Type: text/plain; charset=utf-8; format=flowed",
        "The quick brown \nfox jumps.\n> quoted \n> line\n>> deeper\n-- \nsig\n",
    )

    message = parse_message(raw)

    assert message.text_is_flowed
    assert message.text == "The quick brown fox jumps.\n> quoted line\n>> deeper\n-- \nsig\n"


def test_format_flowed_with_delsp_removes_the_space() -> None:
    raw = mime(
        "Content-Type: text/plain; charset=utf-8; format=flowed; delsp=yes",
        "Donaudampf \nschifffahrt und \n ein stuffed line\n",
    )

    assert parse_message(raw).text == "Donaudampfschifffahrt undein stuffed line\n"


def test_a_plain_message_is_not_flowed() -> None:
    message = parse_message(mime("Content-Type: text/plain", "line one \nline two\n"))

    assert not message.text_is_flowed
    assert message.text == "line one \nline two\n"


def test_html_only_mail_gets_a_text_rendering() -> None:
    raw = mime(
        "Subject: html\nContent-Type: text/html; charset=utf-8",
        "<html><head><title>T</title><style>p{color:red}</style><script>var x=1</script></head>"
        "<body><h1>News</h1><p>Read <a href='https://example.com/a'>the article</a>.</p>"
        "<ul><li>one</li><li>two</li></ul><blockquote>quoted</blockquote></body></html>",
    )

    message = parse_message(raw)

    assert message.html is not None and "<h1>News</h1>" in message.html
    assert message.text == (
        "News\n\nRead the article <https://example.com/a>.\n\n- one\n- two\n\n> quoted"
    )


def test_mixed_concatenates_several_text_parts_in_order() -> None:
    raw = mime(
        "Content-Type: multipart/mixed; boundary=b",
        "--b\nContent-Type: text/plain\n\nfirst\n"
        "--b\nContent-Type: image/png\nContent-Disposition: inline\nContent-ID: <i1>\n\nPNG\n"
        "--b\nContent-Type: text/plain\n\nsecond\n--b--\n",
    )

    message = parse_message(raw)

    assert message.text == "first\n\nsecond"
    assert message.html is None
    [image] = message.attachments
    assert (image.disposition, image.content_id, image.part_id) == ("inline", "i1", "2")


def test_mixed_with_html_and_text_parts_renders_both_as_html() -> None:
    raw = mime(
        "Content-Type: multipart/mixed; boundary=b",
        "--b\nContent-Type: text/html\n\n<p>first</p>\n"
        "--b\nContent-Type: text/plain\n\nsecond & <last>\n--b--\n",
    )

    message = parse_message(raw)

    assert message.text == "first\n\nsecond & <last>"
    assert message.html is not None
    assert message.html.startswith("<p>first</p>")
    assert "second &amp; &lt;last&gt;" in message.html


def test_it_finds_the_related_root_named_by_start() -> None:
    raw = mime(
        'Content-Type: multipart/related; boundary=b; start="<root@x>"',
        "--b\nContent-Type: image/gif\nContent-ID: <img@x>\n\nGIF89a\n"
        "--b\nContent-Type: text/html\nContent-ID: <root@x>\n\n<img src=cid:img@x>\n--b--\n",
    )

    message = parse_message(raw)

    assert message.html == "<img src=cid:img@x>"
    assert [a.content_id for a in message.attachments] == ["img@x"]


def test_nested_alternative_inside_mixed_inside_signed() -> None:
    raw = mime(
        'Content-Type: multipart/signed; boundary=s; protocol="application/pgp-signature"',
        "--s\nContent-Type: multipart/mixed; boundary=m\n\n"
        "--m\nContent-Type: multipart/alternative; boundary=a\n\n"
        "--a\nContent-Type: text/plain\n\nplain body\n"
        "--a\nContent-Type: text/html\n\n<p>html body</p>\n--a--\n"
        "--m\nContent-Type: text/csv; name=data.csv\n\na,b\n--m--\n"
        "--s\nContent-Type: application/pgp-signature; name=signature.asc\n\n-----BEGIN\n--s--\n",
    )

    message = parse_message(raw)

    assert message.text == "plain body"
    assert message.html == "<p>html body</p>"
    assert [(a.filename, a.part_id) for a in message.attachments] == [
        ("data.csv", "1.2"),
        ("signature.asc", "2"),
    ]


def test_digest_parts_default_to_attached_messages() -> None:
    raw = mime(
        "Content-Type: multipart/digest; boundary=d",
        "--d\n\nSubject: first\n\none\n--d\n\nSubject: second\n\ntwo\n--d--\n",
    )

    message = parse_message(raw)

    assert [(a.content_type, a.filename) for a in message.attachments] == [
        ("message/rfc822", "first.eml"),
        ("message/rfc822", "second.eml"),
    ]


def test_a_single_part_attachment_message_has_part_id_1() -> None:
    raw = mime(
        "Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n"
        "Content-Disposition: attachment; filename=scan.pdf",
        base64.b64encode(b"%PDF-1.7 scan").decode(),
    )

    message = parse_message(raw)

    assert message.text == ""
    assert [(a.filename, a.part_id, a.size) for a in message.attachments] == [("scan.pdf", "1", 13)]
    assert attachment_payload(raw, "1") == b"%PDF-1.7 scan"


@pytest.mark.parametrize("part_id", ["", "0", "3", "1.1", "x", "1..2", "-1", "9" * 300])
def test_attachment_payload_returns_none_for_parts_that_do_not_exist(part_id: str) -> None:
    assert attachment_payload(corpus_bytes("mixed_pdf.eml"), part_id) is None


def test_attachment_payload_refuses_a_multipart_container() -> None:
    raw = corpus_bytes("related_cid.eml")

    assert attachment_payload(raw, "2") is None  # multipart/related itself
    assert (
        attachment_payload(raw, "1")
        == b"Spring sale: everything 20% off. https://shop.example/sale"
    )


def test_a_message_without_headers_is_all_body() -> None:
    message = parse_message(b"just some text\nwith no header at all\n")

    assert message == ParsedMessage(text="just some text\nwith no header at all\n")


def test_header_lines_without_a_blank_line_end_at_the_first_body_line() -> None:
    message = parse_message(b"Subject: hi\nthis line is the body\nso is this\n")

    assert message.subject == "hi"
    assert message.text == "this line is the body\nso is this\n"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Tue, 1 Jul 2025 10:00:00 +0200", datetime(2025, 7, 1, 8, 0, tzinfo=UTC)),
        ("1 Jul 2025 10:00:00 GMT", datetime(2025, 7, 1, 10, 0, tzinfo=UTC)),
        ("Tue, 1 Jul 2025 10:00:00 -0000", datetime(2025, 7, 1, 10, 0, tzinfo=UTC)),
        ("Tue, 01 Jul 25 10:00 EST", datetime(2025, 7, 1, 15, 0, tzinfo=UTC)),
        ("yesterday", None),
        ("Tue, 1 Jul 2025 10:00:00 +9999", None),
        ("Tue, 99 Jul 2025 10:00:00 +0000", None),
    ],
)
def test_dates_are_aware_or_none(value: str, expected: datetime | None) -> None:
    date = parse_message(f"Date: {value}\n\n".encode()).date

    assert date == expected
    assert date is None or date.tzinfo is not None
