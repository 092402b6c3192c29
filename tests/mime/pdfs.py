"""Small real PDFs built byte by byte, for the preview tests: pages with coloured
rectangles (so a test can check pixels), a password-protected one and broken ones."""

from __future__ import annotations

import struct
import zlib


def build_pdf(objects: list[bytes], trailer_extra: bytes = b"") -> bytes:
    """A PDF whose object n (from 1) is ``objects[n - 1]``, with a correct xref table.
    Object 1 must be the catalog."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R %s>>\n" % (len(objects) + 1, trailer_extra)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def rectangles_pdf(
    pages: list[tuple[float, float, tuple[float, float, float]]],
) -> bytes:
    """One page per (width, height, rgb colour): the page's lower-left quarter filled."""
    count = len(pages)
    kids = b" ".join(b"%d 0 R" % (3 + 2 * i) for i in range(count))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [" + kids]
    objects[1] += b"] /Count %d >>" % count
    for i, (width, height, (r, g, b)) in enumerate(pages):
        content = b"%.3f %.3f %.3f rg 0 0 %.2f %.2f re f" % (r, g, b, width / 2, height / 2)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.2f %.2f] /Contents %d 0 R >>"
            % (width, height, 4 + 2 * i)
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    return build_pdf(objects)


def encrypted_pdf() -> bytes:
    """Standard security handler (RC4, revision 2) whose user password is not empty: the
    O and U entries match no password a reader tries by itself."""
    encrypt = (
        b"<< /Filter /Standard /V 1 /R 2 /Length 40 /P -44 "
        b"/O <" + (b"ab" * 32) + b"> /U <" + (b"cd" * 32) + b"> >>"
    )
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
        encrypt,
    ]
    ident = b"<" + b"0123456789abcdef" * 2 + b">"
    return build_pdf(objects, b"/Encrypt 4 0 R /ID [%s %s] " % (ident, ident))


def decode_png(png: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and RGB rows of a PNG as written by ``encode_png`` (filter 0 only)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, data = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + data)
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", data[:10])
            assert (depth, colour) == (8, 2)
        elif kind == b"IDAT":
            idat += data
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * 3 + 1
    rows = [raw[y * stride + 1 : (y + 1) * stride] for y in range(height)]
    assert all(raw[y * stride] == 0 for y in range(height))
    return width, height, rows


def pixel(rows: list[bytes], x: int, y: int) -> tuple[int, int, int]:
    r, g, b = rows[y][x * 3 : x * 3 + 3]
    return r, g, b
