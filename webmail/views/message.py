"""Reading a message: header block, conversation, attachments; the HTML body is served on
its own URL under a strict CSP and shown in a sandboxed frame without scripts."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from accounts.models import Preferences, TrustedSender, User
from webmail import actions, previews, queries
from webmail.mime import (
    Attachment,
    ParsedMessage,
    attachment_payload,
    parse_message,
    pdf_preview,
)
from webmail.mime.sanitize import clean_html, text_to_html
from webmail.models import Message, MessageBody
from webmail.views.mailbox import _context, _user
from webmail.views.proxy import proxy_url_for

# The frame document: nothing runs, nothing loads but our own images, styles inline only.
BODY_POLICY = (
    "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)
# Never rendered on our origin, whatever the sender claims.
DANGEROUS = re.compile(r"html|svg|xml|javascript|ecmascript|x-msdownload|x-sh|octet-stream")
INLINE_SAFE = {"image/png", "image/jpeg", "image/gif", "image/webp"}
THUMBNAIL_MAX_BYTES = 2 * 1024 * 1024  # larger images are only shown when asked for


def _body(message: Message) -> bytes | None:
    body = MessageBody.objects.filter(message=message).first()
    return bytes(body.raw) if body is not None else None


# Opening a message reads its body three or more times (the reader, the frame, each cid image
# and attachment): the parse is kept per process, keyed by the cached body's row and fetch
# time (a refetched body is a new key), within a byte budget.
_PARSED: OrderedDict[tuple[int, object], tuple[bytes, ParsedMessage]] = OrderedDict()
_PARSED_BUDGET = 64 * 1024 * 1024
_PARSED_MAX_ONE = 8 * 1024 * 1024
_PARSED_LOCK = threading.Lock()


def _parsed(message: Message) -> tuple[bytes, ParsedMessage] | None:
    """The cached body and its parse; None when the body is not cached."""
    row = MessageBody.objects.filter(message=message).values_list("pk", "fetched").first()
    if row is None:
        return None
    key = (row[0], row[1])
    with _PARSED_LOCK:
        hit = _PARSED.get(key)
        if hit is not None:
            _PARSED.move_to_end(key)
            return hit
    raw = _body(message)
    if raw is None:
        return None
    entry = (raw, parse_message(raw))
    if len(raw) <= _PARSED_MAX_ONE:
        with _PARSED_LOCK:
            _PARSED[key] = entry
            while sum(len(r) for r, _p in _PARSED.values()) > _PARSED_BUDGET:
                _PARSED.popitem(last=False)
    return entry


def _remote_allowed(user: User, prefs: Preferences, message: Message) -> bool:
    if prefs.remote_content == Preferences.Remote.ALLOW:
        return True
    return TrustedSender.objects.filter(user=user, email=message.from_email.lower()).exists()


def message_view(request: HttpRequest, message_id: int) -> HttpResponse:
    user = _user(request)
    message = queries.get_message_for_user(user, message_id)
    prefs = queries.get_preferences(user)
    cached = _parsed(message)
    if cached is None:
        actions.do_fetch_body(message)
    parsed = cached[1] if cached is not None else None
    if parsed is not None and not message.seen and prefs.mark_read_after == 0:
        actions.do_set_flags(user, [message.pk], ["\\Seen"], add=True)
    attachments = []
    if parsed is not None:
        for part in parsed.attachments:
            kind = _preview_kind(part)
            url = reverse("attachment", args=[message.pk, part.part_id])
            attachments.append(
                {
                    "part": part,
                    "url": url,
                    "preview": kind,
                    "preview_url": reverse("attachment_preview", args=[message.pk, part.part_id])
                    if kind
                    else None,
                    "thumbnail": kind == "image" and part.size <= THUMBNAIL_MAX_BYTES,
                }
            )
    show_remote = request.GET.get("remote") == "1" or _remote_allowed(user, prefs, message)
    conversation = queries.get_conversation(message) if prefs.conversations else [message]
    reader = {
        "message": message,
        "parsed": parsed,
        "downloading": cached is None,
        "attachments": attachments,
        "has_html": parsed is not None and parsed.html is not None,
        "body_url": reverse("message_body", args=[message.pk])
        + ("?remote=1" if show_remote else ""),
        "show_remote": show_remote,
        "has_remote": parsed is not None and parsed.html is not None and _has_remote(parsed.html),
        "conversation": conversation if len(conversation) > 1 else [],
        "mark_read_after": prefs.mark_read_after,
    }
    if request.GET.get("partial") == "reader":
        return render(request, "webmail/partials/reader.html", {"reader": reader, "prefs": prefs})
    folder = message.folder
    page = queries.list_folder(folder, page=1, sort="date", conversations=False)
    view = {
        "kind": "folder",
        "key": str(folder.pk),
        "title": folder.name,
        "folder": folder,
        "url": reverse("folder", args=[folder.pk]),
        "folder_ids": [folder.pk],
    }
    context = _context(request, user, page, view, {"reader": reader})
    return render(request, "webmail/mailbox.html", context)


def _has_remote(html: str) -> bool:
    return bool(
        re.search(r"""(src|background)\s*=\s*["']?\s*https?:|url\(\s*["']?\s*https?:""", html, re.I)
    )


