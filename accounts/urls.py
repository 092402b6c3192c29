from __future__ import annotations

from django.urls import path

from accounts.views import auth, members, policy, preferences

urlpatterns = [
    path("login/", auth.LoginView.as_view(), name="login"),
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
]
