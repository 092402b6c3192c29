"""The read side of the mailbox pages: folders, lists and messages, each checked against
the user who asks. Reads the cache only; no page waits on an upstream server."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import tzinfo
from typing import Any

from django.db import connections
from django.db.models import Count, Max, Q, QuerySet, Window
from django.http import Http404

from accounts.models import MailAccount, Preferences, User
from webmail.models import THREADED, Event, Folder, Message
from webmail.search import SearchQuery, to_filter
from webmail.sync.folders import sync_order

PAGE_SIZE = 50
SORTS = {
    "date": ("-internaldate", "-pk"),
    "-date": ("internaldate", "pk"),
    "sender": ("from_name", "from_email", "-internaldate"),
    "subject": ("subject", "-internaldate"),
    "size": ("-size", "-internaldate"),
}
UNIFIED = ("inbox", "unread", "flagged")
# Unified views in these orders merge each folder's own index order (see _merged_ids).
MERGED_SORTS = ("date", "-date")
# Unified "unread" leaves out folders where unread mail is noise.
NOT_UNREAD_VIEWS = ("trash", "junk", "sent", "drafts")


def get_preferences(user: User) -> Preferences:
    """The user's preferences; cached on the user object (`user.preferences`), so the several
    callers of one request share one query."""
    try:
        return user.preferences
    except Preferences.DoesNotExist:
        prefs, _ = Preferences.objects.get_or_create(user=user)
        user.preferences = prefs
        return prefs


def get_account_for_user(user: User, account_id: int) -> MailAccount:
    try:
        return MailAccount.objects.get(pk=account_id, owner=user)
    except MailAccount.DoesNotExist:
        raise Http404 from None  # 404, never 403: do not confirm it exists


def get_folder_for_user(user: User, folder_id: int) -> Folder:
    try:
        return Folder.objects.select_related("account").get(pk=folder_id, account__owner=user)
    except Folder.DoesNotExist:
        raise Http404 from None  # 404, never 403: do not confirm it exists


def get_message_for_user(user: User, message_id: int) -> Message:
    try:
        return Message.objects.select_related("folder__account").get(
            pk=message_id, folder__account__owner=user
        )
    except Message.DoesNotExist:
        raise Http404 from None


@dataclass
class FolderNode:
    folder: Folder
    depth: int
    has_children: bool


@dataclass
class AccountTree:
    account: MailAccount
    folders: list[FolderNode]


def get_trees(user: User) -> list[AccountTree]:
    """Every account with its folder tree: special folders first, then by name, children
    under their parent."""
    trees = []
    accounts = MailAccount.objects.filter(owner=user).order_by("pk")
    folders_by_account: dict[int, list[Folder]] = {}
    for folder in Folder.objects.filter(account__owner=user, selectable=True):
        folders_by_account.setdefault(folder.account_id, []).append(folder)
    for account in accounts:
        folders = folders_by_account.get(account.pk, [])
        specials = sorted((f for f in folders if f.special_use), key=sync_order)
        others = sorted((f for f in folders if not f.special_use), key=lambda f: f.name.lower())
        names = {f.name for f in folders}
        nodes = [FolderNode(f, 0, has_children=False) for f in specials]
        for folder in others:
            prefix = folder.name + folder.delimiter if folder.delimiter else None
            children = prefix is not None and any(n.startswith(prefix) for n in names)
            nodes.append(FolderNode(folder, folder.depth, has_children=children))
        trees.append(AccountTree(account, nodes))
    return trees


def unified_counts(user: User) -> dict[str, int]:
    # Unseen and flagged counts are kept per folder by the sync: no COUNT(*) per page.
    folders = Folder.objects.filter(account__owner=user).values_list(
        "special_use", "unseen", "flagged"
    )
    return {
        "inbox": sum(n for use, n, _flagged in folders if use == Folder.SpecialUse.INBOX),
        "unread": sum(n for use, n, _flagged in folders if use not in NOT_UNREAD_VIEWS),
        "flagged": sum(flagged for _use, _n, flagged in folders),
    }


def _unified_messages(user: User, kind: str) -> QuerySet[Message]:
    base = Message.objects.filter(folder__account__owner=user)
    if kind == "inbox":
        return base.filter(folder__special_use=Folder.SpecialUse.INBOX)
    if kind == "unread":
        return base.filter(seen=False).exclude(folder__special_use__in=NOT_UNREAD_VIEWS)
    if kind == "flagged":
        return base.filter(flagged=True)
    raise Http404


@dataclass
class ListPage:
    rows: list[Any]  # Message, or a conversation row (Message with .thread_count)
    page: int
    pages: int
    total: int
    sort: str


def list_folder(folder: Folder, *, page: int, sort: str, conversations: bool) -> ListPage:
    # Served by the (folder, -internaldate) index for the default sort. Every row is in
    # `folder`: no join, each row gets the folder (and its account) the caller holds.
    result = _paged(
        folder.messages.all(),
        page,
        sort,
        conversations=conversations,
        total_hint=folder.total,
        joined=False,
    )
    for row in result.rows:
        row.folder = folder
    return result


def list_unified(user: User, kind: str, *, page: int, sort: str, conversations: bool) -> ListPage:
    messages = _unified_messages(user, kind)
    # The folder counts the sync keeps, not COUNT(*) over every account's rows.
    count = {"inbox": "total", "unread": "unseen", "flagged": "flagged"}[kind]
    folders = dict(_unified_folders(user, kind).values_list("pk", count))
    total = sum(folders.values())
    merge = connections[messages.db].features.supports_slicing_ordering_in_compound
    if conversations or sort not in MERGED_SORTS or not merge:
        return _paged(messages, page, sort, conversations=conversations, total_hint=total)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    ids = _merged_ids(list(folders), kind, sort, page)
    by_id = Message.objects.select_related("folder__account").in_bulk(ids)
    return ListPage([by_id[pk] for pk in ids if pk in by_id], page, pages, total, sort)


def _unified_folders(user: User, kind: str) -> QuerySet[Folder]:
    folders = Folder.objects.filter(account__owner=user)
    if kind == "inbox":
        return folders.filter(special_use=Folder.SpecialUse.INBOX)
    if kind == "unread":
        return folders.exclude(special_use__in=NOT_UNREAD_VIEWS)
    return folders


def _merged_ids(folder_ids: list[int], kind: str, sort: str, page: int) -> list[int]:
    """One page of a date-sorted unified view: each folder's own newest (or oldest) rows
    from its index, merged. One query over all of them would read and sort every row of
    every folder (half a second at 3 x 100,000)."""
    end = page * PAGE_SIZE
    only = {"unread": Q(seen=False), "flagged": Q(flagged=True)}.get(kind, Q())
    order = SORTS[sort]
    parts = [
        Message.objects.filter(only, folder_id=pk)
        .order_by(*order)
        .values_list("internaldate", "pk")[:end]
        for pk in folder_ids
    ]
    if not parts:
        return []
    merged = parts[0] if len(parts) == 1 else parts[0].union(*parts[1:], all=True).order_by(*order)
    return [pk for _date, pk in merged[end - PAGE_SIZE : end]]


def search_messages(
    user: User,
    query: SearchQuery,
    *,
    within: Folder | str | None,
    page: int,
    sort: str,
    zone: tzinfo,
    server_hits: list[int] | None = None,
) -> ListPage:
    """The messages of a view that match the query: `within` a folder, a unified view
    ("inbox", "unread", "flagged"), or None for every folder of every account. Single
    messages, never conversations: a hit is a message. Reads the cache only; with
    `server_hits` (ids a server search found by the query's words in the message text) the
    words are taken as matched by those and the other terms still apply."""
    messages = _view_messages(user, within)
    if server_hits is not None:
        messages = messages.filter(pk__in=server_hits)
        query = replace(query, words=())
    vendor = connections[messages.db].vendor
    matching = messages.filter(to_filter(query, vendor=vendor, zone=zone))
    sort = sort if sort in SORTS else "date"
    page = max(1, page)
    # Matching is a scan of the view's rows: one pass finds the page and counts the rest
    # (COUNT(*) OVER ()), instead of one pass for the page and another for the count.
    start = (page - 1) * PAGE_SIZE
    window = list(
        matching.annotate(n=Window(Count("pk")))
        .order_by(*SORTS[sort])
        .values_list("pk", "n")[start : start + PAGE_SIZE]
    )
    total = window[0][1] if window else 0
    if not window and page > 1 and (total := matching.count()):  # past the end: the last
        last = -(-total // PAGE_SIZE)
        return search_messages(
            user, query, within=within, page=last, sort=sort, zone=zone, server_hits=server_hits
        )
    by_pk = Message.objects.select_related("folder__account").in_bulk([pk for pk, _ in window])
    rows = [by_pk[pk] for pk, _ in window if pk in by_pk]
    pages = max(1, -(-total // PAGE_SIZE))
    return ListPage(rows, min(page, pages), pages, total, sort)


def _view_messages(user: User, within: Folder | str | None) -> QuerySet[Message]:
    if isinstance(within, Folder):
        if within.account.owner_id != user.pk:
            raise Http404
        return within.messages.all()
    if within is None:
        return Message.objects.filter(folder__account__owner=user)
    return _unified_messages(user, within)


def search_folder_ids(user: User, within: Folder | str | None) -> list[int]:
    """The user's folders a view's messages can be in: what a server search must ask."""
    folders = Folder.objects.filter(account__owner=user, selectable=True)
    if isinstance(within, Folder):
        folders = folders.filter(pk=within.pk)
    elif within == "inbox":
        folders = folders.filter(special_use=Folder.SpecialUse.INBOX)
    elif within == "unread":
        folders = folders.exclude(special_use__in=NOT_UNREAD_VIEWS)
    return list(folders.order_by("pk").values_list("pk", flat=True))


def get_server_search(user: User, token: str) -> dict[str, Any] | None:
    """The latest state of the user's server search `token` ("running", or "done" with
    `ids` and `errors`), from its events; None once pruned or never the user's."""
    event = (
        Event.objects.filter(user=user, kind="search", data__token=token).order_by("-pk").first()
    )
    return dict(event.data) if event is not None else None


