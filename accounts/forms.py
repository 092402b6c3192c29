"""Forms for login, preferences and organisation management."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm, SetPasswordForm
from django.contrib.auth.password_validation import password_validators_help_text_html
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils import timezone
from django.utils.formats import time_format
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts import audit, policy, throttle
from accounts.models import Organisation, Preferences


class ThrottledAuthenticationForm(AuthenticationForm):
    """Every sign-in goes through here: the throttle decides before the password is checked,
    and every outcome is audited (accounts/throttle.py, accounts/audit.py)."""

    request: HttpRequest

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username") or ""
        decision = throttle.begin_attempt(username, throttle.client_ip(self.request))
        if decision.locked_until is not None:
            audit.sign_in(self.request, username, "throttled")
            raise ValidationError(locked_message(decision.locked_until), code="throttled")
        try:
            data = super().clean()
        except ValidationError:
            throttle.end_attempt(decision, succeeded=False)
            audit.sign_in(self.request, username, "failed")
            raise
        throttle.end_attempt(decision, succeeded=True)
        audit.sign_in(self.request, username, "ok")
        return data


def locked_message(until: datetime) -> str:
    minutes = max(1, round((until - timezone.now()).total_seconds() / 60))
    return ngettext(
        "Too many failed sign-in attempts. Try again in %(minutes)d minute (at %(time)s UTC).",
        "Too many failed sign-in attempts. Try again in %(minutes)d minutes (at %(time)s UTC).",
        minutes,
    ) % {"minutes": minutes, "time": time_format(until.astimezone(UTC), "H:i")}


class PreferencesForm(forms.ModelForm):
    language = forms.ChoiceField(label=_("Language"), required=False)
    time_zone = forms.ChoiceField(label=_("Time zone"))

    class Meta:
        model = Preferences
        fields = (
            "time_zone",
            "calendar",
            "date_format",
            "mark_read_after",
            "remote_content",
            "conversations",
            "density",
            "theme",
        )
        help_texts = {
            "mark_read_after": _("0: as soon as it opens; -1: never automatically."),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        language = self.fields["language"]
        assert isinstance(language, forms.ChoiceField)  # noqa: S101 - declared above
        language.choices = [
            ("", _("Same as my browser")),
            *[(code, name) for code, name in settings.LANGUAGES],
        ]
        zone = self.fields["time_zone"]
        assert isinstance(zone, forms.ChoiceField)  # noqa: S101 - declared above
        zone.choices = [(name, name) for name in sorted(zoneinfo.available_timezones())]

    def clean_mark_read_after(self) -> int:
        value = int(self.cleaned_data["mark_read_after"])
        if not -1 <= value <= 600:
            raise ValidationError(_("Choose -1 (never), 0 (at once) or up to 600 seconds."))
        return value

    def clean_date_format(self) -> str:
        value = str(self.cleaned_data["date_format"]).strip()
        if not value or any(ch in value for ch in "<>&\"'") or len(value) > 16:
            raise ValidationError(_("Use Django date format letters, e.g. Y-m-d."))
        return value


class NewUserForm(forms.Form):
    username = forms.CharField(label=_("Username"), max_length=150)
    email = forms.EmailField(label=_("Email (optional)"), required=False)
    password = forms.CharField(
        label=_("Password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validators_help_text_html(),
        strip=False,
    )
    is_org_admin = forms.BooleanField(label=_("Organisation admin"), required=False)


class ResetPasswordForm(SetPasswordForm):
    """An admin sets a member's new password (the member is told it out of band)."""


class PolicyForm(forms.ModelForm):
    class Meta:
        model = Organisation
        fields = ("max_attachment_mb", "allowed_mail_hosts")
        widgets = {
            "allowed_mail_hosts": forms.Textarea(
                attrs={"rows": 5, "placeholder": "imap.example.org\n.example.org\n10.0.0.0/8"}
            )
        }
        help_texts = {
            "allowed_mail_hosts": _(
                "One host, domain (.example.org) or network (10.0.0.0/8) per line. Empty: any "
                "host the server operator allows. This list can only narrow what the operator "
                "allows, never widen it."
            )
        }

    def clean_max_attachment_mb(self) -> int:
        value = int(self.cleaned_data["max_attachment_mb"])
        if not 1 <= value <= 2048:
            raise ValidationError(_("Choose a size between 1 and 2048 MB."))
        return value

    def clean_allowed_mail_hosts(self) -> str:
        return "\n".join(policy.validate_host_rules(self.cleaned_data["allowed_mail_hosts"]))
