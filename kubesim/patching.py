"""The three patch types of the Kubernetes API: strategic merge, JSON merge (RFC 7386), JSON patch (RFC 6902)."""

import copy

from .errors import ApiError

STRATEGIC = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"

# Lists merged element by element on this key (as the real Go types declare with patchMergeKey).
# Lists not named here (spec.taints among them) are replaced as a whole.
MERGE_KEYS = {
    ("status", "conditions"): "type",
    ("status", "addresses"): "type",
    ("metadata", "ownerReferences"): "uid",
    ("spec", "containers"): "name",
    ("spec", "initContainers"): "name",
    ("spec", "volumes"): "name",
}


def apply_patch(obj: dict, content_type: str, patch) -> dict:
    """Return a patched deep copy of obj; raise ApiError 415/422/400 for bad patches."""
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype == STRATEGIC:
        _need_dict(patch)
        return _strategic(copy.deepcopy(obj), patch, ())
    if ctype == MERGE:
        _need_dict(patch)
        return _merge(copy.deepcopy(obj), patch)
    if ctype == JSON_PATCH:
        if not isinstance(patch, list):
            raise ApiError(400, "json: cannot unmarshal object into Go value of type jsonpatch.Patch")
        return json_patch(copy.deepcopy(obj), patch)
    raise ApiError(415, f'the body of the request was in an unknown format - accepted media types include: '
                        f'{JSON_PATCH}, {MERGE}, {STRATEGIC}, {APPLY}', reason="UnsupportedMediaType")


def _need_dict(patch):
    if not isinstance(patch, dict):
        raise ApiError(400, "json: cannot unmarshal array into Go value of type map[string]interface {}")


def _merge(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = _merge(target.get(key), value)
    return target


def _strategic(target, patch, path):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    if not isinstance(target, dict):
        target = {}
    for key, value in patch.items():
        if key.startswith("$"):  # $setElementOrder/..., $retainKeys, $deleteFromPrimitiveList/...
            continue
        if value is None:
            target.pop(key, None)
            continue
        sub = path + (key,)
        if isinstance(value, list) and sub in MERGE_KEYS and isinstance(target.get(key), list):
            target[key] = _merge_list(target[key], value, MERGE_KEYS[sub], sub)
        else:
            merged = _strategic(target.get(key), value, sub)
            if merged is None:
                target.pop(key, None)
            else:
                target[key] = merged
    return target


def _merge_list(current: list, patch: list, key: str, path):
    result = [copy.deepcopy(item) for item in current]
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise ApiError(400, f"map: {item!r} does not contain declared merge key: {key}")
        index = next((i for i, old in enumerate(result) if isinstance(old, dict) and old.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                result.pop(index)
            continue
        if index is None:
            result.append({k: v for k, v in item.items() if not k.startswith("$")})
        else:
            result[index] = _strategic(result[index], item, path)
    return result


# --- RFC 6902 ---------------------------------------------------------------------------------------

def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise _unprocessable(f'invalid JSON pointer "{path}"')
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _unprocessable(message: str) -> ApiError:
    return ApiError(422, message, reason="Invalid")


def _parent(doc, parts, path, create=False):
    cur = doc
    for part in parts[:-1]:
        if isinstance(cur, dict):
            if part not in cur:
                raise _unprocessable(f"the server rejected our request due to an error in our request: "
                                     f"doc is missing path: \"{path}\": missing value")
            cur = cur[part]
        elif isinstance(cur, list):
            cur = cur[_index(cur, part, path)]
        else:
            raise _unprocessable(f'doc is missing path: "{path}": missing value')
    return cur


def _index(lst, part, path, allow_end=False):
    if part == "-" and allow_end:
        return len(lst)
    try:
        i = int(part)
    except ValueError:
        raise _unprocessable(f'invalid index "{part}" in path "{path}"') from None
    limit = len(lst) if allow_end else len(lst) - 1
    if i < 0 or i > limit:
        raise _unprocessable(f'unable to access invalid index: {i} in path "{path}"')
    return i


def _get(doc, path):
    parts = _pointer(path)
    if not parts:
        return doc
    parent = _parent(doc, parts, path)
    last = parts[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _unprocessable(f'doc is missing path: "{path}": missing value')
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, path)]
    raise _unprocessable(f'doc is missing path: "{path}": missing value')


def _add(doc, path, value):
    parts = _pointer(path)
    if not parts:
        return value
    parent = _parent(doc, parts, path)
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, path, allow_end=True), value)
    else:
        raise _unprocessable(f'doc is missing path: "{path}": missing value')
    return doc


def _remove(doc, path):
    parts = _pointer(path)
    parent = _parent(doc, parts, path)
    last = parts[-1] if parts else ""
    if isinstance(parent, dict):
        if last not in parent:
            raise _unprocessable(f'the server rejected our request due to an error in our request: '
                                 f'unable to remove nonexistent key: {last}: missing value')
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(parent, last, path))
    raise _unprocessable(f'doc is missing path: "{path}": missing value')


def json_patch(doc, operations: list) -> dict:
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise ApiError(400, "json patch operation is missing 'op' or 'path'")
        kind, path = op["op"], op["path"]
        if kind in ("add", "replace", "test") and "value" not in op:
            raise _unprocessable(f'the server rejected our request due to an error in our request: '
                                 f'"{kind}" operation on "{path}" is missing "value"')
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op["value"]))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            _get(doc, path)  # must exist
            parts = _pointer(path)
            if not parts:
                doc = copy.deepcopy(op["value"])
            else:
                parent = _parent(doc, parts, path)
                if isinstance(parent, list):
                    parent[_index(parent, parts[-1], path)] = copy.deepcopy(op["value"])
                else:
                    parent[parts[-1]] = copy.deepcopy(op["value"])
        elif kind == "test":
            if _get(doc, path) != op["value"]:
                raise _unprocessable(f'the server rejected our request due to an error in our request: '
                                     f'testing value {path} failed: test failed')
        elif kind == "move":
            value = _remove(doc, op.get("from", ""))
            doc = _add(doc, path, value)
        elif kind == "copy":
            doc = _add(doc, path, copy.deepcopy(_get(doc, op.get("from", ""))))
        else:
            raise ApiError(400, f'Unexpected kind: {kind}')
    return doc
