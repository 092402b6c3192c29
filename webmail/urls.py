from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from webmail.views import health, mailbox, stream

urlpatterns = [
    path("", mailbox.home, name="home"),
    path("mail/", mailbox.mailbox, name="mailbox"),
    path("events/", stream.event_stream, name="events"),
    path("healthz", health.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("", include("accounts.urls")),
]
