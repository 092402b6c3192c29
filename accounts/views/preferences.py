"""The user's own preferences: language, time zone, calendar, dates, reading, looks."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _

from accounts.forms import PreferencesForm
from accounts.language import remember_language
from accounts.models import Preferences, User


def preferences(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - LoginRequiredMiddleware guarantees it
    prefs, _created = Preferences.objects.get_or_create(user=user)
    form = PreferencesForm(
        request.POST or None, instance=prefs, initial={"language": user.language}
    )
    if request.method == "POST" and form.is_valid():
        form.save()
        user.language = form.cleaned_data["language"]
        user.save(update_fields=["language"])
        response = redirect("preferences")
        remember_language(response, user.language)
        if user.language:
            translation.activate(user.language)
        messages.success(request, _("Preferences saved."))
        return response
    return render(request, "accounts/preferences.html", {"form": form, "prefs": prefs})
