"""Account settings pages: add, edit, test, sync and remove upstream mail accounts."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.mailaccount_forms import MailAccountForm
from accounts.mailaccounts import (
    ConnectionCheckFailed,
    check_connections,
    do_remove_mail_account,
    do_save_mail_account,
    resolve_passwords,
)
from accounts.models import MailAccount, User
from webmail.actions import do_request_sync
from webmail.queries import get_account_for_user


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # noqa: S101 - LoginRequiredMiddleware
    return request.user


def account_list(request: HttpRequest) -> HttpResponse:
    accounts = MailAccount.objects.filter(owner=_user(request)).order_by("pk")
    return render(request, "accounts/mail_accounts.html", {"accounts": accounts})


def _handle_form(
    request: HttpRequest, form: MailAccountForm, account: MailAccount | None
) -> HttpResponse | None:
    """Test or save; None means: render the form again (with its errors)."""
    if not form.is_valid():
        return None
    user = _user(request)
    data = form.cleaned_data
    try:
        if "test" in request.POST:
            incoming_password, outgoing_password = resolve_passwords(
                account, data["incoming_password"], form.smtp_password()
            )
            check_connections(
                user, form.incoming(), form.outgoing(), incoming_password, outgoing_password
            )
            messages.success(request, _("Both servers accepted the login."))
            return None
        saved = do_save_mail_account(
            user,
            email=data["email"],
            display_name=data["display_name"],
            incoming=form.incoming(),
            outgoing=form.outgoing(),
            incoming_password=data["incoming_password"],
            outgoing_password=form.smtp_password(),
            account=account,
        )
    except ConnectionCheckFailed as exc:
        form.add_error(None, exc.message)
        return None
    messages.success(request, _("Account saved; its folders are syncing now."))
    return redirect("mail_account", account_id=saved.pk)


def account_add(request: HttpRequest) -> HttpResponse:
    form = MailAccountForm(request.POST or None)
    if request.method == "POST" and (response := _handle_form(request, form, None)):
        return response
    return render(request, "accounts/mail_account_form.html", {"form": form, "account": None})


def account_edit(request: HttpRequest, account_id: int) -> HttpResponse:
    account = get_account_for_user(_user(request), account_id)
    form = MailAccountForm(
        request.POST or None, initial=MailAccountForm.initial_for(account), editing=True
    )
    if request.method == "POST" and (response := _handle_form(request, form, account)):
        return response
    return render(request, "accounts/mail_account_form.html", {"form": form, "account": account})


def account_detail(request: HttpRequest, account_id: int) -> HttpResponse:
    account = get_account_for_user(_user(request), account_id)
    folders = account.folders.order_by("name")
    return render(request, "accounts/mail_account.html", {"account": account, "folders": folders})


@require_POST
def account_sync(request: HttpRequest, account_id: int) -> HttpResponse:
    account = get_account_for_user(_user(request), account_id)
    do_request_sync(account)
    messages.success(request, _("Sync started."))
    return redirect("mail_account", account_id=account.pk)


@require_POST
def account_remove(request: HttpRequest, account_id: int) -> HttpResponse:
    account = get_account_for_user(_user(request), account_id)
    email = account.email
    do_remove_mail_account(account)
    messages.success(request, _("%(email)s removed, with its cached mail.") % {"email": email})
    return redirect("mail_accounts")
