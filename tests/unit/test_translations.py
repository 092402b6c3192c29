"""The Persian (fa) catalog: complete, compiled, placeholders intact, and used by the UI.

The .po is parsed with the standard library (no polib); the committed .mo is read with
gettext.GNUTranslations, so CI machines without GNU gettext still check that it is current.
"""

from __future__ import annotations

import gettext
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

PLACEHOLDER = re.compile(r"%(?:\((?P<name>\w+)\))?[-#0 +]*(?:\d+|\*)?(?:\.\d+)?(?P<type>[a-zA-Z%])")
ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


@dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str | None = None
    msgctxt: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)

    @property
    def translations(self) -> list[str]:
        return [self.msgstr[i] for i in sorted(self.msgstr)]


def catalog_dir() -> Path:
    return Path(settings.LOCALE_PATHS[0]) / "fa" / "LC_MESSAGES"


def unquote(line: str) -> str:
    line = line.strip()
    assert line.startswith('"') and line.endswith('"'), line
    return re.sub(r"\\(.)", lambda m: ESCAPES[m.group(1)], line[1:-1])


@cache
def parse_po() -> tuple[Entry, ...]:
    """Entries of django.po, header first; obsolete (#~) entries are left out."""
    entries: list[Entry] = []
    for block in re.split(r"\n[ \t]*\n", (catalog_dir() / "django.po").read_text("utf-8")):
        entry, current, seen = Entry(), None, False
        for line in block.splitlines():
            if line.startswith("#~") or not line.strip():
                continue
            if line.startswith("#,"):
                entry.flags |= {flag.strip() for flag in line[2:].split(",")}
                continue
            if line.startswith("#"):
                continue
            if line.startswith('"'):
                assert current is not None, f"continuation without keyword: {line!r}"
                kind, index = current
            else:
                keyword, _, rest = line.partition(" ")
                match = re.fullmatch(r"(msgctxt|msgid_plural|msgid|msgstr)(?:\[(\d+)\])?", keyword)
                assert match, f"unexpected line in django.po: {line!r}"
                kind, index = match.group(1), int(match.group(2) or 0)
                current, line = (kind, index), rest
                seen = True
                if kind == "msgstr":
                    entry.msgstr[index] = ""
                elif kind == "msgid_plural":
                    entry.msgid_plural = ""
                elif kind == "msgctxt":
                    entry.msgctxt = ""
            text = unquote(line)
            if kind == "msgid":
                entry.msgid += text
            elif kind == "msgid_plural":
                entry.msgid_plural = (entry.msgid_plural or "") + text
            elif kind == "msgctxt":
                entry.msgctxt = (entry.msgctxt or "") + text
            else:
                entry.msgstr[index] += text
        if seen:
            entries.append(entry)
    assert entries and entries[0].msgid == "", "django.po must start with its header"
    return tuple(entries)


def messages() -> list[Entry]:
    return list(parse_po()[1:])


def placeholders(text: str) -> list[str]:
    """Every printf-style placeholder, named or positional; `%%` is not one."""
    return sorted(m.group(0) for m in PLACEHOLDER.finditer(text) if m.group("type") != "%")


def test_the_header_names_persian_and_its_plural_rule() -> None:
    header = parse_po()[0]
    assert "fuzzy" not in header.flags
    assert "Language: fa\n" in header.msgstr[0]
    assert "Plural-Forms: nplurals=2; plural=(n > 1);\n" in header.msgstr[0]
    assert "charset=UTF-8" in header.msgstr[0]


def test_every_entry_is_translated_and_none_is_fuzzy() -> None:
    entries = messages()
    assert len(entries) > 100
    fuzzy = [e.msgid for e in entries if "fuzzy" in e.flags]
    untranslated = [e.msgid for e in entries if not all(e.translations)]
    assert not fuzzy, f"fuzzy entries: {fuzzy}"
    assert not untranslated, f"untranslated entries: {untranslated}"
    wrong_plural = [e.msgid for e in entries if e.msgid_plural is not None and len(e.msgstr) != 2]
    assert not wrong_plural, f"plural entries need msgstr[0] and msgstr[1]: {wrong_plural}"


