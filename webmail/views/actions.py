"""POST /mail/act/: bulk actions on selected messages (read, unread, flag, unflag, move,
delete, archive, spam, mark folder read, empty). Works as a plain form post; the page's
script sends the same form and gets JSON back."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from webmail import actions
from webmail.models import Folder, Message
from webmail.views.mailbox import _user

FLAG_ACTIONS = {
    "read": (["\\Seen"], True),
    "unread": (["\\Seen"], False),
    "flag": (["\\Flagged"], True),
    "unflag": (["\\Flagged"], False),
}


def _ids(request: HttpRequest) -> list[int]:
    ids = []
    for value in request.POST.getlist("ids"):
        try:
            ids.append(int(value))
        except ValueError:
            continue
    return ids[:5000]


def _special_target(user_id: int, ids: list[int], special: str) -> int | None:
    """The Archive / Junk folder of the (first) account the selection belongs to."""
    account_id = (
        Message.objects.filter(pk__in=ids, folder__account__owner_id=user_id)
        .values_list("folder__account_id", flat=True)
        .first()
    )
    folder = Folder.objects.filter(account_id=account_id, special_use=special).first()
    return folder.pk if folder else None


@require_POST
def bulk_action(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    action = request.POST.get("action", "")
    ids = _ids(request)
    count = 0
    error = ""
    if action in FLAG_ACTIONS:
        flags, add = FLAG_ACTIONS[action]
        count = actions.do_set_flags(user, ids, flags, add=add)
    elif action == "delete":
        count = actions.do_delete_messages(user, ids)
    elif action in ("move", "archive", "spam"):
        if action == "move":
            try:
                dest: int | None = int(request.POST.get("dest", ""))
            except ValueError:
                dest = None
        else:
            dest = _special_target(user.pk, ids, "archive" if action == "archive" else "junk")
        if dest is None:
            error = _("This account has no such folder.")
        else:
            count = actions.do_move_messages(user, ids, dest)
    elif action in ("mark-folder-read", "empty"):
        try:
            folder_id = int(request.POST.get("folder", ""))
        except ValueError:
            folder_id = 0
        try:
            count = (
                actions.do_mark_folder_read(user, folder_id)
                if action == "mark-folder-read"
                else actions.do_empty_folder(user, folder_id)
            )
        except actions.NotEmptiable:
            error = _("Only Trash and Junk can be emptied.")
    else:
        error = _("Unknown action.")
    if request.headers.get("Accept", "").startswith("application/json"):
        return JsonResponse(
            {"ok": not error, "count": count, "error": error}, status=400 if error else 200
        )
    if error:
        messages.error(request, error)
    else:
        messages.success(
            request,
            ngettext(
                "%(n)d message updated; the server is being told.",
                "%(n)d messages updated; the server is being told.",
                count,
            )
            % {"n": count},
        )
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = "/mail/"
    return redirect(back)
