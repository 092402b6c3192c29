"""Mail models: the cache of upstream folders and envelopes, and the per-user event log.

IMAP stays the source of truth: every row here can be rebuilt from the server.
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.models import MailAccount


class Event(models.Model):
    """One event on a user's stream; its id is the SSE event id a tab resumes from."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    kind = models.CharField(max_length=32)
    data = models.JSONField(default=dict)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        # Listeners ask "events of user U after id N": served by this index.
        indexes: ClassVar = [models.Index(fields=["user", "id"])]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} for user {self.user_id}"


class Folder(models.Model):
    class SpecialUse(models.TextChoices):
        INBOX = "inbox", _("Inbox")
        SENT = "sent", _("Sent")
        DRAFTS = "drafts", _("Drafts")
        TRASH = "trash", _("Trash")
        JUNK = "junk", _("Junk")
        ARCHIVE = "archive", _("Archive")

    account = models.ForeignKey(MailAccount, on_delete=models.CASCADE, related_name="folders")
    name = models.CharField(max_length=1000)  # decoded from modified UTF-7
    raw_name = models.CharField(max_length=1000)  # as on the wire, for commands
    delimiter = models.CharField(max_length=4, blank=True)
    special_use = models.CharField(max_length=8, choices=SpecialUse.choices, blank=True)
    subscribed = models.BooleanField(default=True)
    selectable = models.BooleanField(default=True)

    # Sync state. highestmodseq is stored only once a sync completes, so a crash replays
    # the interrupted work instead of skipping it.
    uidvalidity = models.BigIntegerField(null=True)
    uidnext = models.BigIntegerField(null=True)
    highestmodseq = models.BigIntegerField(null=True)
    complete = models.BooleanField(default=False)  # every server UID is cached
    total = models.PositiveIntegerField(default=0)
    unseen = models.PositiveIntegerField(default=0)
    flagged = models.PositiveIntegerField(default=0)  # for the unified Flagged count, no COUNT(*)
    last_synced = models.DateTimeField(null=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["account", "raw_name"], name="folder_unique_name")
        ]
        ordering: ClassVar = ["account", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def depth(self) -> int:
        return self.name.count(self.delimiter) if self.delimiter else 0

    @property
    def leaf_name(self) -> str:
        return self.name.rsplit(self.delimiter, 1)[-1] if self.delimiter else self.name


# Rows the second pass has put in a conversation (webmail/sync/threads.py).
THREADED = ~Q(thread="")


class Message(models.Model):
    """One cached envelope. Unique by (folder, uid): reruns of a sync never duplicate."""

    # No index of its own: (folder, uid) and (folder, internaldate) lead with it.
    folder = models.ForeignKey(
        Folder, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    uid = models.BigIntegerField()
    # System flags as booleans (list pages filter on them), keywords as a sorted list.
    seen = models.BooleanField(default=False)
    flagged = models.BooleanField(default=False)
    answered = models.BooleanField(default=False)
    draft = models.BooleanField(default=False)
    deleted = models.BooleanField(default=False)
    keywords = models.JSONField(default=list)
    modseq = models.BigIntegerField(null=True)

    internaldate = models.DateTimeField()
    size = models.PositiveIntegerField(default=0)
    subject = models.TextField(blank=True)
    from_name = models.CharField(max_length=300, blank=True)
    from_email = models.CharField(max_length=320, blank=True)
    to = models.JSONField(default=list)  # [[name, email], ...]
    cc = models.JSONField(default=list)
    reply_to = models.JSONField(default=list)
    date = models.DateTimeField(null=True)
    message_id = models.CharField(max_length=998, blank=True)
    in_reply_to = models.CharField(max_length=998, blank=True)
    references = models.TextField(blank=True)
    list_id = models.CharField(max_length=500, blank=True)
    preview = models.CharField(max_length=300, blank=True)
    has_attachments = models.BooleanField(default=False)
    # Second pass done: preview, References and List-Id read (they are not in ENVELOPE).
    details = models.BooleanField(default=False)
    # Conversation: the Message-ID of the thread's root as far as the account knows it
    # (webmail/sync/threads.py); empty until assigned.
    thread = models.CharField(max_length=998, blank=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["folder", "uid"], name="message_unique_uid")
        ]
        # Every index costs each of the 100,000 rows of a first sync its insert, so: the list
        # page's, partial ones for the unread and flagged views (read, unflagged mail is most
        # mail), and the conversation lookups only for threaded rows (`thread` is empty at
        # insert and set by the second pass, off the first sync's path). Queries on those
        # columns say `~Q(thread="")` too, so the planner can use them.
        indexes: ClassVar = [
            # The list page: newest first within a folder.
            models.Index(fields=["folder", "-internaldate"], name="message_folder_date"),
            models.Index(
                fields=["folder", "-internaldate"],
                condition=Q(seen=False),
                name="message_folder_unseen",
            ),
            models.Index(
                fields=["folder", "-internaldate"],
                condition=Q(flagged=True),
                name="message_folder_flagged",
            ),
            models.Index(fields=["thread"], condition=THREADED, name="message_thread"),
            models.Index(fields=["message_id"], condition=THREADED, name="message_message_id"),
            models.Index(fields=["in_reply_to"], condition=THREADED, name="message_in_reply_to"),
        ]

    # Set on the rows of a conversation list (webmail.queries); 0 on any other row, so the
    # template's lookup never fails.
    thread_count = 0
    thread_unread = 0

    def __str__(self) -> str:
        return f"{self.folder_id}:{self.uid} {self.subject[:40]}"

    @property
    def flags(self) -> frozenset[str]:
        system = {
            "\\Seen": self.seen,
            "\\Flagged": self.flagged,
            "\\Answered": self.answered,
            "\\Draft": self.draft,
            "\\Deleted": self.deleted,
        }
        return frozenset([name for name, on in system.items() if on] + list(self.keywords))


class MessageBody(models.Model):
    """Raw source fetched on demand; evictable by size (the envelope row stays)."""

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="body")
    raw = models.BinaryField()
    size = models.PositiveIntegerField()
    fetched = models.DateTimeField(auto_now_add=True)
    last_read = models.DateTimeField(auto_now=True, db_index=True)

    def __str__(self) -> str:
        return f"body of {self.message_id} ({self.size} bytes)"


