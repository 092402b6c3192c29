"""Shared fixtures: named users (alice and bob share an organisation, carol is elsewhere),
the real-server rig, the live app and a browser page."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.utils import translation

from accounts.models import Organisation, User
from tests.servers.live import browser, live_app, page  # noqa: F401
from tests.servers.mail import mailserver, plain_mailserver  # noqa: F401
from webmail.celery import app as celery_app

# Playwright's sync API runs an event loop in the test thread; the ORM calls tests make
# beside it are still plain synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _language_of_each_test_is_its_own() -> object:
    """A request in Persian activates it for the thread (LocaleMiddleware does not undo
    that): start and end every test in the default language, so none depends on order."""
    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture
def example_org(db: None) -> Organisation:
    return Organisation.objects.create(name="Example")


@pytest.fixture
def other_org(db: None) -> Organisation:
    return Organisation.objects.create(name="Other")


@pytest.fixture
def alice(example_org: Organisation) -> User:
    """Org admin of Example."""
    return User.objects.create_user(
        "alice", "alice@example.test", PASSWORD, organisation=example_org, is_org_admin=True
    )


@pytest.fixture
def bob(example_org: Organisation) -> User:
    return User.objects.create_user("bob", "bob@example.test", PASSWORD, organisation=example_org)


@pytest.fixture
def carol(other_org: Organisation) -> User:
    """Another organisation: must never see or manage alice's and bob's things."""
    return User.objects.create_user(
        "carol", "carol@other.test", PASSWORD, organisation=other_org, is_org_admin=True
    )


@pytest.fixture
def eager() -> Iterator[None]:
    """Tasks run at once, in the test, with their arguments round-tripped through JSON as the
    broker would (so a task that takes something JSON cannot carry fails here too)."""
    original = celery_app.Task.apply_async

    def apply_async(self: Any, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        args = json.loads(json.dumps(args or []))
        kwargs = json.loads(json.dumps(kwargs or {}))
        return self.apply(args, kwargs, throw=True)

    celery_app.Task.apply_async = apply_async  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        celery_app.Task.apply_async = original  # type: ignore[method-assign]
