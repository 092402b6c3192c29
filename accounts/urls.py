from __future__ import annotations

from django.urls import path

from accounts.views import auth, mail_accounts, members, policy, preferences

urlpatterns = [
    path("login/", auth.login, name="login"),
    path("logout/", auth.LogoutView.as_view(), name="logout"),
    path("settings/password/", auth.PasswordChangeView.as_view(), name="password_change"),
    path(
        "settings/password/done/",
        auth.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("settings/", preferences.preferences, name="preferences"),
    path("manage/users/", members.member_list, name="member_list"),
    path("manage/users/<int:user_id>/", members.member_detail, name="member_detail"),
    path(
        "manage/users/<int:user_id>/<slug:action>/",
        members.member_action,
        name="member_action",
    ),
    path("manage/policy/", policy.org_policy, name="org_policy"),
    path("settings/accounts/", mail_accounts.account_list, name="mail_accounts"),
    path("settings/accounts/add/", mail_accounts.account_add, name="mail_account_add"),
    path("settings/accounts/<int:account_id>/", mail_accounts.account_detail, name="mail_account"),
    path(
        "settings/accounts/<int:account_id>/edit/",
        mail_accounts.account_edit,
        name="mail_account_edit",
    ),
    path(
        "settings/accounts/<int:account_id>/sync/",
        mail_accounts.account_sync,
        name="mail_account_sync",
    ),
    path(
        "settings/accounts/<int:account_id>/remove/",
        mail_accounts.account_remove,
        name="mail_account_remove",
    ),
]
