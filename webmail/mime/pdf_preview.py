"""PDF attachments as PNG page images, rendered by PDFium (pypdfium2), never by the browser.

Chromium shows no PDF inside a sandboxed frame, and a PDF viewer on our origin would be a
liability, so the server rasterises pages. PDFium is C++ fed with hostile input: the web tier
calls ``render_pages_isolated``, which runs this file as a child process under resource limits
(address space, CPU seconds, a wall clock) so a malicious or huge PDF costs at most one killed
child. ``render_page``/``render_pages`` render in-process, for that child and for tests. The
child runs this file as a script (``python -I``), so it imports only the standard library and
pypdfium2.

Pages are numbered from 1, as people count them. Output is bounded: ``MAX_WIDTH`` by
``MAX_HEIGHT`` pixels at most (huge pages are scaled down, tiny ones up to the width).
"""

from __future__ import annotations

import json
import math
import struct
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

MAX_WIDTH = 1200  # pixels
MAX_HEIGHT = 4000  # pixels: a page a metre long still makes a bounded image
MAX_PAGES = 50  # pages offered for preview; the rest only by downloading

# Why a PDF cannot be previewed.
ENCRYPTED = "encrypted"  # needs a password (or an unsupported security handler)
DAMAGED = "damaged"  # not a PDF, or broken beyond what PDFium repairs
TOO_COSTLY = "too_costly"  # hit the memory, CPU or time limit
NO_SUCH_PAGE = "no_such_page"
FAILED = "failed"  # the renderer crashed or answered nonsense


class PdfPreviewError(Exception):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class RenderedPage:
    page: int
    png: bytes
    width: int
    height: int


@dataclass(slots=True)
class Rendering:
    page_count: int
    # Size in PDF points of each of the first MAX_PAGES pages, to lay out placeholders.
    sizes: list[tuple[float, float]] = field(default_factory=list)
    pages: dict[int, RenderedPage] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Limits:
    memory_bytes: int = 1 << 30
    cpu_seconds: int = 20
    wall_seconds: float = 30.0
    # Further pages are rendered only while the child has used less than this.
    budget_seconds: float = 3.0


def pixel_size(width_pt: float, height_pt: float, max_width: int = MAX_WIDTH) -> tuple[int, int]:
    """The image size of a page: ``max_width`` wide, unless that makes it too tall."""
    scale = _scale(width_pt, height_pt, max_width)
    return max(1, math.ceil(width_pt * scale)), max(1, math.ceil(height_pt * scale))


def _scale(width_pt: float, height_pt: float, max_width: int) -> float:
    if not (width_pt > 0 and height_pt > 0):
        raise PdfPreviewError(DAMAGED, "a page has no size")
    max_width = max(1, min(max_width, MAX_WIDTH))
    # A hair under the exact ratio so rounding never adds a pixel past the cap.
    return min(max_width / width_pt, MAX_HEIGHT / height_pt) * (1 - 1e-9)


def render_page(pdf: bytes, page: int, max_width: int = MAX_WIDTH) -> tuple[RenderedPage, int]:
    """Page ``page`` of ``pdf`` as PNG, and the document's page count. In-process: only for
    trusted input or inside the limited child (see ``render_page_isolated``)."""
    rendering = render_pages(pdf, [page], max_width)
    return rendering.pages[page], rendering.page_count


def render_pages(
    pdf: bytes, pages: list[int], max_width: int = MAX_WIDTH, budget_seconds: float | None = None
) -> Rendering:
    """The first of ``pages`` always; the others while under ``budget_seconds`` of CPU."""
    import pypdfium2 as pdfium  # loaded only where PDFs are rendered

    started = time.process_time()
    try:
        document = pdfium.PdfDocument(pdf)
    except pdfium.PdfiumError as exc:
        code = getattr(exc, "err_code", None)
        if code in (pdfium.raw.FPDF_ERR_PASSWORD, pdfium.raw.FPDF_ERR_SECURITY):
            raise PdfPreviewError(ENCRYPTED, str(exc)) from exc
        raise PdfPreviewError(DAMAGED, str(exc)) from exc
    try:
        count = len(document)
        if count < 1:
            raise PdfPreviewError(DAMAGED, "no pages")
        rendering = Rendering(
            page_count=count,
            sizes=[document.get_page_size(i) for i in range(min(count, MAX_PAGES))],
        )
        for number in pages:
            if not 1 <= number <= count:
                if not rendering.pages and number == pages[0]:
                    raise PdfPreviewError(NO_SUCH_PAGE, str(number))
                continue
            if (
                rendering.pages
                and budget_seconds is not None
                and time.process_time() - started > budget_seconds
            ):
                break
            rendering.pages[number] = _render(document[number - 1], number, max_width)
        return rendering
    finally:
        document.close()


def _render(page: Any, number: int, max_width: int) -> RenderedPage:
    width_pt, height_pt = page.get_size()
    bitmap = page.render(
        scale=_scale(width_pt, height_pt, max_width),
        rev_byteorder=True,  # RGB, as PNG wants it
        fill_color=(255, 255, 255, 255),
        may_draw_forms=False,
    )
    try:
        if bitmap.n_channels != 3 or bitmap.width > MAX_WIDTH or bitmap.height > MAX_HEIGHT:
            raise PdfPreviewError(FAILED, "unexpected bitmap")
        png = encode_png(
            memoryview(bitmap.buffer).cast("B"), bitmap.width, bitmap.height, bitmap.stride
        )
        return RenderedPage(page=number, png=png, width=bitmap.width, height=bitmap.height)
    finally:
        bitmap.close()
        page.close()


