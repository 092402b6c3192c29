"""PDF pages as PNG: real PDFs built in the test, rendered by PDFium in-process and in the
limited child; broken, encrypted and hostile documents give a reason, never a crash."""

from __future__ import annotations

import io
import zlib

import pypdfium2 as pdfium
import pytest

from tests.mime.pdfs import build_pdf, decode_png, encrypted_pdf, pixel, rectangles_pdf
from webmail.mime import pdf_preview
from webmail.mime.pdf_preview import Limits, PdfPreviewError

BLUE, RED, GREEN, WHITE = (0, 0, 255), (255, 0, 0), (0, 255, 0), (255, 255, 255)
LETTER = (612.0, 792.0)


def colour(rgb: tuple[int, int, int]) -> tuple[float, float, float]:
    return rgb[0] / 255, rgb[1] / 255, rgb[2] / 255


def test_a_page_renders_as_a_png_of_the_right_size_and_content() -> None:
    pdf = rectangles_pdf([(*LETTER, colour(BLUE)), (*LETTER, colour(RED))])
    page, count = pdf_preview.render_page(pdf, 2)
    assert count == 2
    width, height, rows = decode_png(page.png)
    assert (width, height) == (page.width, page.height) == (1200, 1553)
    # The lower-left quarter is filled, the rest is the white page.
    assert pixel(rows, 10, height - 10) == RED
    assert pixel(rows, width - 10, 10) == WHITE
    assert pixel(rows, width // 2 + 10, height // 2 - 10) == WHITE


def test_a_narrower_width_is_honoured_and_placeholders_match() -> None:
    pdf = rectangles_pdf([(*LETTER, colour(GREEN))])
    page, _ = pdf_preview.render_page(pdf, 1, max_width=300)
    assert (page.width, page.height) == pdf_preview.pixel_size(*LETTER, 300) == (300, 389)
    assert pdf_preview.pixel_size(*LETTER) == (1200, 1553)


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((14400.0, 14400.0), (1200, 1200)),  # the largest page PDF allows: scaled down
        ((200.0, 14400.0), (56, 4000)),  # a tall strip: bounded by the height cap
        ((14400.0, 10.0), (1200, 1)),  # a long ribbon: at least one pixel high
        ((10.0, 10.0), (1200, 1200)),  # a stamp: up to the width
    ],
)
def test_output_is_bounded_whatever_the_page_size(
    size: tuple[float, float], expected: tuple[int, int]
) -> None:
    page, _ = pdf_preview.render_page(rectangles_pdf([(*size, colour(BLUE))]), 1)
    width, height, _ = decode_png(page.png)
    assert (width, height) == expected == pdf_preview.pixel_size(*size)
    assert width <= pdf_preview.MAX_WIDTH and height <= pdf_preview.MAX_HEIGHT


def test_a_pypdfium2_made_document_renders_too() -> None:
    document = pdfium.PdfDocument.new()
    document.new_page(300, 400)
    document.new_page(400, 300)
    buffer = io.BytesIO()
    document.save(buffer)
    document.close()
    page, count = pdf_preview.render_page(buffer.getvalue(), 2)
    assert count == 2 and (page.width, page.height) == (1200, 900)
    assert pixel(decode_png(page.png)[2], 600, 450) == WHITE


def test_the_isolated_renderer_gives_several_pages_and_all_sizes() -> None:
    sizes = [(*LETTER, colour(BLUE)), (300.0, 300.0, colour(RED)), (*LETTER, colour(GREEN))]
    rendering = pdf_preview.render_pages_isolated(rectangles_pdf(sizes), [2, 3, 4])
    assert rendering.page_count == 3
    assert rendering.sizes == [LETTER, (300.0, 300.0), LETTER]
    assert sorted(rendering.pages) == [2, 3]  # page 4 does not exist: skipped
    width, height, rows = decode_png(rendering.pages[2].png)
    assert (width, height) == (1200, 1200)
    assert pixel(rows, 5, height - 5) == RED
    assert pixel(decode_png(rendering.pages[3].png)[2], 5, 1550) == GREEN


