"""Forms of the operator pages, the command line and the API: a batch of node actions, and label/taint templates.

One syntax everywhere, parsed by the functions here: labels `key=value`, label keys `key`, taints kubectl's
`key=value:Effect` (`key:Effect` without a value; an effect is required to add one; to remove one `key`,
`key:Effect` or kubectl's `key:Effect-`). Items are separated by commas or new lines. Every bad item is reported,
each with what is wrong with it.
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django import forms
from django.core.exceptions import ValidationError
from django.http import QueryDict
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from . import batches, selectors
from .batches import concurrency_limit
from .models import LabelTaintTemplate
from .validation import (
    ACTIONS,
    DRAIN_DEFAULTS,
    EFFECTS,
    check_node_names,
    control_character_error,
    is_reserved,
    label_value_error,
    qualified_name_error,
    require_confirmation,
    selector_error,
)
from .validation import validate_action as _validate_action

EFFECT_LIST = ", ".join(EFFECTS[:-1]) + " or " + EFFECTS[-1]


def effect_list() -> str:
    """NoSchedule, PreferNoSchedule or NoExecute, in the active language."""
    return _("%(some)s or %(last)s") % {"some": ", ".join(EFFECTS[:-1]), "last": EFFECTS[-1]}


HELP_LABELS = gettext_lazy("key=value, separated by commas or new lines")
HELP_REMOVE = gettext_lazy("label keys, separated by commas or new lines")
HELP_TAINTS = gettext_lazy("key=value:Effect or key:Effect, separated by commas or new lines; Effect is "
                           "NoSchedule, PreferNoSchedule or NoExecute")
HELP_UNTAINT = gettext_lazy("key (every effect), key:Effect or key=value:Effect (a taint is one key and effect)")
TEMPLATE_ACTIONS = ("label", "unlabel", "taint", "untaint")
DRAIN_FLAGS = ("ignore_daemonsets", "delete_emptydir_data", "force", "disable_eviction")
DRAIN_NUMBERS = ("grace_period", "timeout", "skip_wait_for_delete_timeout")
TEXT = {"class": "vTextField", "size": "40", "autocomplete": "off", "spellcheck": "false"}


# ---- The parsers ------------------------------------------------------------------------------------------------

def split_items(text) -> list[str]:
    """Items of a text box: separated by commas or new lines, blanks dropped."""
    if isinstance(text, (list, tuple)):
        text = "\n".join(str(t) for t in text)
    return [x.strip() for x in (text or "").replace("\n", ",").split(",") if x.strip()]


def _raise_all(errors: list[str]):
    if errors:
        raise ValidationError(errors)


def parse_labels(text) -> dict:
    """`key=value` items as a mapping; every bad item is reported."""
    out, errors = {}, []
    for item in split_items(text):
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep:
            errors.append(_("%(item)s: expected key=value (to remove a label, list its key under the keys to "
                            "remove)") % {"item": repr(item)})
            continue
        err = qualified_name_error(key)
        if err:
            errors.append(_("%(item)s: invalid label key %(key)s: %(error)s") % {"item": repr(item), "key": repr(key),
                                                                                 "error": err})
            continue
        err = label_value_error(value)
        if err:
            errors.append(_("%(item)s: invalid label value %(value)s: %(error)s") % {
                "item": repr(item), "value": repr(value), "error": err})
            continue
        if key in out and out[key] != value:
            errors.append(_("%(item)s: label %(key)s is given twice, with different values") % {
                "item": repr(item), "key": repr(key)})
            continue
        out[key] = value
    _raise_all(errors)
    return out


def parse_label_keys(text) -> list[str]:
    """Label keys; every bad key is reported."""
    keys, errors = [], []
    for item in split_items(text):
        if "=" in item:
            errors.append(_("%(item)s: give only the key of a label to remove, without =value") % {"item": repr(item)})
            continue
        err = qualified_name_error(item)
        if err:
            errors.append(_("%(item)s: invalid label key: %(error)s") % {"item": repr(item), "error": err})
            continue
        keys.append(item)
    _raise_all(errors)
    return list(dict.fromkeys(keys))


def _effect_error(effect: str) -> str:
    near = next((e for e in EFFECTS if e.lower() == effect.lower()), "")
    if near:
        return _("invalid effect %(effect)s (did you mean %(near)s?): must be %(effects)s") % {
            "effect": repr(effect), "near": near, "effects": effect_list()}
    return _("invalid effect %(effect)s: must be %(effects)s") % {"effect": repr(effect), "effects": effect_list()}


def parse_taint(item: str, *, removal: bool = False) -> dict:
    """One taint in kubectl's syntax: {"key", "value", "effect"} (removal: {"key", "effect"}, effect may be "")."""
    text = item.strip()
    if removal and text.endswith("-"):
        text = text[:-1]
    spec, sep, effect = text.rpartition(":")
    if not sep:
        spec, effect = text, ""
    key, _equals, value = spec.partition("=")
    key, value, effect = key.strip(), value.strip(), effect.strip()
    err = qualified_name_error(key)
    if err:
        raise ValidationError(_("%(item)s: invalid taint key %(key)s: %(error)s") % {
            "item": repr(item), "key": repr(key), "error": err})
    err = label_value_error(value)
    if err:
        raise ValidationError(_("%(item)s: invalid taint value %(value)s: %(error)s") % {
            "item": repr(item), "value": repr(value), "error": err})
    if not effect:
        if removal:
            return {"key": key, "effect": ""}
        raise ValidationError(_("%(item)s: a taint needs an effect: write %(taint)s:Effect with Effect %(effects)s") % {
            "item": repr(item), "taint": f"{key}{'=' + value if value else ''}", "effects": effect_list()})
    if effect not in EFFECTS:
        raise ValidationError(f"{item!r}: {_effect_error(effect)}")
    if removal:
        return {"key": key, "effect": effect}
    return {"key": key, "value": value, "effect": effect} if value else {"key": key, "effect": effect}


