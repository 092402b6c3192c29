"""Page images of PDF attachments, cached on disk.

Rendering happens in a limited child process (webmail.mime.pdf_preview). Rendered pages and
what is known of the document (page count, page sizes, or why it cannot be shown) are kept in
``DATA_DIR/previews``, least recently used evicted past ``CACHE_MAX_BYTES``, so paging
through a document renders each page once and never needs the message body again. File locks
keep one render per document at a time (a browser asks for several pages at once) and at most
``RENDER_SLOTS`` renders per data folder, whatever the number of web processes.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from webmail.mime import pdf_preview
from webmail.mime.parse import Attachment
from webmail.models import Message

logger = logging.getLogger(__name__)

CACHE_MAX_BYTES = 256 * 1024 * 1024
RENDER_SLOTS = 2  # concurrent renders; each may use up to 1 GB
LOCK_STRIPES = 64
FIRST_BUDGET = 0.5  # CPU seconds: the preview page waits for page 1, and a little more
PREFETCH = 3  # pages rendered after the one asked for, while within the child's budget
VERSION = 1  # bump when the rendering changes, so old images are not served

PDF_TYPES = {"application/pdf", "application/x-pdf", "application/acrobat"}


class PreviewBusy(Exception):
    """Every render slot stayed taken; the caller may try again shortly."""


@dataclass(frozen=True, slots=True)
class PdfInfo:
    page_count: int
    sizes: list[tuple[int, int]]  # pixel size of each page offered (at most MAX_PAGES)
    error: str | None = None  # a pdf_preview reason when the PDF cannot be shown


def is_pdf(part: Attachment) -> bool:
    """A PDF by its type, or by its name when the sender said only "some bytes"."""
    return part.content_type in PDF_TYPES or (
        part.content_type == "application/octet-stream" and part.filename.lower().endswith(".pdf")
    )


def cache_dir() -> Path:
    path = Path(settings.DATA_DIR) / "previews"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _key(message: Message, part_id: str) -> str:
    ident = f"{VERSION}:{message.pk}:{message.folder_id}:{message.uid}:{part_id}"
    return hashlib.sha256(ident.encode()).hexdigest()[:40]


def pdf_info(message: Message, part_id: str, load: Callable[[], bytes | None]) -> PdfInfo | None:
    """What the preview page needs; renders the first page(s) on first sight. None when the
    PDF is needed but ``load`` has no bytes (the body is not cached)."""
    key = _key(message, part_id)
    info = _read_info(key)
    if info is not None:
        return info
    with _document_lock(key):
        info = _read_info(key)
        if info is None:
            pdf = load()
            if pdf is None:
                return None
            info = _render(key, pdf, 1, FIRST_BUDGET)
    return info


def pdf_page(
    message: Message, part_id: str, page: int, load: Callable[[], bytes | None]
) -> bytes | None:
    """PNG of ``page`` (from 1); None if there is no such page or no bytes to render.
    Raises PreviewBusy."""
    key = _key(message, part_id)
    png = _read_page(key, page)
    if png is not None:
        return png
    info = _read_info(key)
    if info is not None and (info.error or page > len(info.sizes)):
        return None
    with _document_lock(key):
        png = _read_page(key, page)
        if png is None:
            pdf = load()
            if pdf is None:
                return None
            info = _render(key, pdf, page, pdf_preview.Limits().budget_seconds)
            png = _read_page(key, page) if info.error is None else None
    return png


def _render(key: str, pdf: bytes, first: int, budget: float) -> PdfInfo:
    last = min(first + PREFETCH, pdf_preview.MAX_PAGES)
    limits = pdf_preview.Limits(budget_seconds=budget)
    with _render_slot():
        try:
            rendering = pdf_preview.render_pages_isolated(
                pdf, list(range(first, last + 1)), pdf_preview.MAX_WIDTH, limits
            )
        except pdf_preview.PdfPreviewError as exc:
            if exc.reason == pdf_preview.NO_SUCH_PAGE:
                return _read_info(key) or PdfInfo(0, [], exc.reason)
            logger.info("PDF preview %s: %s", key, exc)
            info = PdfInfo(0, [], exc.reason)
            _write(key, "info.json", json.dumps({"error": exc.reason}).encode())
            return info
    for number, rendered in rendering.pages.items():
        _write(key, f"{number}.png", rendered.png)
    sizes = [pdf_preview.pixel_size(w, h) for w, h in rendering.sizes]
    info = PdfInfo(rendering.page_count, sizes)
    _write(key, "info.json", json.dumps({"page_count": info.page_count, "sizes": sizes}).encode())
    _evict(CACHE_MAX_BYTES)
    return info


def _read_info(key: str) -> PdfInfo | None:
    raw = _read(key, "info.json")
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        if data.get("error"):
            return PdfInfo(0, [], str(data["error"]))
        return PdfInfo(int(data["page_count"]), [(int(w), int(h)) for w, h in data["sizes"]])
    except (ValueError, KeyError, TypeError):
        return None


def _read_page(key: str, page: int) -> bytes | None:
    return _read(key, f"{page}.png")


def _read(key: str, name: str) -> bytes | None:
    path = cache_dir() / f"{key}-{name}"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # recently used: evicted last
    return data


def _write(key: str, name: str, data: bytes) -> None:
    path = cache_dir() / f"{key}-{name}"
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    temporary.replace(path)


def _evict(max_bytes: int) -> int:
    """Drop least recently used files until the cache holds at most ``max_bytes``."""
    entries = []
    total = 0
    for entry in os.scandir(cache_dir()):
        if entry.is_file() and not entry.name.endswith(".lock"):
            stat = entry.stat()
            entries.append((stat.st_mtime, stat.st_size, entry.path))
            total += stat.st_size
    dropped = 0
    for _, size, path in sorted(entries):
        if total <= max_bytes:
            break
        with contextlib.suppress(FileNotFoundError):
            Path(path).unlink()
        total -= size
        dropped += 1
    return dropped


@contextlib.contextmanager
def _document_lock(key: str) -> Iterator[None]:
    stripe = int(key[:8], 16) % LOCK_STRIPES
    with _flock(cache_dir() / f"document-{stripe}.lock", pdf_preview.Limits().wall_seconds * 2):
        yield


@contextlib.contextmanager
def _render_slot() -> Iterator[None]:
    deadline = time.monotonic() + pdf_preview.Limits().wall_seconds
    while True:
        for slot in range(RENDER_SLOTS):
            fd = _try_lock(cache_dir() / f"slot-{slot}.lock")
            if fd is not None:
                try:
                    yield
                finally:
                    os.close(fd)  # closing releases the lock
                return
        if time.monotonic() > deadline:
            raise PreviewBusy
        time.sleep(0.05)


@contextlib.contextmanager
def _flock(path: Path, wait: float) -> Iterator[None]:
    """An exclusive lock on ``path`` across processes and threads; PreviewBusy after
    ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while (fd := _try_lock(path)) is None:
        if time.monotonic() > deadline:
            raise PreviewBusy
        time.sleep(0.05)
    try:
        yield
    finally:
        os.close(fd)


def _try_lock(path: Path) -> int | None:
    """A file descriptor holding an exclusive flock on ``path``, or None if it is taken.
    Each call opens its own descriptor, so threads of one process exclude each other too."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd
