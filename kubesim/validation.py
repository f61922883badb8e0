"""Validation of labels, taints and node spec, with the field paths and messages of the real server."""

import re

from .errors import invalid

NAME_RE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
_NAME_MSG = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
             "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
             "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
              "must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
              "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
_PREFIX_MSG = ("prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
               "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
               "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")


def qualified_name_errors(key) -> list[str]:
    """Errors of a label key / taint key ([prefix/]name); empty when valid."""
    if not isinstance(key, str):
        return ["must be a string"]
    errors = []
    parts = key.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errors.append("prefix part must be non-empty")
        elif len(prefix) > 253:
            errors.append("prefix part must be no more than 253 characters")
        elif not DNS_SUBDOMAIN_RE.match(prefix):
            errors.append(_PREFIX_MSG)
    else:
        return ["a qualified name " + _NAME_MSG.replace("name part ", "") + " with an optional DNS subdomain "
                "prefix and '/' (e.g. 'example.com/MyName')"]
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > 63:
        errors.append("name part must be no more than 63 characters")
    if not NAME_RE.match(name):  # checked apart from the length, like the real server (two errors for "")
        errors.append(_NAME_MSG)
    return errors


def label_value_errors(value) -> list[str]:
    if not isinstance(value, str):
        return ["must be a string"]
    if value == "":
        return []
    errors = []
    if len(value) > 63:
        errors.append("must be no more than 63 characters")
    if not NAME_RE.match(value):
        errors.append(_VALUE_MSG)
    return errors


def _cause(field, message, value=None, reason="FieldValueInvalid"):
    if reason == "FieldValueInvalid":
        message = f"Invalid value: {_go_repr(value)}: {message}"
    elif reason == "FieldValueRequired":
        message = f"Required value: {message}" if message else "Required value"
    elif reason == "FieldValueNotSupported":
        message = f"Unsupported value: {_go_repr(value)}: {message}"
    elif reason == "FieldValueDuplicate":
        message = f"Duplicate value: {message}"
    return {"reason": reason, "message": message, "field": field}


def _go_repr(value):
    if isinstance(value, str):
        return '"' + value + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                  "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                  "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
_LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
              "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
              "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def name_causes(obj: dict, kind: str) -> list[dict]:
    """metadata.name on create: required; a DNS-1123 label for namespaces, a subdomain for the rest."""
    name = (obj.get("metadata") or {}).get("name")
    if not name:
        return [_cause("metadata.name", "name or generateName is required", reason="FieldValueRequired")]
    if kind == "Namespace":
        ok, msg, limit = DNS_LABEL_RE.match(name), _LABEL_MSG, 63
    else:
        ok, msg, limit = DNS_SUBDOMAIN_RE.match(name), _SUBDOMAIN_MSG, 253
    causes = [] if len(name) <= limit else [_cause("metadata.name", f"must be no more than {limit} characters",
                                                   name)]
    if not ok:
        causes.append(_cause("metadata.name", msg, name))
    return causes


def metadata_causes(obj: dict) -> list[dict]:
    causes = []
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    if not isinstance(labels, dict):
        return [_cause("metadata.labels", "must be a map", labels)]
    for key, value in labels.items():
        for msg in qualified_name_errors(key):
            causes.append(_cause("metadata.labels", msg, key))
        for msg in label_value_errors(value):
            causes.append(_cause("metadata.labels", msg, value))
    annotations = meta.get("annotations") or {}
    if not isinstance(annotations, dict):
        causes.append(_cause("metadata.annotations", "must be a map", annotations))
    else:
        for key, value in annotations.items():
            for msg in qualified_name_errors(key):
                causes.append(_cause("metadata.annotations", msg, key))
            if not isinstance(value, str):
                causes.append(_cause(f"metadata.annotations[{key}]", "must be a string", value))
    return causes


def taint_causes(taints) -> list[dict]:
    if taints is None:
        return []
    if not isinstance(taints, list):
        return [_cause("spec.taints", "must be a list", taints)]
    causes, seen = [], set()
    for i, taint in enumerate(taints):
        base = f"metadata.taints[{i}]"  # sic: the real server reports taints under metadata
        if not isinstance(taint, dict):
            causes.append(_cause(base, "must be an object", taint))
            continue
        key, value, effect = taint.get("key"), taint.get("value", ""), taint.get("effect")
        for msg in qualified_name_errors(key if key is not None else ""):
            causes.append(_cause(f"{base}.key", msg, key if key is not None else ""))
        for msg in label_value_errors(value if value is not None else ""):
            causes.append(_cause(f"{base}.value", msg, value))
        if not effect:
            causes.append(_cause(f"{base}.effect", "", reason="FieldValueRequired"))
        elif effect not in EFFECTS:
            causes.append(_cause(f"{base}.effect", 'supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"',
                                 effect, reason="FieldValueNotSupported"))
        pair = (key, effect)
        if pair in seen:
            causes.append({"reason": "FieldValueDuplicate",
                           "message": f"Duplicate value: {_go_taint(taint)}: taints must be unique by key and "
                                      f"effect pair", "field": f"{base}"})
        seen.add(pair)
    return causes


def _go_taint(taint):
    return "core.Taint{{Key:{}, Value:{}, Effect:{}, TimeAdded:<nil>}}".format(
        _go_repr(taint.get("key", "")), _go_repr(taint.get("value", "")), _go_repr(taint.get("effect", "")))


def validate_node(node: dict, create: bool = False):
    name = (node.get("metadata") or {}).get("name", "")
    causes = (name_causes(node, "Node") if create else []) + metadata_causes(node)
    spec = node.get("spec") or {}
    if not isinstance(spec, dict):
        causes.append(_cause("spec", "must be an object", spec))
    else:
        causes += taint_causes(spec.get("taints"))
        unschedulable = spec.get("unschedulable")
        if unschedulable is not None and not isinstance(unschedulable, bool):
            causes.append(_cause("spec.unschedulable", "must be a boolean", unschedulable))
    if causes:
        raise invalid("Node", name, causes)


def validate_generic(obj: dict, kind: str, group: str = "", create: bool = False):
    name = (obj.get("metadata") or {}).get("name", "")
    causes = (name_causes(obj, kind) if create else []) + metadata_causes(obj)
    if causes:
        raise invalid(kind, name, causes, group)