def parse_taints(text, *, removal: bool = False) -> list[dict]:
    """Taints in kubectl's syntax; every bad item is reported; a key and effect given twice is refused."""
    taints, errors, seen = [], [], {}
    for item in split_items(text):
        try:
            taint = parse_taint(item, removal=removal)
        except ValidationError as exc:
            errors += exc.messages
            continue
        pair = (taint["key"], taint["effect"])
        if pair in seen:
            if not removal:
                errors.append(_("%(item)s: taint %(taint)s is given twice (a taint is one key and effect)") % {
                    "item": repr(item), "taint": f"{taint['key']}:{taint['effect']}"})
            continue
        seen[pair] = True
        taints.append(taint)
    _raise_all(errors)
    return taints


def labels_text(labels: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in (labels or {}).items())


def taint_text(t: dict) -> str:
    value = t.get("value") or ""
    effect = t.get("effect") or ""
    return f"{t.get('key')}{'=' + value if value else ''}{':' + effect if effect else ''}"


def taints_text(taints: list) -> str:
    return ", ".join(taint_text(t) for t in taints or [])


# ---- Fields -------------------------------------------------------------------------------------------------------

class ItemsField(forms.CharField):
    """A text box of comma/new-line separated items, parsed by `parser` (a list of values is joined first)."""

    def __init__(self, parser, **kwargs):
        self.parser = parser
        kwargs.setdefault("required", False)
        kwargs.setdefault("strip", True)
        super().__init__(**kwargs)

    def to_python(self, value):
        if isinstance(value, (list, tuple)):
            value = "\n".join(str(v) for v in value)
        return self.parser(super().to_python(value))


