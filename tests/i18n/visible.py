"""The text a reader sees on a page, and which of it is still English.

Visible text: text nodes and the aria-label, title, placeholder and alt attributes and button values, outside
<script>, <style>, <code>, <pre> and any element marked translate="no" (Kubernetes' own words: object names,
condition reasons and messages, events, the node's YAML). A text is English when, once the allowed words are taken
out, a Latin word of three letters or more is left; identifiers (anything with a digit, '-', '_', '.', '/', '=' or
':' in it: node names, label keys, versions, kubectl flags) never count.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Proper names and Kubernetes' own terms, which stay as they are in the Chinese documentation too.
ALLOWED = {
    "kubenode", "Kubernetes", "kubectl", "kubelet", "Kubelet", "Kube", "proxy", "kubeconfig", "Pod", "Pods", "CPU",
    "GPU", "GPUs", "DaemonSet", "DaemonSets", "PodDisruptionBudget", "PodDisruptionBudgets", "emptyDir", "YAML", "URL",
    "UTF", "MiB", "KiB", "GiB", "metrics", "server", "kube_sim", "API", "CIDR", "UTC", "CST", "Effect",
    "NoSchedule", "PreferNoSchedule", "NoExecute", "Ready", "NotReady", "Unknown", "True", "False", "key", "value",
    "any", "none",  # the Taint key filter's own keywords (typed as they are)
    "English", "Django",  # the language switcher names each language in itself; Django's admin link
    "memory", "postgres", "redis", "polling", "embedded", "standalone",  # notifier and listener names
}
IGNORED_TAGS = {"script", "style", "code", "pre", "noscript", "template"}
TEXT_ATTRS = ("aria-label", "title", "placeholder", "alt")
WORD = re.compile(r"[A-Za-z]{3,}")
IDENTIFIER = re.compile(r"\S*[0-9_./=:\-]\S*")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Texts(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool]] = []  # (tag, hidden from translation)
        self.texts: list[tuple[str, str]] = []  # (where, text)
        self.in_body = False

    def _skipping(self) -> bool:
        return any(skip for _, skip in self.stack)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "body":
            self.in_body = True
        skip = tag in IGNORED_TAGS or attrs.get("translate") == "no"
        if not self._skipping() and not skip and self.in_body:
            for name in TEXT_ATTRS:
                if attrs.get(name):
                    self.texts.append((f"<{tag} {name}>", attrs[name]))
            if tag == "input" and attrs.get("type") in ("submit", "button") and attrs.get("value"):
                self.texts.append((f"<{tag} value>", attrs["value"]))
        if tag not in VOID:
            self.stack.append((tag, skip))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID and self.stack and self.stack[-1][0] == tag:
            self.stack.pop()

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        if self.in_body and data.strip() and not self._skipping():
            where = self.stack[-1][0] if self.stack else "?"
            self.texts.append((f"<{where}>", " ".join(data.split())))


def visible_texts(html: str) -> list[tuple[str, str]]:
    parser = _Texts()
    parser.feed(html)
    return parser.texts


def english_words(text: str, allowed: set[str] = frozenset()) -> list[str]:
    """The English words left in `text` (empty: nothing to translate)."""
    text = IDENTIFIER.sub(" ", text)
    return [w for w in WORD.findall(text) if w not in ALLOWED and w not in allowed]


def english_texts(html: str, allowed: set[str] = frozenset()) -> list[str]:
    out = []
    for where, text in visible_texts(html):
        words = english_words(text, allowed)
        if words:
            out.append(f"{where} {text!r} (English: {', '.join(words)})")
    return list(dict.fromkeys(out))
