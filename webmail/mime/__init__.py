"""Bytes in, safe content out: MIME parsing (``parse``) and HTML cleaning (``sanitize``).

Pure code: no Django, so the worker, the push process and the web tier share it and it is tested
on bytes alone. ``parse_message`` never raises; ``clean_html`` output is safe to render.
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
