"""The Simplified Chinese catalogues: every message of the project translated, every placeholder kept, and no
marked string of the code missing from them (each failure names the messages)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.i18n.po import placeholders, read

ROOT = Path(__file__).resolve().parents[2]
LOCALE = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES"
DOMAINS = ("django", "djangojs")
SOURCES = ("templates", "static", "manage.py")  # and every Django app of the checkout (a directory with apps.py)


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_message_is_translated(domain):
    entries = read(LOCALE / f"{domain}.po")
    assert len(entries) > (300 if domain == "django" else 20)
    missing = [e.name() for e in entries if not all(t.strip() for t in e.translations)]
    fuzzy = [e.name() for e in entries if "fuzzy" in e.flags]
    assert not missing, f"{domain}.po: {len(missing)} message(s) without a translation:\n" + "\n".join(missing)
    assert not fuzzy, f"{domain}.po: {len(fuzzy)} fuzzy (guessed) translation(s) to check:\n" + "\n".join(fuzzy)


@pytest.mark.parametrize("domain", DOMAINS)
def test_translations_keep_every_placeholder(domain):
    wrong = []
    for e in read(LOCALE / f"{domain}.po"):
        wanted = placeholders(e.msgid_plural or e.msgid)
        for text in e.translations:
            if placeholders(text) != wanted:
                wrong.append(f"{e.name()}: {wanted} but {placeholders(text)} in {text!r}")
    assert not wrong, f"{domain}.po: placeholders dropped or changed:\n" + "\n".join(wrong)


def test_placeholder_check_sees_a_dropped_or_renamed_placeholder():
    assert placeholders("%(count)s nodes of {cluster}") == ["%(count)s", "{cluster}"]
    assert placeholders("节点") != placeholders("%(count)s nodes")
    assert placeholders("%(counts)s 个") != placeholders("%(count)s nodes")


def test_catalogues_hold_every_marked_string(tmp_path):
    """makemessages over a copy of the sources: a string marked in the code but absent from the catalogues fails,
    named (run `manage.py makemessages -l zh_Hans` and `-d djangojs`, then translate; docs/i18n.md)."""
    apps = [d.name for d in ROOT.iterdir() if (d / "apps.py").exists() and d.name != "kubesim"]
    assert {"kubenode", "nodes", "progress"} <= set(apps)
    for name in (*SOURCES, *apps, "kubesim"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / name)
    env = {"DEBUG": "1", "PATH": "/usr/bin:/bin", "KUBENODE_DATA_DIR": str(tmp_path / "var"),
           "PYTHONPATH": str(tmp_path)}
    for domain in DOMAINS:
        done = subprocess.run([sys.executable, "manage.py", "makemessages", "-d", domain, "-l", "zh_Hans",
                               "--no-location", "--ignore=var"], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
    for domain in DOMAINS:
        fresh = {(e.msgctxt, e.msgid) for e in read(tmp_path / "locale" / "zh_Hans" / "LC_MESSAGES" / f"{domain}.po")}
        have = {(e.msgctxt, e.msgid) for e in read(LOCALE / f"{domain}.po")}
        assert len(fresh) > 20, f"makemessages found only {len(fresh)} strings for {domain}"
        missing = sorted(fresh - have, key=str)
        assert not missing, (f"{domain}.po lacks {len(missing)} marked string(s) (makemessages, then translate):\n"
                             + "\n".join(f"[{c}] {m!r}" if c else repr(m) for c, m in missing))
