"""The mail account form: incoming IMAP and outgoing SMTP, with SMTP login defaulting to
the incoming one."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.mailaccounts import ServerSettings
from accounts.models import MailAccount

SECURITY = MailAccount.Security.choices


class MailAccountForm(forms.Form):
    email = forms.EmailField(label=_("Email address"))
    display_name = forms.CharField(label=_("Your name"), max_length=200, required=False)

    incoming_host = forms.CharField(label=_("IMAP server"), max_length=255)
    incoming_port = forms.IntegerField(label=_("Port"), min_value=1, max_value=65535, initial=993)
    incoming_security = forms.ChoiceField(label=_("Security"), choices=SECURITY, initial="tls")
    incoming_username = forms.CharField(label=_("Login"), max_length=255)
    incoming_password = forms.CharField(
        label=_("Password"),
        strip=False,
        required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
    )

    outgoing_host = forms.CharField(label=_("SMTP server"), max_length=255)
    outgoing_port = forms.IntegerField(label=_("Port"), min_value=1, max_value=65535, initial=465)
    outgoing_security = forms.ChoiceField(label=_("Security"), choices=SECURITY, initial="tls")
    outgoing_same_login = forms.BooleanField(
        label=_("Same login and password as incoming"), required=False, initial=True
    )
    outgoing_username = forms.CharField(label=_("SMTP login"), max_length=255, required=False)
    outgoing_password = forms.CharField(
        label=_("SMTP password"),
        strip=False,
        required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
    )

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.editing = editing
        if editing:
            for name in ("incoming_password", "outgoing_password"):
                self.fields[name].help_text = _("Leave empty to keep the saved password.")

    def clean_incoming_host(self) -> str:
        return str(self.cleaned_data["incoming_host"]).strip().rstrip(".").lower()

    def clean_outgoing_host(self) -> str:
        return str(self.cleaned_data["outgoing_host"]).strip().rstrip(".").lower()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.editing and not data.get("incoming_password"):
            self.add_error("incoming_password", _("Enter the password."))
        if not data.get("outgoing_same_login") and not data.get("outgoing_username"):
            self.add_error("outgoing_username", _("Enter the SMTP login, or tick “same login”."))
        return data

    def incoming(self) -> ServerSettings:
        data = self.cleaned_data
        return ServerSettings(
            data["incoming_host"],
            data["incoming_port"],
            data["incoming_security"],
            data["incoming_username"],
        )

    def outgoing(self) -> ServerSettings:
        data = self.cleaned_data
        same = data["outgoing_same_login"]
        return ServerSettings(
            data["outgoing_host"],
            data["outgoing_port"],
            data["outgoing_security"],
            data["incoming_username"] if same else data["outgoing_username"],
        )

    def smtp_password(self) -> str | None:
        data = self.cleaned_data
        if data["outgoing_same_login"]:
            return None
        return str(data["outgoing_password"])

    @staticmethod
    def initial_for(account: MailAccount) -> dict[str, Any]:
        return {
            "email": account.email,
            "display_name": account.display_name,
            "incoming_host": account.incoming_host,
            "incoming_port": account.incoming_port,
            "incoming_security": account.incoming_security,
            "incoming_username": account.incoming_username,
            "outgoing_host": account.outgoing_host,
            "outgoing_port": account.outgoing_port,
            "outgoing_security": account.outgoing_security,
            "outgoing_same_login": account.outgoing_username == account.incoming_username
            and not account.outgoing_secret,
            "outgoing_username": account.outgoing_username,
        }
