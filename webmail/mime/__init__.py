"""Bytes in, safe content out: MIME parsing and HTML cleaning, with no Django.

The worker, the push process and the web tier share this code, and it is tested on bytes alone.
``parse_message`` never raises and is bounded in time and memory on hostile mail; ``clean_html``
output is safe to render in a sandboxed frame.

- parse.py: ``parse_message``, ``attachment_payload``; chooses the body parts.
- structure.py: the MIME tree with byte offsets (depth and part-count caps).
- headers.py, charsets.py, transfer.py, flowed.py: header fields, charsets, transfer encodings,
  format=flowed.
- sanitize.py: ``clean_html`` (tidy.py, then bleach with allowlist.py and css.py) and
  ``text_to_html``; htmlscan.py and htmltext.py tokenize HTML and render it as text.
- pdf_preview.py: PDF pages as PNG images (PDFium), in a child process under resource limits.
"""

from __future__ import annotations

from webmail.mime.parse import Attachment, ParsedMessage, attachment_payload, parse_message
from webmail.mime.sanitize import clean_html, text_to_html

__all__ = [
    "Attachment",
    "ParsedMessage",
    "attachment_payload",
    "clean_html",
    "parse_message",
    "text_to_html",
]