def message_body(request: HttpRequest, message_id: int) -> HttpResponse:
    """The sanitised body as its own document, for <iframe sandbox> (no scripts, no
    same-origin)."""
    user = _user(request)
    message = queries.get_message_for_user(user, message_id)
    cached = _parsed(message)
    if cached is None:
        raise Http404
    parsed = cached[1]
    cid_urls = {
        part.content_id: reverse("attachment", args=[message.pk, part.part_id])
        for part in parsed.attachments
        if part.content_id
    }
    prefs = queries.get_preferences(user)
    allow_remote = request.GET.get("remote") == "1" or _remote_allowed(user, prefs, message)
    if parsed.html is not None:
        body = clean_html(
            parsed.html,
            cid_urls=cid_urls,
            allow_remote=allow_remote,
            proxy_url=lambda url: proxy_url_for(user.pk, url),
        )
    else:
        body = text_to_html(parsed.text)
    document = (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        '<meta name="color-scheme" content="light">'
        "<style>body{margin:0;padding:8px;font-family:system-ui,sans-serif;"
        "overflow-wrap:anywhere}img{max-width:100%;height:auto}"
        "blockquote{margin:0 0 0 .5em;padding-left:.5em;border-left:2px solid #ccc;color:#555}"
        "</style></head><body>" + body + "</body></html>"
    )
    response = HttpResponse(document, content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = BODY_POLICY
    response["X-Frame-Options"] = "SAMEORIGIN"
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "private, no-store"
    return response


def message_raw(request: HttpRequest, message_id: int) -> HttpResponse:
    """The original source as text, or with ?download=1 as an .eml file."""
    message = queries.get_message_for_user(_user(request), message_id)
    raw = _body(message)
    if raw is None:
        raise Http404
    if request.GET.get("download") == "1":
        response = HttpResponse(raw, content_type="message/rfc822")
        response["Content-Disposition"] = f'attachment; filename="message-{message.pk}.eml"'
    else:
        response = HttpResponse(raw, content_type="text/plain; charset=utf-8")
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def attachment(request: HttpRequest, message_id: int, part_id: str) -> HttpResponse:
    message = queries.get_message_for_user(_user(request), message_id)
    cached = _parsed(message)
    if cached is None:
        raise Http404
    raw, parsed = cached
    part = next((p for p in parsed.attachments if p.part_id == part_id), None)
    payload = attachment_payload(raw, part_id) if part is not None else None
    if part is None or payload is None:
        raise Http404
    inline = (
        (request.GET.get("inline") == "1" or bool(part.content_id))
        and part.content_type in INLINE_SAFE
        and not DANGEROUS.search(part.content_type)
    )
    content_type = part.content_type if inline else "application/octet-stream"
    response = HttpResponse(payload, content_type=content_type)
    disposition = "inline" if inline else "attachment"
    response["Content-Disposition"] = f"{disposition}; filename*=UTF-8''{_quote(part.filename)}"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=3600"
    return response


def _preview_kind(part: Attachment) -> str | None:
    if part.content_type in INLINE_SAFE and not DANGEROUS.search(part.content_type):
        return "image"
    if previews.is_pdf(part):
        return "pdf"
    return None


CANNOT_PREVIEW = {
    pdf_preview.ENCRYPTED: _("it is protected by a password"),
    pdf_preview.DAMAGED: _("it is damaged or not a PDF"),
    pdf_preview.TOO_COSTLY: _("it is too large or too complex to show"),
    pdf_preview.FAILED: _("the previewer failed on it"),
}


def attachment_preview(request: HttpRequest, message_id: int, part_id: str) -> HttpResponse:
    """An image or the pages of a PDF on a page of ours. PDF pages are images we render
    (webmail.previews): no PDF viewer ever runs on our origin."""
    user = _user(request)
    message = queries.get_message_for_user(user, message_id)
    cached = _parsed(message)
    raw = cached[0] if cached is not None else None
    part = None
    if cached is not None:
        part = next((p for p in cached[1].attachments if p.part_id == part_id), None)
        if part is None or _preview_kind(part) is None:
            raise Http404
    else:
        actions.do_fetch_body(message)
    preview: dict[str, object] = {
        "message": message,
        "part": part,
        "kind": _preview_kind(part) if part is not None else None,
        "url": reverse("attachment", args=[message.pk, part_id]),
    }
    if raw is not None and preview["kind"] == "pdf":
        preview.update(_pdf_pages(message, part_id, raw))
    return render(request, "webmail/attachment_preview.html", {"preview": preview})


def _pdf_pages(message: Message, part_id: str, raw: bytes) -> dict[str, object]:
    try:
        info = previews.pdf_info(message, part_id, lambda: attachment_payload(raw, part_id))
    except previews.PreviewBusy:
        return {"busy": True}
    if info is None or info.error:
        reason = info.error if info is not None else None
        return {"error": CANNOT_PREVIEW.get(reason or "", CANNOT_PREVIEW[pdf_preview.FAILED])}
    pages = [
        {
            "number": n,
            "width": w,
            "height": h,
            "url": reverse("attachment_page", args=[message.pk, part_id, n]),
        }
        for n, (w, h) in enumerate(info.sizes, start=1)
    ]
    return {
        "page_count": info.page_count,
        "shown": len(pages),
        "capped": info.page_count > len(pages),
        "pages": pages,
    }


def attachment_page(request: HttpRequest, message_id: int, part_id: str, page: int) -> HttpResponse:
    """One page of a PDF attachment as PNG, rendered in a limited child process."""
    message = queries.get_message_for_user(_user(request), message_id)
    if not 1 <= page <= pdf_preview.MAX_PAGES:
        raise Http404

    def load() -> bytes | None:
        cached = _parsed(message)
        if cached is None:
            return None
        raw, parsed = cached
        part = next((p for p in parsed.attachments if p.part_id == part_id), None)
        if part is None or not previews.is_pdf(part):
            return None
        return attachment_payload(raw, part_id)

    try:
        png = previews.pdf_page(message, part_id, page, load)
    except previews.PreviewBusy:
        response = HttpResponse("busy", content_type="text/plain", status=503)
        response["Retry-After"] = "2"
        return response
    if png is None:
        raise Http404
    response = HttpResponse(png, content_type="image/png")
    response["Content-Disposition"] = f'inline; filename="page-{page}.png"'
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=3600"
    return response


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


@require_POST
def trust_sender(request: HttpRequest, message_id: int) -> HttpResponse:
    user = _user(request)
    message = queries.get_message_for_user(user, message_id)
    if message.from_email:
        TrustedSender.objects.get_or_create(user=user, email=message.from_email.lower())
    return redirect(reverse("message", args=[message.pk]))
