"""What one user may hold at once: the operator's defaults (settings), lowered by the
organisation's policy where it sets a smaller number. Never raised by it."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from accounts.models import Organisation, User


@dataclass(frozen=True)
class UserLimits:
    accounts: int
    event_streams: int
    server_searches: int


def _lowered(operator: int, org: int | None) -> int:
    return operator if org is None else max(1, min(operator, org))


def limits_for_organisation(organisation: Organisation) -> UserLimits:
    return UserLimits(
        accounts=_lowered(settings.MAX_ACCOUNTS_PER_USER, organisation.max_accounts_per_user),
        event_streams=_lowered(
            settings.MAX_EVENT_STREAMS_PER_USER, organisation.max_event_streams_per_user
        ),
        server_searches=_lowered(
            settings.MAX_SERVER_SEARCHES_PER_USER, organisation.max_server_searches_per_user
        ),
    )


def limits_for(user: User) -> UserLimits:
    return limits_for_organisation(user.organisation)
