"""Organisation admins manage the members of their own organisation."""

from __future__ import annotations

from functools import wraps
from typing import Any, Protocol

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts import actions
from accounts.forms import NewUserForm, ResetPasswordForm
from accounts.models import User


class _View(Protocol):
    def __call__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse: ...


def org_admin_required(view: _View) -> _View:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not isinstance(user, User) or not user.is_org_admin:
            raise Http404  # not 403: do not reveal that the page exists
        return view(request, *args, **kwargs)

    return wrapper


def get_member_for_admin(admin: User, user_id: int) -> User:
    return get_object_or_404(User, pk=user_id, organisation_id=admin.organisation_id)


def _admin(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # noqa: S101 - org_admin_required checked it
    return request.user


@org_admin_required
def member_list(request: HttpRequest) -> HttpResponse:
    admin = _admin(request)
    form = NewUserForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = actions.do_create_user(
                admin.organisation,
                data["username"],
                data["password"],
                email=data["email"],
                is_org_admin=data["is_org_admin"],
            )
        except actions.UserExistsError:
            form.add_error("username", _("A user with that username already exists."))
        except ValidationError as exc:
            form.add_error("password", exc)
        else:
            messages.success(request, _("User %(name)s created.") % {"name": user.username})
            return redirect("member_list")
    members = User.objects.filter(organisation=admin.organisation).order_by("username")
    return render(request, "accounts/members.html", {"form": form, "members": members})


@org_admin_required
def member_detail(request: HttpRequest, user_id: int) -> HttpResponse:
    admin = _admin(request)
    member = get_member_for_admin(admin, user_id)
    form = ResetPasswordForm(member, request.POST or None)
    if request.method == "POST" and form.is_valid():
        actions.do_set_password(member, form.cleaned_data["new_password1"])
        messages.success(request, _("Password of %(name)s changed.") % {"name": member.username})
        return redirect("member_detail", user_id=member.pk)
    return render(
        request,
        "accounts/member_detail.html",
        {"member": member, "form": form, "is_self": member.pk == admin.pk},
    )


@require_POST
@org_admin_required
def member_action(request: HttpRequest, user_id: int, action: str) -> HttpResponse:
    admin = _admin(request)
    member = get_member_for_admin(admin, user_id)
    if member.pk == admin.pk:
        messages.error(request, _("You cannot disable, demote or delete yourself."))
        return redirect("member_detail", user_id=member.pk)
    name = member.username
    if action == "disable":
        actions.do_set_active(member, active=False)
        messages.success(request, _("%(name)s is disabled and signed out.") % {"name": name})
    elif action == "enable":
        actions.do_set_active(member, active=True)
        messages.success(request, _("%(name)s can sign in again.") % {"name": name})
    elif action == "make-admin":
        actions.do_set_org_admin(member, admin=True)
        messages.success(request, _("%(name)s is now an admin.") % {"name": name})
    elif action == "remove-admin":
        actions.do_set_org_admin(member, admin=False)
        messages.success(request, _("%(name)s is no longer an admin.") % {"name": name})
    elif action == "delete":
        actions.do_delete_user(member)
        messages.success(request, _("%(name)s was deleted.") % {"name": name})
        return redirect("member_list")
    else:
        raise Http404
    return redirect("member_detail", user_id=member.pk)
