"""Label and field selectors, parsed once and matched cheaply against many objects."""

import re

from .errors import bad_request

_IDENT = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_SET_RE = re.compile(rf"^\s*({_IDENT})\s+(in|notin)\s*\(([^)]*)\)\s*$")
_EQ_RE = re.compile(rf"^\s*({_IDENT})\s*(==|!=|=)\s*([-A-Za-z0-9_.]*)\s*$")
_EXISTS_RE = re.compile(rf"^\s*(!?)\s*({_IDENT})\s*$")


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside parentheses; empty terms dropped."""
    return [t for t in (t.strip() for t in _split_terms_raw(text)) if t]


def _split_terms_raw(text: str) -> list[str]:
    terms, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    terms.append("".join(cur))
    return terms


def _check_commas(text: str):
    """Empty terms in a label selector are errors (a field selector ignores them), as on the real server."""
    raw = [t.strip() for t in _split_terms_raw(text)]
    if not text.strip() or all(raw):
        return
    if not raw[0]:
        raise bad_request("found ',', expected: !, identifier, or 'end of string'")
    if not raw[-1] and all(raw[:-1]):
        raise bad_request("found '', expected: identifier after ','")
    raise bad_request("found ',', expected: identifier after ','")


class LabelSelector:
    """`a=b,c!=d,e in (x,y),f notin (z),g,!h` — every term must hold."""

    def __init__(self, text: str | None):
        self.text = text or ""
        self.terms = []  # (op, key, values)
        _check_commas(self.text)
        for term in _split_terms(self.text):
            m = _SET_RE.match(term)
            if m:
                values = {v.strip() for v in m.group(3).split(",") if v.strip()}
                self.terms.append((m.group(2), m.group(1), values))
                continue
            m = _EQ_RE.match(term)
            if m:
                op = "!=" if m.group(2) == "!=" else "="
                self.terms.append((op, m.group(1), m.group(3)))
                continue
            m = _EXISTS_RE.match(term)
            if m:
                self.terms.append(("!" if m.group(1) else "exists", m.group(2), None))
                continue
            raise bad_request(f"unable to parse requirement: found '{term}', expected: valid label selector")

    def __bool__(self):
        return bool(self.terms)

    def equality_terms(self):
        return [(k, v) for op, k, v in self.terms if op == "="]

    def matches(self, labels: dict | None) -> bool:
        labels = labels or {}
        for op, key, value in self.terms:
            present = key in labels
            if op == "=":
                if not present or labels[key] != value:
                    return False
            elif op == "!=":
                if present and labels[key] == value:
                    return False
            elif op == "in":
                if not present or labels[key] not in value:
                    return False
            elif op == "notin":
                if present and labels[key] in value:
                    return False
            elif op == "exists":
                if not present:
                    return False
            elif op == "!":
                if present:
                    return False
        return True


def _dig(obj: dict, path: str):
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


NODE_FIELDS = {"metadata.name", "spec.unschedulable"}
POD_FIELDS = {
    "metadata.name", "metadata.namespace", "spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
    "spec.serviceAccountName", "status.phase", "status.podIP", "status.nominatedNodeName",
}
GENERIC_FIELDS = {"metadata.name", "metadata.namespace"}
EVENT_FIELDS = GENERIC_FIELDS | {
    "involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
    "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
    "reportingComponent", "source", "type",
}


def _field_value(obj: dict, field: str) -> str:
    value = _dig(obj, "source.component" if field == "source" else field)
    if field == "spec.unschedulable":
        return "true" if value else "false"
    return "" if value is None else str(value)


class FieldSelector:
    """`metadata.name=x,spec.nodeName!=y` over a fixed set of supported fields."""

    def __init__(self, text: str | None, supported: set[str]):
        self.text = text or ""
        self.terms = []
        for term in _split_terms(self.text):
            m = re.match(r"^\s*([A-Za-z0-9_.]+)\s*(==|!=|=)\s*(.*?)\s*$", term)
            if not m:
                raise bad_request(f"invalid selector: '{self.text}'; can't understand '{term}'")
            field, op, value = m.groups()
            if field not in supported:
                raise bad_request(f'field label not supported: {field}')
            self.terms.append((field, op != "!=", value))

    def __bool__(self):
        return bool(self.terms)

    def equal_value(self, field: str) -> str | None:
        for f, positive, value in self.terms:
            if f == field and positive:
                return value
        return None

    def matches(self, obj: dict) -> bool:
        for field, positive, value in self.terms:
            if (_field_value(obj, field) == value) != positive:
                return False
        return True


def match_pdb_selector(selector: dict | None, labels: dict | None) -> bool:
    """A LabelSelector object (matchLabels + matchExpressions); an empty selector matches everything."""
    labels = labels or {}
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), set(expr.get("values") or [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True
