"""Turn bytes in a declared, and often wrong, charset into text without ever raising.

Order of trust: the declared charset, then UTF-8, then Windows-1252 with replacement characters.
Labels are mapped the way browsers map them (WHATWG Encoding), so ``iso-8859-1`` decodes as
Windows-1252 and ``gb2312`` as GB18030, both supersets that mailers really mean.
"""

from __future__ import annotations

import codecs
import re

_LABEL_RE = re.compile(r"[A-Za-z0-9._:()+-]{1,64}")

# Labels mailers use for a superset, or that Python does not know under this name.
_ALIASES = {
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "iso_8859-1": "cp1252",
    "l1": "cp1252",
    "us-ascii": "ascii",
    "ansi_x3.4-1968": "ascii",
    "iso-8859-9": "cp1254",
    "iso-8859-11": "cp874",
    "tis-620": "cp874",
    "windows-874": "cp874",
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-8-e": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "iso-8859-6-e": "iso-8859-6",
    "gb2312": "gb18030",
    "gb_2312-80": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "big5": "big5hkscs",
    "x-x-big5": "big5hkscs",
    "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ms_kanji": "cp932",
    "windows-31j": "cp932",
    "x-mac-roman": "mac-roman",
    "macintosh": "mac-roman",
    "unicode-1-1-utf-8": "utf-8",
    "x-unicode20utf8": "utf-8",
}

# Labels that mean "no idea".
_UNKNOWN = frozenset({"unknown-8bit", "x-unknown", "unknown", "default", "charset", "8bit", "none"})

# Python codecs that are not mail charsets: they would turn escapes in the data into characters.
_REFUSED = frozenset(
    {"unicode-escape", "raw-unicode-escape", "idna", "punycode", "undefined", "charmap"}
)

# Single-byte charsets often declared for text that is really UTF-8.
_LATIN_LIKE = frozenset({"ascii", "cp1252", "iso8859-15", "latin-1", "iso8859-1"})

# Where pure 7-bit data means the same as ASCII (not so for UTF-7, ISO-2022-JP, HZ or UTF-16).
_ASCII_SAFE = _LATIN_LIKE | {"utf-8"}


def resolve_charset(label: str | None) -> str | None:
    """Python codec name for a MIME charset label, or None when unknown or unusable."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    if not _LABEL_RE.fullmatch(label) or label in _UNKNOWN:
        return None
    label = _ALIASES.get(label, label)
    try:
        name = codecs.lookup(label).name
        b"A".decode(name, errors="ignore")  # LookupError for bytes-to-bytes codecs (base64)
    except (LookupError, UnicodeError, ValueError, TypeError):
        return None
    return None if name in _REFUSED else name


def _try_decode(data: bytes, codec: str, *, final: bool) -> str | None:
    try:
        decoder = codecs.getincrementaldecoder(codec)(errors="strict")
        return str(decoder.decode(data, final=final))
    except (UnicodeError, LookupError, TypeError, ValueError):
        # TypeError/LookupError: a bytes-to-bytes codec such as base64 slipped through.
        return None


def _decode_replacing(data: bytes, codec: str, *, final: bool) -> str | None:
    try:
        decoder = codecs.getincrementaldecoder(codec)(errors="replace")
        return str(decoder.decode(data, final=final))
    except (UnicodeError, LookupError, TypeError, ValueError):
        return None


def _cp1252_bytes(error: UnicodeError) -> tuple[str, int]:
    """Codec error handler: decode the offending bytes as Windows-1252 and carry on."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    bad = error.object[error.start : error.end]
    return bytes(bad).decode("cp1252", errors="replace"), error.end


_UTF8_OR_CP1252 = "webmail-mime-cp1252"
codecs.register_error(_UTF8_OR_CP1252, _cp1252_bytes)


_MAX_FALLBACK_ERRORS = 64


def _utf8_with_fallback(data: bytes, *, final: bool) -> str:
    """UTF-8, with each byte that is not valid UTF-8 read as Windows-1252: right for Latin-1
    text and for UTF-8 with a stray Latin-1 byte alike. Data with many invalid bytes is
    legacy 8-bit text and decoded as Windows-1252 outright (the per-byte error handler runs
    in Python and would cost a call per byte)."""
    strict = _try_decode(data, "utf-8", final=final)
    if strict is not None:
        return strict
    replaced = codecs.getincrementaldecoder("utf-8")(errors="replace").decode(data, final=final)
    if replaced.count("\ufffd") - data.count("\ufffd".encode()) > _MAX_FALLBACK_ERRORS:
        return data.decode("cp1252", errors="replace")
    decoder = codecs.getincrementaldecoder("utf-8")(errors=_UTF8_OR_CP1252)
    return str(decoder.decode(data, final=final))


def decode_bytes(data: bytes, declared: str | None = None, *, limit: int | None = None) -> str:
    """Decode ``data``, trying ``declared`` first; never raises.

    With ``limit``, only the first ``limit`` bytes are decoded, and a multi-byte character cut at
    the end is dropped rather than turned into mojibake or a failed strict decode.
    """
    final = True
    if limit is not None and len(data) > limit:
        data = data[:limit]
        final = False
    codec = resolve_charset(declared)
    if data.isascii() and (codec is None or codec in _ASCII_SAFE):
        return data.decode("ascii")
    if codec in _LATIN_LIKE:
        # Text labelled Latin-1 that is valid UTF-8 is UTF-8: genuine Latin-1 prose almost never
        # forms valid multi-byte UTF-8 sequences by chance.
        text = _try_decode(data, "utf-8", final=final)
        return text if text is not None else data.decode("cp1252", errors="replace")
    if codec is not None and codec not in ("ascii", "utf-8"):
        text = _try_decode(data, codec, final=final)
        if text is None:
            text = _try_decode(data, "utf-8", final=final)
        if text is None:
            text = _decode_replacing(data, codec, final=final)
        if text is not None:
            return text
    return _utf8_with_fallback(data, final=final)


def decode_header_bytes(data: bytes, hint: str | None = None) -> str:
    """Decode a raw header value: RFC 6532 UTF-8, else the part's charset, else Windows-1252."""
    if data.isascii():
        return data.decode("ascii")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    codec = resolve_charset(hint)
    if codec is not None and codec not in ("ascii", "utf-8"):
        text = _try_decode(data, codec, final=True)
        if text is not None:
            return text
    return _utf8_with_fallback(data, final=True)


_SURROGATES_RE = re.compile("[\udc80-\udcff]+")


def fix_surrogates(text: str) -> str:
    """Re-decode bytes that the stdlib smuggled through as surrogate escapes."""
    if not _SURROGATES_RE.search(text):
        return text

    def redecode(match: re.Match[str]) -> str:
        raw = bytes(ord(ch) - 0xDC00 for ch in match.group())
        return decode_bytes(raw, None)

    text = _SURROGATES_RE.sub(redecode, text)
    # Any surrogate left (outside the escape range) cannot be stored or encoded: replace it.
    return text.encode("utf-8", errors="replace").decode("utf-8")