class SyncLock(models.Model):
    """Per-folder lock, claimed with a conditional UPDATE (works on SQLite, where
    select_for_update does nothing). A holder that dies leaves it to expire."""

    folder = models.OneToOneField(Folder, on_delete=models.CASCADE, primary_key=True)
    holder = models.CharField(max_length=64, blank=True)
    expires = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"lock on folder {self.folder_id} by {self.holder or 'nobody'}"


class UndoableAction(models.Model):
    """A user's change that can be taken back (webmail/actions.py): only the newest one, once,
    for a few minutes. Its steps say exactly what to reverse."""

    class State(models.TextChoices):
        ACTIVE = "active"  # can be undone (its write-back may still be running)
        UNDOING = "undoing"  # undo asked for; the undo task is on it
        UNDONE = "undone"
        FAILED = "failed"  # could not be undone; the page was told why

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="undoable_actions"
    )
    state = models.CharField(max_length=8, choices=State.choices, default=State.ACTIVE)
    count = models.PositiveIntegerField(default=0)  # messages the action named
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"undoable action #{self.pk} of user {self.user_id} ({self.state})"


class UndoStep(models.Model):
    """One folder's part of an undoable action. Flags: the UIDs whose flag the action really
    changed (read from the cache at action time). Move: the source UIDs, and once the
    write-back ran, the server's old -> new UID pairs in `dest` (COPYUID, RFC 4315)."""

    class State(models.TextChoices):
        PENDING = "pending"  # the write-back task has not written it upstream yet
        DONE = "done"  # written; a move's `mapping` holds the new UIDs
        UNMAPPED = "unmapped"  # moved, but the server did not say where: cannot be undone
        UNDONE = "undone"

    action = models.ForeignKey(UndoableAction, on_delete=models.CASCADE, related_name="steps")
    folder = models.ForeignKey(Folder, on_delete=models.CASCADE, related_name="+")
    dest = models.ForeignKey(Folder, on_delete=models.CASCADE, null=True, related_name="+")
    uids = models.JSONField(default=list)
    flags = models.JSONField(default=list)
    add = models.BooleanField(default=False)
    mapping = models.JSONField(default=list)  # [[old uid, new uid], ...]
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)

    def __str__(self) -> str:
        return f"step #{self.pk} of undoable action {self.action_id} ({self.state})"
