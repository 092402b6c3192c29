"""Host rules: organisation lists parse strictly and match names, suffixes and networks."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from accounts import policy


def test_it_matches_exact_names_suffixes_and_networks() -> None:
    rules = ["imap.example.org", ".corp.example", "10.0.0.0/8", "fd00::/8"]
    assert policy.host_matches("IMAP.example.org.", None, rules)
    assert policy.host_matches("mail.corp.example", None, rules)
    assert policy.host_matches("corp.example", None, rules)
    assert policy.host_matches("mx", "10.1.2.3", rules)
    assert policy.host_matches("fd00::1", None, rules)
    assert not policy.host_matches("evil-corp.example", None, rules)
    assert not policy.host_matches("smtp.example.org", "192.168.1.1", rules)


def test_it_lists_every_bad_rule() -> None:
    with pytest.raises(ValidationError) as info:
        policy.validate_host_rules("good.example\nbad host\n10.0.0.0/8\n-x.example")
    assert len(info.value.messages) == 2


def test_it_keeps_good_rules() -> None:
    assert policy.validate_host_rules(" a.example \n\n192.168.0.0/16\n") == [
        "a.example",
        "192.168.0.0/16",
    ]
