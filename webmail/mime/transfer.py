"""Content-Transfer-Encoding decoders that accept what real mailers produce and never raise."""

from __future__ import annotations

import binascii
import re

_B64_JUNK_RE = re.compile(rb"[^A-Za-z0-9+/=]+")
_B64_PADDING_RE = re.compile(rb"=+")
_MAX_B64_CHUNKS = 10_000


def _b64_chunk(chunk: bytes) -> bytes:
    usable = len(chunk) - len(chunk) % 4
    tail = chunk[usable:]
    if len(tail) == 1:  # a lone sextet carries no whole byte
        tail = b""
    elif tail:
        tail += b"=" * (4 - len(tail))
    try:
        return binascii.a2b_base64(chunk[:usable] + tail)
    except binascii.Error:  # pragma: no cover - the input is cleaned and padded above
        return b""


def decode_base64(data: bytes) -> bytes:
    """Decode base64, skipping characters outside the alphabet and repairing bad padding.

    Some mailers concatenate separately padded chunks (``QQ==QUI=``); binascii stops at the first
    padding, so each chunk is decoded on its own.
    """
    cleaned = _B64_JUNK_RE.sub(b"", data)
    stripped = cleaned.rstrip(b"=")
    if b"=" not in stripped:
        return _b64_chunk(stripped)
    chunks = _B64_PADDING_RE.split(stripped)
    if len(chunks) > _MAX_B64_CHUNKS:  # hostile: give up on chunk alignment, stay linear
        return _b64_chunk(stripped.replace(b"=", b""))
    return b"".join(_b64_chunk(chunk) for chunk in chunks)


_UU_BEGIN_RE = re.compile(rb"^begin(?:-base64)? [0-7]{3,4} [^\r\n]*\r?$", re.MULTILINE)


def decode_uuencode(data: bytes) -> bytes:
    """Decode an x-uuencode body; lines that do not decode are skipped."""
    begin = _UU_BEGIN_RE.search(data)
    lines = data[begin.end() :].splitlines() if begin else data.splitlines()
    out = bytearray()
    for line in lines:
        stripped = line.rstrip(b"\r")
        if stripped.strip() in (b"end", b"`", b""):
            if stripped.strip() == b"end":
                break
            continue
        try:
            out.extend(binascii.a2b_uu(stripped))
        except binascii.Error:
            # Some encoders pad short lines badly; binascii's own workaround: trust the count.
            count = (((stripped[0] - 32) & 63) * 4 + 5) // 3 if stripped else 0
            try:
                out.extend(binascii.a2b_uu(stripped[:count]))
            except binascii.Error:
                continue
    return bytes(out)


def decode_transfer(data: bytes, encoding: str) -> bytes:
    """Undo a Content-Transfer-Encoding; unknown encodings pass the bytes through."""
    encoding = encoding.strip().lower()
    if encoding == "base64":
        return decode_base64(data)
    if encoding == "quoted-printable":
        return binascii.a2b_qp(data)
    if encoding in ("x-uuencode", "uuencode", "x-uue", "uue"):
        return decode_uuencode(data)
    return data