def test_only_the_first_page_when_the_budget_is_spent() -> None:
    pdf = rectangles_pdf([(*LETTER, colour(BLUE))] * 4)
    rendering = pdf_preview.render_pages_isolated(
        pdf, [1, 2, 3, 4], limits=Limits(budget_seconds=0)
    )
    assert sorted(rendering.pages) == [1]
    assert rendering.page_count == 4


def test_the_page_count_and_sizes_stop_at_the_cap() -> None:
    pdf = rectangles_pdf([(100.0, 100.0, colour(BLUE))] * (pdf_preview.MAX_PAGES + 5))
    rendering = pdf_preview.render_pages(pdf, [1])
    assert rendering.page_count == pdf_preview.MAX_PAGES + 5
    assert len(rendering.sizes) == pdf_preview.MAX_PAGES


@pytest.mark.parametrize("isolated", [False, True])
@pytest.mark.parametrize(
    ("pdf", "reason"),
    [
        (b"", pdf_preview.DAMAGED),
        (b"<html><script>alert(1)</script></html>", pdf_preview.DAMAGED),
        (b"%PDF-1.4\n%%EOF\n", pdf_preview.DAMAGED),
        (rectangles_pdf([(*LETTER, (0, 0, 1))])[:60], pdf_preview.DAMAGED),
        (encrypted_pdf(), pdf_preview.ENCRYPTED),
    ],
    ids=["empty", "html", "no-objects", "truncated", "encrypted"],
)
def test_broken_and_encrypted_pdfs_say_why(pdf: bytes, reason: str, isolated: bool) -> None:
    with pytest.raises(PdfPreviewError) as caught:
        if isolated:
            pdf_preview.render_pages_isolated(pdf, [1])
        else:
            pdf_preview.render_page(pdf, 1)
    assert caught.value.reason == reason


def test_a_page_that_is_not_there() -> None:
    pdf = rectangles_pdf([(*LETTER, colour(BLUE))])
    for page in (0, 2, -1):
        with pytest.raises(PdfPreviewError) as caught:
            pdf_preview.render_pages_isolated(pdf, [page])
        assert caught.value.reason == pdf_preview.NO_SUCH_PAGE


def many_paths_pdf(count: int) -> bytes:
    """A 160 kB file whose one page draws millions of paths: gigabytes and seconds to
    render, the PDF form of a zip bomb."""
    content = zlib.compress(b"0 0 1 rg 0 0 1 1 re f\n" * count, 9)
    return build_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 600 600] /Contents 4 0 R >>",
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content)
            + content
            + b"\nendstream",
        ]
    )


@pytest.mark.parametrize(
    "limits",
    [
        Limits(memory_bytes=256 * 1024 * 1024),
        Limits(cpu_seconds=1),
        Limits(wall_seconds=1.0),
    ],
    ids=["memory", "cpu", "wall"],
)
def test_a_hostile_pdf_costs_one_killed_child(limits: Limits) -> None:
    pdf = many_paths_pdf(3_000_000)
    assert len(pdf) < 200_000
    with pytest.raises(PdfPreviewError) as caught:
        pdf_preview.render_pages_isolated(pdf, [1], limits=limits)
    assert caught.value.reason == pdf_preview.TOO_COSTLY
    # The caller is unharmed and renders the next document.
    page, _ = pdf_preview.render_page_isolated(rectangles_pdf([(*LETTER, colour(BLUE))]), 1)
    assert page.width == 1200


def test_encode_png_handles_a_padded_stride() -> None:
    rows = bytes([255, 0, 0, 0, 0, 255, 9, 9]) + bytes([0, 255, 0, 255, 255, 255, 9, 9])
    width, height, decoded = decode_png(pdf_preview.encode_png(rows, 2, 2, stride=8))
    assert (width, height) == (2, 2)
    assert [pixel(decoded, x, y) for y in (0, 1) for x in (0, 1)] == [RED, BLUE, GREEN, WHITE]
