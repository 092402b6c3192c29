"""Organisation host lists: validated with the same rules the connection code enforces
(webmail/protocols/hosts.py), so what an admin saves is what is applied."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from webmail.protocols.hosts import parse_rule


def validate_host_rules(text: str) -> list[str]:
    """Parse an organisation's list (one rule per line); raise listing every bad line."""
    rules = [line.strip() for line in text.splitlines() if line.strip()]
    errors = []
    for rule in rules:
        try:
            parse_rule(rule)
        except ValueError as exc:
            errors.append(str(exc))
    if errors:
        raise ValidationError(errors)
    return rules
