"""Which upstream mail hosts a user may point the server at.

The operator's environment allows public addresses plus WEBMAIL_ALLOWED_MAIL_HOSTS; an
organisation's list can only narrow that: a host must pass both.
"""

from __future__ import annotations

import ipaddress

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_host_rule(rule: str) -> str | Network:
    """A rule is a CIDR/IP, a host name, or a domain suffix starting with a dot."""
    text = rule.strip().lower()
    if not text:
        raise ValidationError(_("Empty host rule."))
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        pass
    name = text[1:] if text.startswith(".") else text
    labels = name.rstrip(".").split(".")
    if not all(label and len(label) <= 63 and _is_label(label) for label in labels):
        raise ValidationError(
            _("“%(rule)s” is not a host name, domain (.example.org) or network (10.0.0.0/8).")
            % {"rule": rule.strip()}
        )
    return text


def _is_label(label: str) -> bool:
    return all(ch.isalnum() or ch in "-_" for ch in label) and not label.startswith("-")


def host_matches(host: str, address: str | None, rules: list[str]) -> bool:
    """True if the host name or its resolved address matches one of the rules."""
    name = host.strip().lower().rstrip(".")
    ip = None
    for candidate in (address, name):
        if candidate:
            try:
                ip = ipaddress.ip_address(candidate.strip("[]"))
                break
            except ValueError:
                continue
    for raw in rules:
        rule = parse_host_rule(raw)
        if isinstance(rule, str):
            if rule.startswith(".") and (name.endswith(rule) or name == rule[1:]):
                return True
            if name == rule.rstrip("."):
                return True
        elif ip is not None and ip.version == rule.version and ip in rule:
            return True
    return False


def validate_host_rules(text: str) -> list[str]:
    """Parse an organisation's list (one rule per line); raise listing every bad line."""
    rules = [line.strip() for line in text.splitlines() if line.strip()]
    errors = []
    for rule in rules:
        try:
            parse_host_rule(rule)
        except ValidationError as exc:
            errors.extend(exc.messages)
    if errors:
        raise ValidationError(errors)
    return rules
