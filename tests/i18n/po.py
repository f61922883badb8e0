"""A small reader of gettext .po files (the fields the translation tests look at), and the placeholders of a
message: Python's %(name)s / %s and {name}, kept in a translation."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

PLACEHOLDER = re.compile(r"%\((\w+)\)[sdif]|%[sdif]|\{(\w*)\}")


@dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str = ""
    msgctxt: str | None = None
    msgstr: str = ""
    msgstr_plural: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    obsolete: bool = False

    @property
    def translations(self) -> list[str]:
        return list(self.msgstr_plural.values()) if self.msgid_plural else [self.msgstr]

    def name(self) -> str:
        where = f"[{self.msgctxt}] " if self.msgctxt else ""
        return where + repr(self.msgid)


def read(path: Path) -> list[Entry]:
    """Every entry of the file but the header (msgid "")."""
    entries, entry, last = [], Entry(), None

    def flush():
        nonlocal entry
        if entry.msgid or entry.msgstr_plural or entry.msgctxt is not None:
            entries.append(entry)
        entry = Entry()

    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("#~"):
            continue  # obsolete entries do not count
        if line.startswith("#,"):
            if entry.msgid or entry.msgctxt is not None:
                flush()
            entry.flags |= {f.strip() for f in line[2:].split(",")}
            continue
        if not line or line.startswith("#"):
            if not line and (entry.msgid or entry.msgctxt is not None):
                flush()
            continue
        if line.startswith("msgctxt "):
            if entry.msgid:
                flush()
            entry.msgctxt, last = ast.literal_eval(line[8:]), ("msgctxt", None)
        elif line.startswith("msgid_plural "):
            entry.msgid_plural, last = ast.literal_eval(line[13:]), ("msgid_plural", None)
        elif line.startswith("msgid "):
            if entry.msgid:
                flush()
            entry.msgid, last = ast.literal_eval(line[6:]), ("msgid", None)
        elif line.startswith("msgstr["):
            index = int(line[7:line.index("]")])
            entry.msgstr_plural[index] = ast.literal_eval(line[line.index("]") + 2:])
            last = ("msgstr_plural", index)
        elif line.startswith("msgstr "):
            entry.msgstr, last = ast.literal_eval(line[7:]), ("msgstr", None)
        elif line.startswith('"') and last:
            text = ast.literal_eval(line)
            if last[0] == "msgstr_plural":
                entry.msgstr_plural[last[1]] += text
            else:
                setattr(entry, last[0], (getattr(entry, last[0]) or "") + text)
    flush()
    return [e for e in entries if e.msgid]


def placeholders(text: str) -> list[str]:
    """The placeholders of a message, sorted (each %(name)s, %s and {name} once per occurrence)."""
    found = []
    for match in PLACEHOLDER.finditer(text):
        found.append(match.group(0))
    return sorted(found)