class WholeNumberField(forms.CharField):
    """A whole number between bounds, with a message that names the field and what was typed."""

    def __init__(self, *, minimum: int, maximum: int | None = None, default: int | None = None, **kwargs):
        self.minimum, self.maximum, self.default = minimum, maximum, default
        kwargs.setdefault("required", False)
        attrs = {"inputmode": "numeric", "class": "vIntegerField", "min": str(minimum)}
        if maximum is not None:
            attrs["max"] = str(maximum)
        kwargs.setdefault("widget", forms.NumberInput(attrs=attrs))
        super().__init__(**kwargs)

    def to_python(self, value):
        if isinstance(value, bool) or isinstance(value, (list, dict, float)):  # JSON that is not a whole number
            raise ValidationError(_("%(field)s must be a whole number%(range)s; %(value)s is not one") % {
                "field": self.label, "range": self._range(), "value": repr(value)}, code="invalid")
        if isinstance(value, int):
            value = str(value)
        text = super().to_python(value).strip()
        if text == "":
            return self.default
        try:
            number = int(text)
        except ValueError:
            raise ValidationError(_("%(field)s must be a whole number%(range)s; %(value)s is not one") % {
                "field": self.label, "range": self._range(), "value": repr(text)}, code="invalid") from None
        self.check(number)
        return number

    def _range(self) -> str:
        if self.maximum is None:
            return _(" of at least %(minimum)s") % {"minimum": self.minimum}
        return _(" from %(minimum)s to %(maximum)s") % {"minimum": self.minimum, "maximum": self.maximum}

    def check(self, number: int):
        if number < self.minimum or (self.maximum is not None and number > self.maximum):
            raise ValidationError(_("%(field)s must be a whole number%(range)s; %(value)s is not") % {
                "field": self.label, "range": self._range(), "value": number}, code="range")


@dataclass
class Target:
    """What a batch acts on: explicit names, a label selector (with optional list filters), or all nodes."""

    names: list[str] | None = None
    selector: str = ""
    all_nodes: bool = False
    filters: dict | None = None  # q, status, role, taint of the node list, applied after the selector

    @property
    def filtered(self) -> bool:
        return bool(self.filters and any(self.filters.values()))


