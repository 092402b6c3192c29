"""Every change to users and organisations goes through here."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import Organisation, User


class UserExistsError(Exception):
    """A user with that username already exists (usernames are unique across the server)."""


def do_create_user(
    organisation: Organisation,
    username: str,
    password: str,
    *,
    email: str = "",
    is_org_admin: bool = False,
    is_superuser: bool = False,
) -> User:
    """Create a member; raises UserExistsError, or ValidationError for a refused password."""
    username = username.strip()
    if not username:
        raise ValidationError(_("A username is required."))
    if User.objects.filter(username__iexact=username).exists():
        raise UserExistsError(username)
    candidate = User(username=username, email=email, organisation=organisation)
    validate_password(password, user=candidate)
    with transaction.atomic():
        user = User.objects.create_user(
            username=username,
            email=email,
            password=password,
            organisation=organisation,
            is_org_admin=is_org_admin or is_superuser,
            is_staff=is_superuser,
            is_superuser=is_superuser,
        )
    return user


def get_or_create_organisation(name: str | None) -> Organisation:
    """The named organisation (created if missing), else the only one (created if none)."""
    if name:
        organisation, _created = Organisation.objects.get_or_create(name=name.strip())
        return organisation
    organisations = list(Organisation.objects.order_by("pk")[:2])
    if len(organisations) == 1:
        return organisations[0]
    if not organisations:
        return Organisation.objects.create(name="Default")
    raise ValidationError(_("There are several organisations; name one with --org."))


def do_set_active(user: User, *, active: bool) -> None:
    user.is_active = active
    user.save(update_fields=["is_active"])
    if not active:
        do_end_sessions(user)


def do_set_org_admin(user: User, *, admin: bool) -> None:
    user.is_org_admin = admin
    user.save(update_fields=["is_org_admin"])


def do_set_password(user: User, password: str) -> None:
    validate_password(password, user=user)
    user.set_password(password)
    user.save(update_fields=["password"])
    # A reset is often because the password leaked: end the sessions that used it.
    do_end_sessions(user)


def do_delete_user(user: User) -> None:
    do_end_sessions(user)
    user.delete()


def do_end_sessions(user: User) -> None:
    from django.contrib.sessions.models import Session

    # Django keeps no user -> session index; sessions are few enough at our size to scan.
    for session in Session.objects.all().iterator():
        if str(session.get_decoded().get("_auth_user_id")) == str(user.pk):
            session.delete()


def do_update_policy(
    organisation: Organisation, *, max_attachment_mb: int, allowed_mail_hosts: list[str]
) -> None:
    organisation.max_attachment_mb = max_attachment_mb
    organisation.allowed_mail_hosts = "\n".join(allowed_mail_hosts)
    organisation.save(update_fields=["max_attachment_mb", "allowed_mail_hosts"])


@dataclass(frozen=True)
class Bootstrap:
    username: str
    password: str | None  # None when it came from WEBMAIL_ADMIN_PASSWORD


def do_bootstrap_admin(username: str, password: str | None) -> Bootstrap | None:
    """First start with no users: an organisation and its admin. None if users exist."""
    with transaction.atomic():
        if User.objects.exists():
            return None
        generated = password is None
        secret = password if password is not None else secrets.token_urlsafe(12)
        organisation = Organisation.objects.order_by("pk").first() or (
            Organisation.objects.create(name="Default")
        )
        User.objects.create_superuser(
            username=username, email="", password=secret, organisation=organisation
        )
    return Bootstrap(username, secret if generated else None)