def test_the_committed_mo_matches_the_po() -> None:
    with (catalog_dir() / "django.mo").open("rb") as mo:
        compiled = gettext.GNUTranslations(mo)
    stale = []
    for e in messages():
        if e.msgid_plural is None:
            got = [
                compiled.pgettext(e.msgctxt, e.msgid)
                if e.msgctxt is not None
                else compiled.gettext(e.msgid)
            ]
        elif e.msgctxt is not None:
            got = [compiled.npgettext(e.msgctxt, e.msgid, e.msgid_plural, n) for n in (1, 2)]
        else:
            got = [compiled.ngettext(e.msgid, e.msgid_plural, n) for n in (1, 2)]
        if got != e.translations:
            stale.append(e.msgid)
    assert not stale, f"django.mo is out of date; run compilemessages -l fa. Differs: {stale}"


def test_msgfmt_accepts_the_po() -> None:
    if shutil.which("msgfmt") is None:
        # `make test` installs gettext (scripts/install-test-deps.sh); CI must not skip this.
        message = "msgfmt missing: run `make test` as root to install Debian's gettext"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    result = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", "/dev/null", str(catalog_dir() / "django.po")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "untranslated" not in result.stderr and "fuzzy" not in result.stderr, result.stderr


def test_every_translation_keeps_the_placeholders_of_its_msgid() -> None:
    broken = []
    for e in messages():
        for i, text in enumerate(e.translations):
            source = e.msgid if (e.msgid_plural is None or i == 0) else e.msgid_plural
            if placeholders(text) != placeholders(source):
                broken.append((e.msgid, i))
    assert not broken, f"placeholders differ from the msgid: {broken}"


def test_placeholders_survive_formatting_in_persian() -> None:
    """Through Django's own gettext, every %(name)x entry formats and shows each value."""
    checked = 0
    with translation.override("fa"):
        for e in messages():
            names = {m.group("name"): m.group("type") for m in PLACEHOLDER.finditer(e.msgid)}
            names.pop(None, None)
            if not names:
                continue
            values: dict[str, object] = {
                name: 7 if kind in "dif" else f"<{name}>" for name, kind in names.items()
            }
            if e.msgid_plural is None:
                texts = [translation.gettext(e.msgid)]
            else:
                texts = [translation.ngettext(e.msgid, e.msgid_plural, n) for n in (1, 2)]
            for text in texts:
                assert text != e.msgid, f"not translated at runtime: {e.msgid!r}"
                formatted = text % values
                for name, kind in names.items():
                    assert ("7" if kind in "dif" else f"<{name}>") in formatted, (e.msgid, name)
            checked += 1
    assert checked > 10


@pytest.mark.parametrize(
    ("english", "persian"),
    [
        ("Sign in", "ورود"),
        ("Sign out", "خروج"),
        ("Settings", "تنظیمات"),
        ("Archive", "بایگانی"),
        ("Spam", "هرزنامه"),
        ("Unread", "خوانده\u200cنشده"),
        ("Folders", "پوشه\u200cها"),
        ("Attachment", "پیوست"),
    ],
)
def test_key_strings_are_persian(english: str, persian: str) -> None:
    with translation.override("fa"):
        assert translation.gettext(english) == persian
        assert translation.get_language_bidi()


def test_plurals_follow_the_persian_rule() -> None:
    with translation.override("fa"):
        one = translation.ngettext("%(n)s attachment", "%(n)s attachments", 1) % {"n": 1}
        many = translation.ngettext("%(n)s attachment", "%(n)s attachments", 3) % {"n": 3}
    assert one == "1 پیوست"
    assert many == "3 پیوست"  # Persian counts with the singular noun


def test_verb_prefixes_and_suffixes_use_the_zwnj() -> None:
    """می/نمی and ها/های/تر/ترین are joined with U+200C, never with a space."""
    loose = re.compile(r"(?:^|\s)ن?می\s|\S\s(?:ها|های|تر|ترین)(?=[\s.،؛:)]|$)")
    offenders = [t for e in messages() for t in e.translations if loose.search(t)]
    assert not offenders, offenders


@pytest.mark.django_db
def test_the_login_page_renders_in_persian_right_to_left(client: Client) -> None:
    response = client.get("/login/", HTTP_ACCEPT_LANGUAGE="fa")
    html = response.content.decode()
    assert response.status_code == 200
    assert response["Content-Language"] == "fa"
    assert '<html lang="fa" dir="rtl">' in html
    assert "<h1>ورود</h1>" in html
    assert "Sign in" not in html