def encode_png(rgb: memoryview | bytes, width: int, height: int, stride: int) -> bytes:
    """8-bit RGB rows (``stride`` bytes apart) as a PNG, with the standard library only."""
    row = width * 3
    compressor = zlib.compressobj(6)
    chunks = []
    for y in range(height):
        start = y * stride
        chunks.append(compressor.compress(b"\x00" + bytes(rgb[start : start + row])))
    chunks.append(compressor.flush())

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", b"".join(chunks))
        + chunk(b"IEND", b"")
    )


def render_page_isolated(
    pdf: bytes, page: int, max_width: int = MAX_WIDTH, limits: Limits | None = None
) -> tuple[RenderedPage, int]:
    rendering = render_pages_isolated(pdf, [page], max_width, limits)
    return rendering.pages[page], rendering.page_count


def render_pages_isolated(
    pdf: bytes, pages: list[int], max_width: int = MAX_WIDTH, limits: Limits | None = None
) -> Rendering:
    """``render_pages`` in a child process under ``limits``; raises PdfPreviewError for
    anything that went wrong, including the child being killed."""
    limits = limits or Limits()
    argv = [
        sys.executable,
        "-I",  # no environment variables, user site or current directory on the path
        __file__,
        str(max_width),
        ",".join(str(p) for p in pages),
        str(limits.memory_bytes),
        str(limits.cpu_seconds),
        str(limits.budget_seconds),
    ]
    try:
        done = subprocess.run(  # noqa: S603 - our own interpreter and file, no shell
            argv,
            input=pdf,
            capture_output=True,
            timeout=limits.wall_seconds,
            env={"LC_ALL": "C.UTF-8"},
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise PdfPreviewError(TOO_COSTLY, "took too long") from exc
    if done.returncode != 0:
        # Killed by a signal: SIGXCPU past the CPU limit, or PDFium aborting when an
        # allocation fails under the address-space limit. MemoryError is the same in Python.
        costly = done.returncode < 0 or b"MemoryError" in done.stderr
        raise PdfPreviewError(
            TOO_COSTLY if costly else FAILED,
            f"renderer exited {done.returncode}: {done.stderr[-300:].decode(errors='replace')}",
        )
    return _decode_output(done.stdout)


def _decode_output(output: bytes) -> Rendering:
    head, sep, rest = output.partition(b"\n")
    try:
        meta = json.loads(head)
        if meta.get("error"):
            raise PdfPreviewError(str(meta["error"]), str(meta.get("detail", "")))
        rendering = Rendering(
            page_count=int(meta["page_count"]),
            sizes=[(float(w), float(h)) for w, h in meta["sizes"]],
        )
        offset = 0
        for item in meta["pages"]:
            length = int(item["length"])
            png = rest[offset : offset + length]
            offset += length
            if len(png) != length:
                raise ValueError("short output")
            number = int(item["page"])
            rendering.pages[number] = RenderedPage(
                page=number, png=png, width=int(item["width"]), height=int(item["height"])
            )
    except (ValueError, KeyError, TypeError) as exc:
        raise PdfPreviewError(FAILED, f"unreadable renderer output: {exc}") from exc
    if not sep or not rendering.pages:
        raise PdfPreviewError(FAILED, "renderer gave no page")
    return rendering


def _child(argv: list[str]) -> int:
    """Run as a script: limits first, then read the PDF from stdin and write a JSON line
    followed by the PNGs to stdout."""
    import resource  # POSIX only, and only the child needs it

    def limit(kind: int, soft: int, hard: int) -> None:
        # Never above a lower limit the process already has (raising one would fail).
        _, current = resource.getrlimit(kind)
        if current != resource.RLIM_INFINITY:
            soft, hard = min(soft, current), min(hard, current)
        resource.setrlimit(kind, (soft, hard))

    max_width, pages_arg, memory, cpu, budget = argv
    limit(resource.RLIMIT_AS, int(memory), int(memory))
    limit(resource.RLIMIT_CPU, int(cpu), int(cpu) + 1)
    limit(resource.RLIMIT_FSIZE, 0, 0)  # it writes no files
    limit(resource.RLIMIT_CORE, 0, 0)
    pdf = sys.stdin.buffer.read()
    out = sys.stdout.buffer
    try:
        rendering = render_pages(
            pdf, [int(p) for p in pages_arg.split(",")], int(max_width), float(budget)
        )
    except PdfPreviewError as exc:
        out.write(json.dumps({"error": exc.reason, "detail": exc.detail}).encode() + b"\n")
        return 0
    rendered = list(rendering.pages.values())
    meta = {
        "page_count": rendering.page_count,
        "sizes": rendering.sizes,
        "pages": [
            {"page": p.page, "width": p.width, "height": p.height, "length": len(p.png)}
            for p in rendered
        ],
    }
    out.write(json.dumps(meta).encode() + b"\n")
    for page in rendered:
        out.write(page.png)
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
