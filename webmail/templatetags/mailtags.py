"""Template helpers for the mailbox: dates in the user's zone and calendar, sizes, digits."""

from __future__ import annotations

from datetime import datetime

import jdatetime  # type: ignore[import-untyped]
from django import template
from django.utils import timezone, translation
from django.utils.dateformat import format as date_format
from django.utils.translation import gettext as _

register = template.Library()
PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


def localise_digits(text: str) -> str:
    return text.translate(PERSIAN_DIGITS) if translation.get_language() == "fa" else text


@register.simple_tag(takes_context=True)
def maildate(context: template.Context, value: datetime | None, full: bool = False) -> str:  # noqa: FBT001, FBT002 - template tags take positional args
    """Time for today's mail, the date otherwise (the user's zone, calendar and format)."""
    if value is None:
        return ""
    prefs = context.get("prefs")
    local = timezone.localtime(value)
    today = timezone.localtime().date()
    jalali = prefs is not None and prefs.calendar == "jalali"
    fmt = prefs.date_format if prefs is not None else "Y-m-d"
    if local.date() == today and not full:
        text = local.strftime("%H:%M")
    elif jalali:
        j = jdatetime.datetime.fromgregorian(datetime=local)
        text = j.strftime("%Y/%m/%d")
        if full:
            text += local.strftime(" %H:%M")
    else:
        text = date_format(local, fmt + (" H:i" if full else ""))
    return localise_digits(text)


@register.filter
def filesize(size: int | None) -> str:
    size = int(size or 0)
    if size < 1024:
        text = _("%(n)d B") % {"n": size}
    elif size < 1024 * 1024:
        text = _("%(n).0f KB") % {"n": size / 1024}
    else:
        text = _("%(n).1f MB") % {"n": size / (1024 * 1024)}
    return localise_digits(text)


@register.filter
def isoformat(value: datetime | None) -> str:
    """ISO 8601, as `|date:'c'` gives it, at a fraction of its cost (50 per list page)."""
    return value.isoformat() if value is not None else ""


@register.filter
def digits(value: object) -> str:
    return localise_digits(str(value))


@register.filter
def addresses(value: list[list[str]] | None) -> str:
    parts = []
    for name, email in value or []:
        parts.append(f"{name} <{email}>" if name else email)
    return ", ".join(parts)
