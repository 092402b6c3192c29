"""Login, logout and password change."""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode

from asgiref.sync import sync_to_async
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect
from django.urls import reverse, reverse_lazy
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _

from accounts import throttle
from accounts.forms import ThrottledAuthenticationForm
from accounts.language import remember_language


@method_decorator(login_not_required, name="dispatch")
class LoginView(auth_views.LoginView):
    form_class = ThrottledAuthenticationForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form: ThrottledAuthenticationForm) -> HttpResponse:  # type: ignore[override]
        response = super().form_valid(form)
        user = form.get_user()
        if user.language:
            # The language the user picked wins over Accept-Language from now on.
            remember_language(response, user.language)
        return response


_login_form_view = LoginView.as_view()


@login_not_required
async def login(request: HttpRequest) -> HttpResponseBase:
    """The one sign-in page. A username under attack from many addresses is in slow mode
    (accounts/throttle.py): the wait is awaited here, on the event loop, so slowed tries hold
    no thread; then the form checks the locks and the password."""
    if request.method == "POST":
        username = str(request.POST.get("username", ""))
        delay = await sync_to_async(throttle.slow_down_seconds)(username)
        if delay > 0:
            await asyncio.sleep(delay)
    return await sync_to_async(_login_form_view)(request)


@login_not_required
def admin_login(request: HttpRequest) -> HttpResponse:
    """/admin/login/ sends everyone to our sign-in page, so the operator's console has the same
    throttle and audit; a signed-in member who is not staff gets nothing (no redirect loop)."""
    user = request.user
    if user.is_authenticated and not user.is_staff:
        raise Http404
    target = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = ""
    target = target or reverse("admin:index")
    if user.is_authenticated:
        return redirect(target)
    return redirect(f"{reverse('login')}?{urlencode({'next': target})}")


class LogoutView(auth_views.LogoutView):
    """POST only (Django 5); then back to the login page (LOGOUT_REDIRECT_URL)."""


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("password_change_done")
    extra_context = {"title": _("Change password")}


class PasswordChangeDoneView(auth_views.PasswordChangeDoneView):
    template_name = "accounts/password_change_done.html"
