"""Organisation policy: limits and allowed upstream mail hosts."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from accounts import actions
from accounts.forms import PolicyForm
from accounts.views.members import _admin, org_admin_required


@org_admin_required
def org_policy(request: HttpRequest) -> HttpResponse:
    organisation = _admin(request).organisation
    form = PolicyForm(request.POST or None, instance=organisation)
    if request.method == "POST" and form.is_valid():
        actions.do_update_policy(
            organisation,
            max_attachment_mb=form.cleaned_data["max_attachment_mb"],
            allowed_mail_hosts=form.cleaned_data["allowed_mail_hosts"].splitlines(),
        )
        messages.success(request, _("Policy saved."))
        return redirect("org_policy")
    return render(request, "accounts/policy.html", {"form": form, "organisation": organisation})
