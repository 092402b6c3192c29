"""The mailbox page: accounts and their folders with unread counts. Until the user adds an
upstream account it explains how to."""

from __future__ import annotations

from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from accounts.models import MailAccount
from webmail.models import Folder
from webmail.sync.folders import sync_order


def home(request: HttpRequest) -> HttpResponse:
    return redirect("mailbox")


def mailbox(request: HttpRequest) -> HttpResponse:
    accounts = list(
        MailAccount.objects.filter(owner_id=request.user.pk)
        .order_by("pk")
        .prefetch_related(Prefetch("folders", queryset=Folder.objects.filter(selectable=True)))
    )
    trees = [(account, sorted(account.folders.all(), key=sync_order)) for account in accounts]
    return render(request, "webmail/mailbox.html", {"accounts": accounts, "trees": trees})
