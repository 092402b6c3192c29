"""People and organisations: who may log in, and the policy their organisation sets."""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.utils.translation import gettext_lazy as _


class Organisation(models.Model):
    name = models.CharField(_("name"), max_length=150, unique=True)
    max_attachment_mb = models.PositiveIntegerField(
        _("maximum attachment size (MB)"),
        default=25,
        help_text=_("Largest total attachment size members may send."),
    )
    # One host name, domain suffix (".example.org") or CIDR per line. Empty: whatever the
    # operator's environment allows. Only ever narrows that (see accounts/policy.py).
    allowed_mail_hosts = models.TextField(_("allowed upstream mail hosts"), blank=True)
    # Empty: the operator's default (accounts/limits.py); a number only lowers it.
    max_accounts_per_user = models.PositiveIntegerField(
        _("mail accounts per member"), null=True, blank=True
    )
    max_event_streams_per_user = models.PositiveIntegerField(
        _("open tabs with live updates per member"), null=True, blank=True
    )
    max_server_searches_per_user = models.PositiveIntegerField(
        _("searches on the mail server at once per member"), null=True, blank=True
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["name"]

    def __str__(self) -> str:
        return self.name

    def allowed_mail_host_list(self) -> list[str]:
        return [line.strip() for line in self.allowed_mail_hosts.splitlines() if line.strip()]


class WebmailUserManager(UserManager["User"]):
    def create_superuser(
        self, username: str, email: str | None = None, password: str | None = None, **extra: Any
    ) -> User:
        # `createsuperuser` knows nothing of organisations: put the operator in the first one.
        if "organisation" not in extra and "organisation_id" not in extra:
            extra["organisation"] = Organisation.objects.order_by("pk").first() or (
                Organisation.objects.create(name="Default")
            )
        extra.setdefault("is_org_admin", True)
        return super().create_superuser(username, email, password, **extra)


class User(AbstractUser):
    organisation = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        related_name="members",
        verbose_name=_("organisation"),
    )
    is_org_admin = models.BooleanField(
        _("organisation admin"),
        default=False,
        help_text=_("Manages the users and policy of their organisation."),
    )
    # Empty: follow the browser's Accept-Language.
    language = models.CharField(_("language"), max_length=16, blank=True)

    objects: ClassVar[WebmailUserManager] = WebmailUserManager()

    REQUIRED_FIELDS: ClassVar[list[str]] = ["email"]


class LoginFailure(models.Model):
    """One failed login; the throttle counts these per username and per address."""

    username = models.CharField(max_length=150)
    ip = models.GenericIPAddressField()
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes: ClassVar = [
            models.Index(fields=["username", "created"]),
            models.Index(fields=["ip", "created"]),
            models.Index(fields=["username", "ip", "created"]),
        ]

    def __str__(self) -> str:
        return f"{self.username} from {self.ip} at {self.created:%Y-%m-%d %H:%M}"


class MailAccount(models.Model):
    """One upstream mailbox a user reads here: IMAP in, SMTP out. Passwords are Fernet
    tokens (accounts/credentials.py), never plain text and never sent to the browser."""

    class Security(models.TextChoices):
        TLS = "tls", _("TLS (implicit)")
        STARTTLS = "starttls", _("STARTTLS")
        NONE = "none", _("None (local servers only)")

    class Status(models.TextChoices):
        NEW = "new", _("waiting for first sync")
        SYNCING = "syncing", _("syncing")
        OK = "ok", _("up to date")
        ERROR = "error", _("error")

    owner = models.ForeignKey(User, on_delete=models.CASCADE, related_name="mail_accounts")
    email = models.EmailField(_("email address"))
    display_name = models.CharField(_("display name"), max_length=200, blank=True)

    incoming_protocol = models.CharField(max_length=8, default="imap")
    incoming_host = models.CharField(_("incoming server"), max_length=255)
    incoming_port = models.PositiveIntegerField(_("port"))
    incoming_security = models.CharField(_("security"), max_length=8, choices=Security.choices)
    incoming_username = models.CharField(_("login"), max_length=255)
    incoming_secret = models.TextField(editable=False)

    outgoing_host = models.CharField(_("outgoing (SMTP) server"), max_length=255)
    outgoing_port = models.PositiveIntegerField(_("port"))
    outgoing_security = models.CharField(_("security"), max_length=8, choices=Security.choices)
    outgoing_username = models.CharField(_("login"), max_length=255, blank=True)
    # Empty: the incoming password is used for SMTP too.
    outgoing_secret = models.TextField(blank=True, editable=False)

    status = models.CharField(max_length=8, choices=Status.choices, default=Status.NEW)
    # Shown to the user as is: built from our own error vocabulary, never exception text.
    last_error = models.CharField(max_length=500, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    capabilities = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["pk"]

    def __str__(self) -> str:
        return self.email

    @property
    def incoming_url(self) -> str:
        """The form `mailaccount add --incoming` takes, e.g. imaps://me%40x.org@host:993."""
        scheme = self.incoming_protocol + ("s" if self.incoming_security == "tls" else "")
        login = quote(self.incoming_username, safe="")
        host = f"[{self.incoming_host}]" if ":" in self.incoming_host else self.incoming_host
        suffix = "?tls=none" if self.incoming_security == "none" else ""
        return f"{scheme}://{login}@{host}:{self.incoming_port}{suffix}"


class Preferences(models.Model):
    """How one user wants the mailbox shown. Created on first use with the defaults."""

    class Calendar(models.TextChoices):
        GREGORIAN = "gregorian", _("Gregorian")
        JALALI = "jalali", _("Solar Hijri")

    class Remote(models.TextChoices):
        BLOCK = "block", _("Block, ask each time")
        ALLOW = "allow", _("Always show (through the image proxy)")

    class Density(models.TextChoices):
        COMFORTABLE = "comfortable", _("Comfortable")
        COMPACT = "compact", _("Compact")

    class Theme(models.TextChoices):
        SYSTEM = "system", _("Follow the system")
        LIGHT = "light", _("Light")
        DARK = "dark", _("Dark")

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="preferences")
    time_zone = models.CharField(_("time zone"), max_length=64, default="UTC")
    calendar = models.CharField(
        _("calendar"), max_length=10, choices=Calendar.choices, default=Calendar.GREGORIAN
    )
    date_format = models.CharField(
        _("date format"),
        max_length=16,
        default="Y-m-d",
        help_text=_("Django date format, e.g. Y-m-d, d.m.Y or j M Y."),
    )
    # Seconds after opening; -1: never mark read automatically.
    mark_read_after = models.IntegerField(_("mark read after (seconds)"), default=0)
    remote_content = models.CharField(
        _("remote content"), max_length=8, choices=Remote.choices, default=Remote.BLOCK
    )
    conversations = models.BooleanField(_("group messages into conversations"), default=False)
    density = models.CharField(
        _("density"), max_length=12, choices=Density.choices, default=Density.COMFORTABLE
    )
    theme = models.CharField(_("theme"), max_length=8, choices=Theme.choices, default=Theme.SYSTEM)

    def __str__(self) -> str:
        return f"preferences of {self.user_id}"


class TrustedSender(models.Model):
    """A sender whose remote images this user always loads (through the proxy)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="trusted_senders")
    email = models.CharField(max_length=320)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["user", "email"], name="trusted_sender_unique")
        ]

    def __str__(self) -> str:
        return self.email
