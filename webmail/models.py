"""Mail models. The event log carries live updates from worker and push to the browser."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models


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
