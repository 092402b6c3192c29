"""Cache search on SQLite, the embedded default: LIKE folds ASCII case only and JSON columns
hold \\u-escaped text there, so the same tests as on Postgres run here too."""

from __future__ import annotations

import pytest
from django.conf import settings

from tests.integration.test_search import (  # noqa: F401 - collected here too
    boxes,
    test_a_server_search_still_running_waits,
    test_dates_are_days_in_the_users_zone,
    test_every_word_must_match_somewhere,
    test_like_wildcards_in_a_term_are_literal,
    test_operators,
    test_persian_names_in_recipient_lists,
    test_scopes_and_ownership,
    test_search_pages_keep_paging_and_sort,
    test_the_pager_keeps_the_search,
    test_the_search_page,
    test_unicode_case_and_persian_spellings,
)

pytestmark = [pytest.mark.embedded, pytest.mark.django_db]


def test_this_leg_is_sqlite() -> None:
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
