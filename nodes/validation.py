"""Kubernetes' own validation rules (label keys and values, taints) and action parameter normalisation."""

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

NAME_RE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
RESERVED_SUFFIXES = ("kubernetes.io", "k8s.io")
ACTIONS = ("label", "unlabel", "taint", "untaint", "cordon", "uncordon", "drain")
MAX_REASON = 1000
MAX_NODES = 20000  # targets of one batch (progress.services.MAX_NODES)
NODE_NAME_MAX = 253
# C0 control characters and DEL; tab, newline and carriage return are allowed where text spans lines (textareas)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_STRICT = re.compile(r"[\x00-\x1f\x7f]")


def control_character_error(text, *, multiline: bool = False) -> str:
    """Why `text` cannot be accepted (it holds a control character, e.g. NUL), or ""."""
    if not isinstance(text, str):
        return ""
    match = (_CONTROL if multiline else _CONTROL_STRICT).search(text)
    if match:
        return _("contains a control character (%(code)s), which is not allowed") % {
            "code": f"U+{ord(match.group()):04X}"}
    return ""


def node_name_error(name) -> str:
    """Why `name` is not a Kubernetes node name (a lowercase RFC 1123 subdomain, at most 253 characters), or "".
    Checked before any API call: `.` and `..` would otherwise be normalised into other paths."""
    if not isinstance(name, str) or not name:
        return _("a node name must be a non-empty string")
    if len(name) > NODE_NAME_MAX or not DNS_SUBDOMAIN_RE.match(name):
        shown = name if len(name) <= 80 else name[:80] + "…"
        shown = shown.encode("unicode_escape").decode("ascii")
        return _("%(name)s is not a valid node name (lower case letters, digits, '-' and '.', starting and ending "
                 "with a letter or digit, at most %(max)s characters)") % {"name": repr(shown), "max": NODE_NAME_MAX}
    return ""


def check_node_names(names: list[str]) -> list[str]:
    """The names, each checked as a node name; ValidationError naming the first bad ones, or too many."""
    if len(names) > MAX_NODES:
        raise ValidationError(_("%(count)s nodes given: a batch acts on at most %(max)s nodes") % {
            "count": len(names), "max": MAX_NODES})
    bad = [err for err in (node_name_error(n) for n in names) if err]
    if bad:
        more = " " + _("(and %(count)s more)") % {"count": len(bad) - 3} if len(bad) > 3 else ""
        raise ValidationError("; ".join(bad[:3]) + more)
    return names
# kubectl drain's options and the one set of defaults the pages, the command line and the API share. DaemonSet pods
# are skipped by default: their controller ignores cordon and would put them back at once.
DRAIN_DEFAULTS = {"ignore_daemonsets": True, "delete_emptydir_data": False, "force": False, "grace_period": -1,
                  "timeout": 300, "pod_selector": "", "disable_eviction": False, "skip_wait_for_delete_timeout": 0}


