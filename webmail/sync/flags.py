"""IMAP flag sets <-> the columns of a cached Message."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

SYSTEM_FLAGS = {
    "\\seen": "seen",
    "\\flagged": "flagged",
    "\\answered": "answered",
    "\\draft": "draft",
    "\\deleted": "deleted",
}
# \Recent is per-session (RFC 3501 2.3.2): never cache it.
IGNORED = {"\\recent"}


def flag_columns(flags: Iterable[str]) -> dict[str, Any]:
    columns: dict[str, Any] = dict.fromkeys(SYSTEM_FLAGS.values(), False)
    keywords: set[str] = set()
    for flag in flags:
        lower = flag.lower()
        if lower in SYSTEM_FLAGS:
            columns[SYSTEM_FLAGS[lower]] = True
        elif lower not in IGNORED and not flag.startswith("\\"):
            keywords.add(flag)
    columns["keywords"] = sorted(keywords)
    return columns


def normalise(flags: Iterable[str]) -> frozenset[str]:
    """The flag set as we cache it, for comparisons with the server's answer."""
    columns = flag_columns(flags)
    names = {v: k for k, v in SYSTEM_FLAGS.items()}
    system = {names[col] for col in SYSTEM_FLAGS.values() if columns[col]}
    return frozenset(system | set(columns["keywords"]))


def row_flags(row: dict[str, Any]) -> frozenset[str]:
    """Same normal form from a values() row of Message."""
    system = {flag for flag, col in SYSTEM_FLAGS.items() if row[col]}
    return frozenset(system | set(row["keywords"]))
