"""People and organisations: who may log in, and the policy their organisation sets."""

from __future__ import annotations

from typing import Any, ClassVar

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
        ]

    def __str__(self) -> str:
        return f"{self.username} from {self.ip} at {self.created:%Y-%m-%d %H:%M}"
