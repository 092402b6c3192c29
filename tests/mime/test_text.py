"""Plain text to HTML (text_to_html), HTML to plain text (html_to_text), format=flowed."""

from __future__ import annotations

import pytest

from webmail.mime import text_to_html
from webmail.mime.flowed import unflow
from webmail.mime.htmltext import html_to_text
from webmail.mime.sanitize import LINK_REL

OPEN = '<div dir="auto" style="white-space: pre-wrap; overflow-wrap: anywhere">'


def link(href: str, text: str | None = None) -> str:
    return f'<a href="{href}" rel="{LINK_REL}" target="_blank">{text or href}</a>'


def test_text_is_escaped_and_wrapped() -> None:
    assert text_to_html("a < b & c > d \"e\" 'f'") == (
        OPEN + "a &lt; b &amp; c &gt; d \"e\" 'f'</div>"
    )


def test_line_breaks_and_spacing_are_kept() -> None:
    assert text_to_html("one\n  two\n\nthree\r\nfour") == OPEN + "one\n  two\n\nthree\nfour</div>"


EXAMPLE = "https://example.com"


@pytest.mark.parametrize(
    ("text", "html"),
    [
        (f"see {EXAMPLE}/a?b=1&c=2.", "see " + link(f"{EXAMPLE}/a?b=1&amp;c=2") + "."),
        (f"({EXAMPLE}/wiki/X_(y))", "(" + link(f"{EXAMPLE}/wiki/X_(y)") + ")"),
        (
            "go to www.example.com!",
            "go to " + link("http://www.example.com", "www.example.com") + "!",
        ),
        (
            "mail b@example.org, ok",
            "mail " + link("mailto:b@example.org", "b@example.org") + ", ok",
        ),
        ("mailto:a@example.org?subject=x", link("mailto:a@example.org?subject=x")),
        ("javascript:alert(1)", "javascript:alert(1)"),
        ("http://", "http://"),
        (f'"{EXAMPLE}/q"', '"' + link(f"{EXAMPLE}/q") + '"'),
        (f"<{EXAMPLE}/>", "&lt;" + link(f"{EXAMPLE}/") + "&gt;"),
    ],
)
def test_links_are_made_clickable(text: str, html: str) -> None:
    assert text_to_html(text) == OPEN + html + "</div>"


def test_quotes_fold_into_nested_blockquotes() -> None:
    text = "Hi\n> first\n> > second\n>> also second\n> back\nreply"

    assert text_to_html(text) == (
        OPEN + "Hi<blockquote>first<blockquote>second\nalso second</blockquote>back"
        "</blockquote>reply</div>"
    )


def test_a_quote_at_the_end_is_closed() -> None:
    assert text_to_html("> a\n>> b") == (
        OPEN + "<blockquote>a<blockquote>b</blockquote></blockquote></div>"
    )


def test_nul_and_huge_input_are_handled() -> None:
    assert text_to_html("a\x00b") == OPEN + "a\ufffdb</div>"
    long_word = "x" * 1_000_000 + "@"
    assert text_to_html(long_word).endswith("x@</div>")


def test_html_to_text_blocks_links_lists_and_quotes() -> None:
    html = (
        "<div>Hello<br>world</div><p>Para with <a href='https://example.com/x'>a link</a> "
        "and <a href='https://example.com/same'>https://example.com/same</a>.</p>"
        "<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>"
        "<ol><li>one</li><li>two</li></ol><blockquote><p>quoted</p><blockquote>deeper"
        "</blockquote></blockquote><pre>  keep   spacing\n  here</pre><hr>end"
    )

    assert html_to_text(html) == (
        "Hello\nworld\n\nPara with a link <https://example.com/x> and "
        "https://example.com/same.\n\na b\nc\n- one\n- two\n\n> quoted\n>\n>> deeper\n\n"
        "  keep   spacing\n  here\n\n---\n\nend"
    )


def test_html_to_text_drops_what_is_not_for_reading() -> None:
    html = (
        "<head><title>Title</title><style>p{}</style></head><script>var a</script>"
        "<svg><text>svg text</text></svg><template>tpl</template><select><option>o</select>"
        "visible &amp; decoded&nbsp;text <img alt='[logo]' src=x> <a href='javascript:x'>js</a>"
    )

    assert html_to_text(html) == "visible & decoded text [logo] js"


def test_html_to_text_survives_unclosed_and_huge_input() -> None:
    assert html_to_text("<div>" * 300_000 + "tail") == "tail"
    assert html_to_text("<script>never closed") == ""
    assert html_to_text("a <b") == "a"


@pytest.mark.parametrize(
    ("text", "delsp", "expected"),
    [
        ("a \nb\n", False, "a b\n"),
        ("a \nb\n", True, "ab\n"),
        ("no flow\nat all", False, "no flow\nat all"),
        ("> q1 \n> q2\n>> d2\n", False, "> q1 q2\n>> d2\n"),
        ("flowed \n> then quote\n", False, "flowed \n> then quote\n"),
        (" stuffed\n From me\n", False, "stuffed\nFrom me\n"),
        ("-- \nsig\n", False, "-- \nsig\n"),
        ("last line flowed ", False, "last line flowed "),
        ("", False, ""),
    ],
)
def test_unflow(text: str, delsp: bool, expected: str) -> None:
    assert unflow(text, delsp=delsp) == expected