class BatchActionForm(forms.Form):
    """A batch of one node action: the action and its parameters, the targets, the concurrency.

    Bound to a POST of the node pages, to the options of `node_batch`, or to the JSON of the API (values may be
    lists and booleans there). `cleaned_data["params"]` holds the action's parameters as the engine takes them,
    `self.target` the targets, `cleaned_data["concurrency"]` the nodes at once (0: the limit). `start(user)` starts
    the batch through nodes.batches; `resolve_names()` gives the nodes a preview shows.
    """

    action = forms.ChoiceField(label=gettext_lazy("Action"), choices=[(a, a) for a in ACTIONS])
    template = forms.ModelChoiceField(label=gettext_lazy("Apply template"), queryset=LabelTaintTemplate.objects.all(),
                                      required=False, empty_label=gettext_lazy("(none)"),
                                      error_messages={"invalid_choice": gettext_lazy(
                                          "unknown template: it may have been deleted")})
    set = ItemsField(parse_labels, label=gettext_lazy("Labels to set"), help_text=HELP_LABELS,
                     widget=forms.TextInput(TEXT))
    remove = ItemsField(parse_label_keys, label=gettext_lazy("Label keys to remove"), help_text=HELP_REMOVE,
                        widget=forms.TextInput(TEXT))
    taints = ItemsField(str, label=gettext_lazy("Taints"), help_text=HELP_TAINTS,
                        widget=forms.TextInput(TEXT))  # parsed in clean
    confirm_reserved = forms.BooleanField(label=gettext_lazy("change keys under kubernetes.io/ or k8s.io/, add "
                                                             "NoExecute taints"),
                                          required=False)
    reason = forms.CharField(label=gettext_lazy("Reason"), required=False, max_length=1000,
                             widget=forms.TextInput(TEXT),
                             help_text=gettext_lazy("recorded on the node and in the audit log"))
    ignore_daemonsets = forms.BooleanField(label=pgettext_lazy("drain option", "ignore DaemonSets"), required=False,
                                           initial=DRAIN_DEFAULTS["ignore_daemonsets"],
                                           help_text=gettext_lazy("skip DaemonSet-managed pods (their controller "
                                                                  "ignores cordon)"))
    delete_emptydir_data = forms.BooleanField(label=pgettext_lazy("drain option", "delete emptyDir data"),
                                              required=False, initial=DRAIN_DEFAULTS["delete_emptydir_data"],
                                              help_text=gettext_lazy("evict pods with emptyDir volumes; their data "
                                                                     "is lost"))
    force = forms.BooleanField(label=pgettext_lazy("drain option", "force (unmanaged pods)"), required=False,
                               initial=DRAIN_DEFAULTS["force"],
                               help_text=gettext_lazy("evict pods that no controller will recreate"))
    disable_eviction = forms.BooleanField(label=pgettext_lazy("drain option", "disable eviction (delete)"),
                                          required=False, initial=DRAIN_DEFAULTS["disable_eviction"],
                                          help_text=gettext_lazy("delete pods instead of evicting them: bypasses "
                                                                 "PodDisruptionBudgets"))
    grace_period = WholeNumberField(label=gettext_lazy("Grace period (s)"), minimum=-1, maximum=86400,
                                    default=DRAIN_DEFAULTS["grace_period"], initial=DRAIN_DEFAULTS["grace_period"],
                                    help_text=gettext_lazy("-1: each pod's own"))
    timeout = WholeNumberField(label=gettext_lazy("Timeout (s)"), minimum=1, maximum=86400,
                               default=DRAIN_DEFAULTS["timeout"], initial=DRAIN_DEFAULTS["timeout"],
                               help_text=gettext_lazy("per node, for its pods to go"))
    pod_selector = forms.CharField(label=gettext_lazy("Pod selector"), required=False, widget=forms.TextInput(TEXT),
                                   help_text=gettext_lazy("only pods matching this label selector"))
    skip_wait_for_delete_timeout = WholeNumberField(
        label=gettext_lazy("Skip wait for delete timeout (s)"), minimum=0, maximum=86400,
        default=DRAIN_DEFAULTS["skip_wait_for_delete_timeout"],
        initial=DRAIN_DEFAULTS["skip_wait_for_delete_timeout"],
        help_text=gettext_lazy("do not wait for pods deleted longer ago than this (0: always wait)"))
    concurrency = WholeNumberField(label=gettext_lazy("Concurrency"), minimum=1, default=0,
                                   help_text=gettext_lazy("nodes at once; empty: the limit"))
    # targets
    node = forms.MultipleChoiceField(required=False)  # choices are not enumerated: names are checked on start
    targets = forms.CharField(required=False)  # the names a preview resolved, comma-separated
    select_all = forms.BooleanField(required=False, label=gettext_lazy("select all matching"))
    all_nodes = forms.BooleanField(required=False)
    selector = forms.CharField(required=False, label=gettext_lazy("Label selector"))
    q = forms.CharField(required=False)
    status = forms.CharField(required=False)
    role = forms.CharField(required=False)
    taint = forms.CharField(required=False)

    def __init__(self, data=None, *args, cluster=None, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(data, *args, **kwargs)
        self.cluster = cluster
        self.target: Target | None = None
        self.fields["node"].valid_value = lambda value: True
        action = (data if data is not None else kwargs.get("initial") or {}).get("action")
        taints = self.fields["taints"]
        taints.widget.attrs.update({"data-label-add": _("Taints to add"), "data-label-remove": _("Taints to remove"),
                                    "data-help-add": HELP_TAINTS, "data-help-remove": HELP_UNTAINT})
        removal = action in ("untaint", "unlabel")
        taints.label = _("Taints to remove") if removal else _("Taints to add")
        taints.help_text = HELP_UNTAINT if removal else HELP_TAINTS
        if action in ACTIONS:  # the limit shows in the messages and in the input's max
            limit = concurrency_limit(action)
            self.fields["concurrency"].maximum = limit
            self.fields["concurrency"].widget.attrs.update(max=str(limit), placeholder=str(limit))
            self.fields["concurrency"].help_text = _("nodes at once, 1 to %(limit)s; empty: %(limit)s") % {
                "limit": limit}

    # -- fields ----------------------------------------------------------------------------------------------

    def clean_reason(self):
        return " ".join(self.cleaned_data["reason"].split())

    def clean_pod_selector(self):
        value = self.cleaned_data["pod_selector"].strip()
        if value and selector_error(value):
            raise ValidationError(_("invalid pod selector %(selector)s: %(error)s") % {
                "selector": repr(value), "error": selector_error(value)})
        return value

    def clean_selector(self):
        value = self.cleaned_data["selector"].strip()
        if value and selector_error(value):
            raise ValidationError(_("invalid label selector %(selector)s: %(error)s") % {
                "selector": repr(value), "error": selector_error(value)})
        return value

    # -- the whole batch ---------------------------------------------------------------------------------------

    def clean(self):
        data = super().clean()
        action = data.get("action")
        if not action:
            return data
        params = self._params(action, data)
        if params is not None:
            try:
                data["params"] = _validate_action(action, params)
            except ValidationError as exc:
                self.add_error(self._field_of(action, self._english(action, params) or exc), exc.messages)
            else:
                try:
                    require_confirmation(action, params)
                except ValidationError as exc:
                    self.add_error("confirm_reserved", exc.messages)
        concurrency = data.get("concurrency")
        if concurrency:
            field = self.fields["concurrency"]
            field.maximum = concurrency_limit(action)
            try:
                field.check(concurrency)
            except ValidationError as exc:
                self.add_error("concurrency", exc)
        self.target = self._target(data)
        return data

    def _taints_of(self, action: str, data) -> list[dict] | None:
        try:
            return parse_taints(data.get("taints") or "", removal=action in ("untaint", "unlabel"))
        except ValidationError as exc:
            self.add_error("taints", exc)
            return None

    def _params(self, action: str, data) -> dict | None:
        """The action's parameters from the fields and the chosen template (typed values added to it)."""
        template = data.get("template")
        if template is not None and action not in TEMPLATE_ACTIONS:
            self.add_error("template", _("a template applies with the label, unlabel, taint or untaint action, not "
                                         "%(action)s") % {"action": action})
            return None
        if "set" in self.errors or "remove" in self.errors:
            return None
        to_set, remove = data.get("set") or {}, data.get("remove") or []
        if action in ("label", "unlabel", "taint", "untaint"):
            taints = self._taints_of(action, data) if action in ("taint", "untaint") or data.get("taints") else []
            if taints is None:
                return None
        if action == "label":
            params = {"set": {**(template.labels if template else {}), **to_set},
                      "remove": list(dict.fromkeys([*(template.remove_labels if template else []), *remove])),
                      "confirm_reserved": data.get("confirm_reserved", False)}
            template_taints = list(template.taints) if template else []
            if template_taints or taints:
                params["taints"] = _merge_taints(template_taints, taints)
            return params
        if action == "unlabel":
            params = {"remove": list(dict.fromkeys([*(template.labels if template else {}), *remove])),
                      "confirm_reserved": data.get("confirm_reserved", False)}
            template_taints = [{"key": t.get("key"), "effect": t.get("effect", "")}
                               for t in (template.taints if template else [])]
            if template_taints or taints:
                params["taints"] = _merge_taints(template_taints, taints)
            return params
        if action == "taint":
            return {"taints": _merge_taints(list(template.taints) if template else [], taints),
                    "confirm_reserved": data.get("confirm_reserved", False)}
        if action == "untaint":
            return {"taints": _merge_taints([{"key": t.get("key"), "effect": t.get("effect", "")}
                                             for t in (template.taints if template else [])], taints),
                    "confirm_reserved": data.get("confirm_reserved", False)}
        if action == "cordon":
            return {"reason": data.get("reason", "")}
        if action == "uncordon":
            return {}
        if any(name in self.errors for name in (*DRAIN_NUMBERS, "pod_selector")):
            return None
        return {"reason": data.get("reason", ""), **{name: data.get(name) for name in DRAIN_FLAGS},
                **{name: data.get(name) for name in DRAIN_NUMBERS}, "pod_selector": data.get("pod_selector", "")}

    @staticmethod
    def _english(action: str, params: dict) -> ValidationError | None:
        """The validation error of `params` in English: the field it belongs to is told from its words."""
        with translation.override("en"):
            try:
                _validate_action(action, params)
            except ValidationError as exc:
                return ValidationError(exc.messages)
        return None

    @staticmethod
    def _field_of(action: str, exc: ValidationError) -> str | None:
        text = " ".join(exc.messages)
        if action in ("taint", "untaint") or "taint" in text:
            return "taints"
        if action == "label":
            return "set" if "remove" not in text and "label" in text else "remove"
        if action == "unlabel":
            return "remove"
        for name in ("pod_selector", "reason", *DRAIN_NUMBERS):
            if name in text:
                return name
        return None

    def _target(self, data) -> Target | None:
        names = split_items(data.get("targets") or "") or [n for n in data.get("node") or [] if n.strip()]
        filters = {k: (data.get(k) or "").strip() for k in ("q", "status", "role", "taint")}
        if names:
            names = list(dict.fromkeys(n.strip() for n in names))
            try:
                check_node_names(names)
            except ValidationError as exc:
                self.add_error(None, exc.messages)
                return None
            return Target(names=names)
        if data.get("select_all"):
            if "selector" in self.errors:
                return None
            return Target(selector=data.get("selector") or "", filters=filters,
                          all_nodes=not data.get("selector"))
        if data.get("all_nodes"):
            return Target(all_nodes=True)
        if data.get("selector"):
            return Target(selector=data["selector"])
        self.add_error(None, _("no node selected: tick nodes in the list, or select all matching"))
        return None

    # -- using it ----------------------------------------------------------------------------------------------

    def resolve_names(self) -> list[str]:
        """The node names the batch acts on, as a preview shows them (list filters applied to a selection)."""
        t = self.target
        if t.names is not None:
            return selectors.check_names(self.cluster, t.names)
        nodes = selectors.cached_nodes(self.cluster, label_selector=t.selector)
        names = [n.name for n in selectors.filter_nodes(nodes, **(t.filters or {}))]
        if not names:
            raise ValidationError(_("no node matches the filter") if t.filtered or t.selector
                                  else _("cluster %(cluster)s has no nodes") % {"cluster": self.cluster.name})
        return names

    def start(self, user, names: list[str] | None = None, via_token: str = ""):
        """Start the batch (nodes.batches.start_batch). A preview passes the names it showed; the API the name of
        the access token it was asked with."""
        data = self.cleaned_data
        t = self.target
        if names is None and t.names is None and t.filtered:
            names = self.resolve_names()
        if names is not None or t.names is not None:
            return batches.start_batch(user, self.cluster, data["action"], data["params"],
                                       names=names if names is not None else t.names,
                                       concurrency=data["concurrency"] or 0, via_token=via_token)
        return batches.start_batch(user, self.cluster, data["action"], data["params"],
                                   selector=t.selector or None, all_nodes=t.all_nodes and not t.selector,
                                   concurrency=data["concurrency"] or 0, via_token=via_token)

    def error_messages(self, names: dict | None = None) -> list[str]:
        """Every error, prefixed by its field's label (or by `names[field]`, e.g. a command-line flag)."""
        out = []
        for name, errors in self.errors.items():
            field = self.fields.get(name)
            flag = (names or {}).get(name)
            label = str(field.label) if field is not None and field.label else ""
            for e in errors:
                if flag:
                    out.append(f"{flag}: {e}")
                elif label and not e.startswith(label):
                    out.append(f"{label}: {e}")
                else:
                    out.append(e)
        return out


def _merge_taints(first: list[dict], second: list[dict]) -> list[dict]:
    """Taints of a template then typed ones; a typed taint replaces the template's with the same key and effect."""
    out = {(t.get("key"), t.get("effect", "")): dict(t) for t in first}
    for t in second:
        out[(t.get("key"), t.get("effect", ""))] = dict(t)
    return list(out.values())


# ---- Form data from parameters (a retry's preview, the state kept across pages, the command line) -------------

FORM_STATE_FIELDS = ("action", "template", "set", "remove", "taints", "confirm_reserved", "reason", *DRAIN_FLAGS,
                     *DRAIN_NUMBERS, "pod_selector", "concurrency")


def data_from_params(action: str, params: dict) -> dict:
    """Form data that parses back into `params` of `action` (as stored on a task)."""
    params = params or {}
    data = {"action": action}
    if action in ("label", "unlabel"):
        data["set"] = labels_text(params.get("set") or {})
        data["remove"] = ", ".join(params.get("remove") or [])
        data["taints"] = taints_text(params.get("taints") or [])
        if params.get("confirm_reserved"):
            data["confirm_reserved"] = "on"
    elif action in ("taint", "untaint"):
        data["taints"] = taints_text(params.get("taints") or [])
        if params.get("confirm_reserved"):
            data["confirm_reserved"] = "on"
    elif action == "cordon":
        data["reason"] = params.get("reason", "")
    elif action == "drain":
        merged = {**DRAIN_DEFAULTS, **params}
        data["reason"] = merged.get("reason") or ""
        data.update({name: "on" for name in DRAIN_FLAGS if merged.get(name)})
        data.update({name: str(merged[name]) for name in DRAIN_NUMBERS})
        data["pod_selector"] = merged.get("pod_selector") or ""
    return data


STATE_MAX_NAMES = 500  # the largest page of the node list; a larger selection is not carried in a URL


def state_query(data, names: list[str] | None = None, select_all: bool = False) -> str:
    """The typed values and the selection of a batch form, as one query string (kept across pages)."""
    pairs = []
    for name in FORM_STATE_FIELDS:
        values = data.getlist(name) if hasattr(data, "getlist") else [data.get(name)]
        pairs += [(name, v) for v in values if v not in (None, "", False)]
    if select_all:
        pairs.append(("select_all", "on"))
    if names and len(names) <= STATE_MAX_NAMES:
        pairs += [("node", n) for n in names]
    return urlencode(pairs)


def state_from_query(text: str) -> QueryDict:
    return QueryDict(text or "")


def data_with_defaults(data: dict) -> dict:
    """Data for a caller that is not an HTML form (command line, API, a link): options left out take their
    defaults."""
    out = dict(data)
    for name in (*DRAIN_FLAGS, *DRAIN_NUMBERS):
        out.setdefault(name, DRAIN_DEFAULTS[name])
    return out


# ---- Templates ---------------------------------------------------------------------------------------------------

class TemplateForm(forms.ModelForm):
    """A template as text fields, parsed with the batch form's parsers; every error beside its field."""

    labels_text = ItemsField(parse_labels, label=gettext_lazy("Labels to set"), help_text=HELP_LABELS,
                             widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))
    remove_text = ItemsField(parse_label_keys, label=gettext_lazy("Label keys to remove"), help_text=HELP_REMOVE,
                             widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))
    taints_text = ItemsField(parse_taints, label=gettext_lazy("Taints to add"), help_text=HELP_TAINTS,
                             widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))

    class Meta:
        model = LabelTaintTemplate
        fields = ["name", "description"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self.initial.update(labels_text=labels_text(self.instance.labels),
                                remove_text=", ".join(self.instance.remove_labels or []),
                                taints_text=taints_text(self.instance.taints))

    def _no_control_characters(self, name: str):
        value = self.cleaned_data.get(name, "")
        error = control_character_error(value)
        if error:
            raise ValidationError(f"{name} {error}")
        return value

    def clean_name(self):
        return self._no_control_characters("name")

    def clean_description(self):
        return self._no_control_characters("description")

    def clean(self):
        data = super().clean()
        labels, remove, taints = data.get("labels_text"), data.get("remove_text"), data.get("taints_text")
        if labels is None or remove is None or taints is None:
            return data
        if not (labels or remove or taints):
            raise ValidationError(_("a template sets or removes at least one label, or adds at least one taint"))
        for field, keys in (("labels_text", list(labels)), ("remove_text", remove)):
            reserved = [k for k in keys if is_reserved(k)]
            if reserved:
                self.add_error(field, _("%(keys)s: under a reserved Kubernetes prefix (kubernetes.io/ or k8s.io/); a "
                                        "template does not change such labels") % {"keys": ", ".join(reserved)})
        both = sorted(set(labels) & set(remove))
        if both:
            self.add_error("remove_text", _("label key(s) both set and removed: %(keys)s") % {"keys": ", ".join(both)})
        return data

    def save(self, commit=True, user=None):
        obj = super().save(commit=False)
        obj.labels = self.cleaned_data["labels_text"]
        obj.remove_labels = self.cleaned_data["remove_text"]
        obj.taints = self.cleaned_data["taints_text"]
        if user is not None and not obj.created_by:
            obj.created_by = user.get_username()
        if commit:
            obj.save()
        return obj