def qualified_name_error(key) -> str:
    """Why `key` is not a valid qualified name ([prefix/]name), or "" when it is."""
    if not isinstance(key, str) or not key:
        return _("must be a non-empty string")
    parts = key.split("/")
    if len(parts) > 2:
        return _("a qualified name has at most one '/' (e.g. 'example.com/MyName')")
    if len(parts) == 2:
        prefix, name = parts
        if not prefix:
            return _("prefix part must be non-empty")
        if len(prefix) > 253:
            return _("prefix part must be no more than 253 characters")
        if not DNS_SUBDOMAIN_RE.match(prefix):
            return _("prefix part must be a lowercase RFC 1123 subdomain (lower case alphanumerics, '-' or '.', "
                     "starting and ending with an alphanumeric character, e.g. 'example.com')")
    else:
        name = parts[0]
    if not name:
        return _("name part must be non-empty")
    if len(name) > 63:
        return _("name part must be no more than 63 characters")
    if not NAME_RE.match(name):
        return _("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                 "with an alphanumeric character (e.g. 'MyName', 'my.name' or '123-abc')")
    return ""


def label_value_error(value) -> str:
    if not isinstance(value, str):
        return _("must be a string")
    if value == "":
        return ""
    if len(value) > 63:
        return _("must be no more than 63 characters")
    if not NAME_RE.match(value):
        return _("must be empty or consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                 "with an alphanumeric character (e.g. 'MyValue', 'my_value' or '12345')")
    return ""


def is_reserved(key: str) -> bool:
    """Keys under kubernetes.io/ or k8s.io/ (including subdomains such as node-role.kubernetes.io/)."""
    if "/" not in key:
        return False
    prefix = key.split("/", 1)[0]
    return any(prefix == s or prefix.endswith("." + s) for s in RESERVED_SUFFIXES)


def _check_key(key, what: str, confirm_reserved: bool):
    err = qualified_name_error(key)
    if err:
        raise ValidationError((_("invalid label key %(key)s: %(error)s") if what == "label" else
                               _("invalid taint key %(key)s: %(error)s")) % {"key": repr(key), "error": err})
    if is_reserved(key) and not confirm_reserved:
        raise ValidationError(
            (_("label key %(key)s is under a reserved Kubernetes prefix (kubernetes.io/ or k8s.io/); confirm "
               "explicitly to change it") if what == "label" else
             _("taint key %(key)s is under a reserved Kubernetes prefix (kubernetes.io/ or k8s.io/); confirm "
               "explicitly to change it")) % {"key": repr(key)}
        )


def _bool(params, name, default=False) -> bool:
    value = params.get(name, default)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off", ""):
        return value.lower() in ("true", "1", "yes", "on")
    if value is None:
        return default
    raise ValidationError(_("%(name)s must be true or false") % {"name": name})


def _int(params, name, default, minimum, maximum) -> int:
    value = params.get(name, default)
    if value is None or value == "":
        value = default
    try:
        if isinstance(value, bool):
            raise ValueError
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationError(_("%(name)s must be a whole number") % {"name": name}) from None
    if number < minimum or number > maximum:
        raise ValidationError(_("%(name)s must be between %(minimum)s and %(maximum)s") % {
            "name": name, "minimum": minimum, "maximum": maximum})
    return number


def _confirmed(params) -> dict:
    """`confirm_reserved` kept in a taint batch's parameters when given (a retry of it stays confirmed)."""
    return {"confirm_reserved": True} if _bool(params, "confirm_reserved") else {}


def _reason(params) -> str:
    reason = params.get("reason") or ""
    if not isinstance(reason, str):
        raise ValidationError(_("reason must be text"))
    err = control_character_error(reason, multiline=True)
    if err:
        raise ValidationError(_("reason %(error)s") % {"error": err})
    reason = " ".join(reason.split())
    if len(reason) > MAX_REASON:
        raise ValidationError(_("reason must be at most %(max)s characters") % {"max": MAX_REASON})
    return reason


def _key_list(value, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise ValidationError(_("%(name)s must be a list of keys") % {"name": what})
    return [k.strip() if isinstance(k, str) else k for k in value]


def validate_taint(taint, *, require_effect=True) -> dict:
    if not isinstance(taint, dict):
        raise ValidationError(_("each taint must be an object with key, value and effect"))
    key = taint.get("key")
    key = key.strip() if isinstance(key, str) else key
    err = qualified_name_error(key)
    if err:
        raise ValidationError(_("invalid taint key %(key)s: %(error)s") % {"key": repr(key), "error": err})
    value = taint.get("value") or ""
    err = label_value_error(value)
    if err:
        raise ValidationError(_("invalid taint value %(value)s for key %(key)s: %(error)s") % {
            "value": repr(value), "key": repr(key), "error": err})
    effect = taint.get("effect") or ""
    if effect or require_effect:
        if effect not in EFFECTS:
            raise ValidationError(
                _("invalid taint effect %(effect)s for key %(key)s: must be one of %(effects)s") % {
                    "effect": repr(effect), "key": repr(key), "effects": ", ".join(EFFECTS)}
            )
    out = {"key": key, "effect": effect}
    if require_effect:
        out["value"] = value
    return out


def _taints(taints: list, *, add: bool) -> list[dict]:
    """Taints to add (key, value, effect; unique by key and effect) or to remove (key, optional effect)."""
    clean = [validate_taint(t, require_effect=add) for t in taints]
    if add:
        seen = set()
        for t in clean:
            pair = (t["key"], t["effect"])
            if pair in seen:
                raise ValidationError(_("duplicate taint %(taint)s: taints must be unique by key and effect") % {
                    "taint": f"{t['key']}:{t['effect']}"})
            seen.add(pair)
    return clean


def adds_noexecute(action: str, params: dict) -> bool:
    """Whether the batch puts a NoExecute taint on its nodes (which evicts every pod not tolerating it, ignoring
    PodDisruptionBudgets: a drain by another name)."""
    if action not in ("taint", "label"):
        return False
    taints = (params or {}).get("taints") or []
    return isinstance(taints, list) and any(isinstance(t, dict) and t.get("effect") == "NoExecute" for t in taints)


def require_confirmation(action: str, params: dict) -> None:
    """Reserved taint keys (kubernetes.io/, k8s.io/) and NoExecute taints need the same explicit confirmation as
    reserved label keys (`confirm_reserved`) at every batch entry point; raises ValidationError otherwise."""
    params = params or {}
    if action not in ("taint", "untaint", "label", "unlabel") or _bool(params, "confirm_reserved"):
        return
    taints = params.get("taints") or []
    if not isinstance(taints, list):
        return
    keys = sorted({t.get("key") for t in taints if isinstance(t, dict) and isinstance(t.get("key"), str)
                   and is_reserved(t.get("key").strip())})
    if keys:
        raise ValidationError(_("taint key %(key)s is under a reserved Kubernetes prefix (kubernetes.io/ or k8s.io/); "
                                "confirm explicitly to change it") % {"key": ", ".join(keys)})
    if adds_noexecute(action, params):
        raise ValidationError(_("a NoExecute taint evicts every pod that does not tolerate it, ignoring "
                                "PodDisruptionBudgets; confirm explicitly to add it"))


def validate_action(action: str, params: dict | None) -> dict:
    """Normalised parameters for `action`; raises ValidationError with a clear message. Makes no API call."""
    if action not in ACTIONS:
        raise ValidationError(_("unknown action %(action)s: must be one of %(actions)s") % {
            "action": repr(action), "actions": ", ".join(ACTIONS)})
    params = dict(params or {})
    if action in ("label", "unlabel"):
        confirm = _bool(params, "confirm_reserved")
        to_set = params.get("set") or {} if action == "label" else {}
        if not isinstance(to_set, dict):
            raise ValidationError(_("set must be a mapping of label keys to values"))
        remove = _key_list(params.get("remove"), "remove")
        clean_set = {}
        for key, value in to_set.items():
            key = key.strip() if isinstance(key, str) else key
            _check_key(key, "label", confirm)
            value = "" if value is None else value
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                value = str(value)
            err = label_value_error(value)
            if err:
                raise ValidationError(_("invalid label value %(value)s for key %(key)s: %(error)s") % {
                    "value": repr(value), "key": repr(key), "error": err})
            clean_set[key] = value
        for key in remove:
            _check_key(key, "label", confirm)
        both = sorted(set(clean_set) & set(remove))
        if both:
            raise ValidationError(_("label key(s) both set and removed: %(keys)s") % {"keys": ", ".join(both)})
        # a template applies its taints in the same batch: label adds them, unlabel takes them off
        taints = params.get("taints") or []
        if not isinstance(taints, list):
            raise ValidationError(_("taints must be a list of taints"))
        clean_taints = _taints(taints, add=action == "label") if taints else []
        if not clean_set and not remove and not clean_taints:
            raise ValidationError(_("nothing to change: give at least one label to set or remove"))
        out = {"set": clean_set, "remove": sorted(set(remove)), "confirm_reserved": confirm}
        if clean_taints:
            out["taints"] = clean_taints
        return out
    if action == "taint":
        taints = params.get("taints")
        if not isinstance(taints, list) or not taints:
            raise ValidationError(_("give at least one taint (key, value, effect)"))
        return {"taints": _taints(taints, add=True), **_confirmed(params)}
    if action == "untaint":
        taints = params.get("taints")
        if not isinstance(taints, list) or not taints:
            raise ValidationError(_("give at least one taint key to remove"))
        return {"taints": _taints(taints, add=False), **_confirmed(params)}
    if action == "cordon":
        return {"reason": _reason(params)}
    if action == "uncordon":
        return {}
    # drain
    pod_selector = params.get("pod_selector") or ""
    if not isinstance(pod_selector, str):
        raise ValidationError(_("pod_selector must be a label selector string"))
    pod_selector = pod_selector.strip()
    if pod_selector:
        err = selector_error(pod_selector)
        if err:
            raise ValidationError(_("invalid pod_selector %(selector)s: %(error)s") % {"selector": repr(pod_selector),
                                                                                       "error": err})
    return {
        "reason": _reason(params),
        "ignore_daemonsets": _bool(params, "ignore_daemonsets", DRAIN_DEFAULTS["ignore_daemonsets"]),
        "delete_emptydir_data": _bool(params, "delete_emptydir_data", DRAIN_DEFAULTS["delete_emptydir_data"]),
        "force": _bool(params, "force", DRAIN_DEFAULTS["force"]),
        "grace_period": _int(params, "grace_period", DRAIN_DEFAULTS["grace_period"], -1, 86400),
        "timeout": _int(params, "timeout", DRAIN_DEFAULTS["timeout"], 1, 86400),
        "pod_selector": pod_selector,
        "disable_eviction": _bool(params, "disable_eviction", DRAIN_DEFAULTS["disable_eviction"]),
        "skip_wait_for_delete_timeout": _int(params, "skip_wait_for_delete_timeout",
                                             DRAIN_DEFAULTS["skip_wait_for_delete_timeout"], 0, 86400),
    }


_SET_RE = re.compile(r"^\s*(!)?\s*([^\s!=,()]+)\s*(?:(==|=|!=)\s*([^\s,()]*)|\s+(in|notin)\s*\(([^)]*)\))?\s*$")


def _split_selector(selector: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return parts


def parse_selector(selector: str) -> list[tuple]:
    """Parse a label selector into (op, key, values) requirements; raises ValueError when invalid."""
    reqs = []
    for part in _split_selector(selector):
        if not part.strip():
            raise ValueError(_("empty requirement"))
        m = _SET_RE.match(part)
        if not m:
            raise ValueError(_("cannot parse %(part)s") % {"part": repr(part.strip())})
        neg, key, op, value, setop, values = m.groups()
        err = qualified_name_error(key)
        if err:
            raise ValueError(_("invalid key %(key)s: %(error)s") % {"key": repr(key), "error": err})
        if neg and (op or setop):
            raise ValueError(_("cannot parse %(part)s") % {"part": repr(part.strip())})
        if op:
            err = label_value_error(value)
            if err:
                raise ValueError(_("invalid value %(value)s: %(error)s") % {"value": repr(value), "error": err})
            reqs.append(("!=" if op == "!=" else "=", key, [value]))
        elif setop:
            vals = [v.strip() for v in values.split(",")]
            for v in vals:
                err = label_value_error(v)
                if err:
                    raise ValueError(_("invalid value %(value)s: %(error)s") % {"value": repr(v), "error": err})
            reqs.append((setop, key, vals))
        else:
            reqs.append(("!" if neg else "exists", key, []))
    return reqs


def selector_error(selector: str) -> str:
    try:
        parse_selector(selector)
    except ValueError as exc:
        return str(exc)
    return ""
