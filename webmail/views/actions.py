"""POST /mail/act/: bulk actions on selected messages (read, unread, flag, unflag, move,
delete, archive, spam, mark folder read, empty) and undo of the last one. Works as a plain
form post (the flash message then carries an Undo button); the page's script sends the same
form and gets JSON back, with an `undo` token when the action can be undone."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from webmail import actions
from webmail.views.mailbox import _user


def _ids(request: HttpRequest) -> list[int]:
    ids = []
    for value in request.POST.getlist("ids"):
        try:
            ids.append(int(value))
        except ValueError:
            continue
    return ids[:5000]


def _number(request: HttpRequest, name: str) -> int | None:
    try:
        return int(request.POST.get(name, ""))
    except ValueError:
        return None


@require_POST
def bulk_action(request: HttpRequest) -> HttpResponse:
    wants_json = request.headers.get("Accept", "").startswith("application/json")
    outcome = actions.Outcome(0, "")
    error = ""
    try:
        outcome = actions.do_action(
            _user(request),
            request.POST.get("action", ""),
            _ids(request),
            dest=_number(request, "dest"),
            folder=_number(request, "folder"),
            token=_number(request, "token"),
            # The page marking an opened message read is not the user's undoable action.
            undoable=request.POST.get("auto") != "1",
        )
    except actions.ActionRefused as exc:
        error = str(exc)
    except Http404:
        if not wants_json or request.POST.get("action") != "undo":
            raise
        return JsonResponse({"ok": False, "error": _("There is nothing to undo.")}, status=404)
    if wants_json:
        return JsonResponse(
            {
                "ok": not error,
                "count": outcome.count,
                "error": error,
                "message": outcome.message,
                "undo": outcome.undo,
            },
            status=400 if error else 200,
        )
    if error:
        messages.error(request, error)
    else:
        # base.html shows an Undo form for an "undo-<token>" message.
        tags = f"undo-{outcome.undo}" if outcome.undo else ""
        messages.success(request, outcome.message, extra_tags=tags)
    return redirect(_back(request))


def _back(request: HttpRequest) -> str:
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        return "/mail/"
    # A list the page's script refreshed carries its fragment URL (?partial=list) in `next`.
    parts = urlsplit(back)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "partial"]
    return urlunsplit(parts._replace(query=urlencode(query)))
