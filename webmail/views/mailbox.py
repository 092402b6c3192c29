"""The mailbox page. Until the user adds an upstream account it explains how to."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render


def home(request: HttpRequest) -> HttpResponse:
    return redirect("mailbox")


def mailbox(request: HttpRequest) -> HttpResponse:
    return render(request, "webmail/mailbox.html", {"accounts": []})


def mail_accounts(request: HttpRequest) -> HttpResponse:
    return render(request, "webmail/mail_accounts.html", {"accounts": []})
