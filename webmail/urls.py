from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from accounts.views import auth
from webmail.views import actions, health, mailbox, message, proxy, stream

urlpatterns = [
    path("", mailbox.home, name="home"),
    path("mail/", mailbox.mailbox, name="mailbox"),
    path("mail/all/<slug:kind>/", mailbox.unified, name="unified"),
    path("mail/folder/<int:folder_id>/", mailbox.folder_view, name="folder"),
    path("mail/search/server/", mailbox.server_search, name="server_search"),
    path("mail/message/<int:message_id>/", message.message_view, name="message"),
    path("mail/message/<int:message_id>/body/", message.message_body, name="message_body"),
    path("mail/message/<int:message_id>/raw/", message.message_raw, name="message_raw"),
    path(
        "mail/message/<int:message_id>/part/<str:part_id>/",
        message.attachment,
        name="attachment",
    ),
    path(
        "mail/message/<int:message_id>/part/<str:part_id>/preview/",
        message.attachment_preview,
        name="attachment_preview",
    ),
    path(
        "mail/message/<int:message_id>/part/<str:part_id>/page/<int:page>.png",
        message.attachment_page,
        name="attachment_page",
    ),
    path("mail/message/<int:message_id>/trust/", message.trust_sender, name="trust_sender"),
    path("mail/act/", actions.bulk_action, name="bulk_action"),
    path("mail/proxy/", proxy.image_proxy, name="image_proxy"),
    path("events/", stream.event_stream, name="events"),
    path("healthz", health.healthz, name="healthz"),
    # Before admin.site.urls: Django's own admin login form would skip our throttle.
    path("admin/login/", auth.admin_login),
    path("admin/", admin.site.urls),
    path("", include("accounts.urls")),
]
