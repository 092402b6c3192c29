"""Organisation host lists parse strictly, listing every bad line."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from accounts import policy


def test_it_lists_every_bad_rule() -> None:
    with pytest.raises(ValidationError) as info:
        policy.validate_host_rules("good.example\nbad host\n10.0.0.0/8\n-x.example")
    assert len(info.value.messages) == 2


def test_it_keeps_good_rules() -> None:
    assert policy.validate_host_rules(" a.example \n\n192.168.0.0/16\n.corp.example") == [
        "a.example",
        "192.168.0.0/16",
        ".corp.example",
    ]
