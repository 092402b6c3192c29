"""The mailbox: folder tree, unified views and message lists. Reads the cache only.

Each list view renders the whole page, or with `?partial=list` just the list (the page's
script swaps it in when the event stream says something changed)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import MailAccount, User
from webmail import actions, queries
from webmail.models import Folder
from webmail.search import parse_query


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # noqa: S101 - LoginRequiredMiddleware
    return request.user


def _int(value: str | None, default: int = 1) -> int:
    try:
        return int(value or default)
    except ValueError:
        return default


def home(request: HttpRequest) -> HttpResponse:
    return redirect("mailbox")


def mailbox(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if not MailAccount.objects.filter(owner=user).exists():
        return render(request, "webmail/mailbox.html", _context(request, user, None, None, {}))
    return unified(request, "inbox")


def unified(request: HttpRequest, kind: str) -> HttpResponse:
    user = _user(request)
    if kind not in queries.UNIFIED:
        kind = "inbox"
    titles = {"inbox": _("All inboxes"), "unread": _("Unread"), "flagged": _("Flagged")}
    view = {
        "kind": "unified",
        "key": kind,
        "title": titles[kind],
        "url": reverse("unified", args=[kind]),
        "folder_ids": [],
    }
    page = _search(request, user, view, kind) or queries.list_unified(
        user,
        kind,
        page=_int(request.GET.get("page")),
        sort=request.GET.get("sort", "date"),
        conversations=_conversations(request, queries.get_preferences(user).conversations),
    )
    return _render_list(request, user, page, view)


def folder_view(request: HttpRequest, folder_id: int) -> HttpResponse:
    user = _user(request)
    folder = queries.get_folder_for_user(user, folder_id)
    view = {
        "kind": "folder",
        "key": str(folder.pk),
        "title": folder.name,
        "folder": folder,
        "url": reverse("folder", args=[folder.pk]),
        "folder_ids": [folder.pk],
    }
    page = _search(request, user, view, folder) or queries.list_folder(
        folder,
        page=_int(request.GET.get("page")),
        sort=request.GET.get("sort", "date"),
        conversations=_conversations(request, queries.get_preferences(user).conversations),
    )
    return _render_list(request, user, page, view)


def _search(
    request: HttpRequest, user: User, view: dict[str, Any], within: Folder | str
) -> queries.ListPage | None:
    """With `?q=` the view's list becomes the search results (`scope=all`: every folder of
    every account; `server=TOKEN`: the hits of a server search of the message text). Adds
    view["search"] and keeps the search in view["url"], the address the page refreshes and
    returns to."""
    text = request.GET.get("q", "").strip()[:500]
    if not text:
        return None
    everywhere = request.GET.get("scope") == "all"
    token = request.GET.get("server", "")[:64]
    query = parse_query(text)
    params = {"q": text, **({"scope": "all"} if everywhere else {})}
    server = (queries.get_server_search(user, token) or {"state": "expired"}) if token else None
    view["base_url"] = view["url"]
    view["url"] += "?" + urlencode({**params, **({"server": token} if token else {})})
    view["search"] = {
        "text": text,
        "all": everywhere,
        "ignored": query.ignored,
        "words": bool(query.words),
        "within": f"folder:{within.pk}" if isinstance(within, Folder) else f"unified:{within}",
        "server": server,  # None, or "running" / "done" (ids, errors) / "expired"
    }
    if everywhere:
        view["folder_ids"] = []  # any folder's change may change the results
    hits = None
    if server is not None:
        hits = list(server.get("ids", [])) if server["state"] == "done" else []
    return queries.search_messages(
        user,
        query,
        within=None if everywhere else within,
        page=_int(request.GET.get("page")),
        sort=request.GET.get("sort", "date"),
        zone=timezone.get_current_timezone(),
        server_hits=hits,
    )


@require_POST
def server_search(request: HttpRequest) -> HttpResponse:
    """Start a search of the message text on the upstream servers (the cache holds no
    bodies to search) and show its results page, which fills in when the worker is done."""
    user = _user(request)
    text = request.POST.get("q", "").strip()[:500]
    kind, _, key = request.POST.get("within", "").partition(":")
    within: Folder | str
    if kind == "folder":
        within = queries.get_folder_for_user(user, _int(key, 0))
        url = reverse("folder", args=[within.pk])
    elif kind == "unified" and key in queries.UNIFIED:
        within, url = key, reverse("unified", args=[key])
    else:
        raise Http404
    everywhere = request.POST.get("scope") == "all"
    params = {"q": text, **({"scope": "all"} if everywhere else {})}
    token = actions.do_server_search(user, text, None if everywhere else within)
    if token:
        params["server"] = token
    return redirect(url + "?" + urlencode(params))


def _conversations(request: HttpRequest, default: bool) -> bool:  # noqa: FBT001 - plain flag
    value = request.GET.get("conversations")
    return default if value is None else value == "1"


def _render_list(
    request: HttpRequest, user: User, page: queries.ListPage, view: dict[str, Any]
) -> HttpResponse:
    search = view.get("search") or {}
    unified = view["kind"] == "unified"
    # Decided once here, not per row in the template: a lookup that fails there (a folder
    # view has no search) costs Django an exception and a dir() for each of the 50 rows.
    view["show_account"] = unified or bool(search.get("all"))
    view["show_folder"] = bool(search) and unified or bool(search.get("all"))
    context = _context(request, user, page, view, {})
    if request.GET.get("partial") == "list":
        return render(request, "webmail/partials/message_list.html", context)
    return render(request, "webmail/mailbox.html", context)


def _context(
    request: HttpRequest,
    user: User,
    page: queries.ListPage | None,
    view: dict[str, Any] | None,
    extra: dict[str, Any],
) -> dict[str, Any]:
    prefs = queries.get_preferences(user)
    conversations = _conversations(request, prefs.conversations)
    move_targets = (
        Folder.objects.filter(account__owner=user, selectable=True)
        .select_related("account")
        .order_by("account_id", "name")
    )
    return {
        "trees": queries.get_trees(user),
        "counts": queries.unified_counts(user),
        "page": page,
        "view": view,
        "prefs": prefs,
        "conversations": conversations,
        "move_targets": move_targets,
        "has_accounts": MailAccount.objects.filter(owner=user).exists(),
        "sort_choices": [
            ("date", _("Newest first")),
            ("-date", _("Oldest first")),
            ("sender", _("Sender")),
            ("subject", _("Subject")),
            ("size", _("Size")),
        ],
        **extra,
    }