def _paged(
    messages: QuerySet[Message],
    page: int,
    sort: str,
    *,
    conversations: bool,
    total_hint: int | None,
    joined: bool = True,
) -> ListPage:
    sort = sort if sort in SORTS else "date"
    if joined:
        messages = messages.select_related("folder__account")
    if conversations:
        return _conversation_page(messages, page, sort)
    total = total_hint if total_hint is not None else messages.count()
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    start = (page - 1) * PAGE_SIZE
    rows = list(messages.order_by(*SORTS[sort])[start : start + PAGE_SIZE])
    return ListPage(rows, page, pages, total, sort)


def _conversation_page(messages: QuerySet[Message], page: int, sort: str) -> ListPage:
    """One row per conversation: its newest message in this view, with the count of its
    messages in the view."""
    threads = (
        messages.filter(THREADED)
        .values("thread")
        .annotate(
            latest=Max("internaldate"), n=Count("pk"), unread=Count("pk", filter=Q(seen=False))
        )
        .order_by("-latest" if sort != "-date" else "latest")
    )
    total = threads.count()
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    start = (page - 1) * PAGE_SIZE
    window = list(threads[start : start + PAGE_SIZE])
    newest = {
        m.thread: m
        for m in messages.filter(THREADED, thread__in=[t["thread"] for t in window]).order_by(
            "internaldate"
        )
    }
    rows = []
    for entry in window:
        message = newest.get(entry["thread"])
        if message is not None:
            message.thread_count = entry["n"]
            message.thread_unread = entry["unread"]
            rows.append(message)
    return ListPage(rows, page, pages, total, sort)


def get_conversation(message: Message) -> list[Message]:
    """Every message of the conversation across the account's folders, oldest first."""
    if not message.thread:
        return [message]
    return list(
        Message.objects.filter(
            THREADED, folder__account_id=message.folder.account_id, thread=message.thread
        )
        .select_related("folder")
        .order_by("internaldate", "pk")
    )
