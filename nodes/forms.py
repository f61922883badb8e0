"""Forms of the operator pages: label and taint templates."""
from django import forms
from django.core.exceptions import ValidationError

from .models import LabelTaintTemplate
from .validation import EFFECTS

HELP_LABELS = "key=value pairs, separated by commas or new lines"
HELP_REMOVE = "label keys, separated by commas or new lines"
HELP_TAINTS = "key=value:Effect or key:Effect, separated by commas or new lines; Effect is one of " + \
    ", ".join(EFFECTS)


def split_items(text: str) -> list[str]:
    """Items of a text box: separated by commas or new lines, blanks dropped."""
    return [x.strip() for x in (text or "").replace("\n", ",").split(",") if x.strip()]


def parse_labels(text: str) -> dict:
    out = {}
    for item in split_items(text):
        if "=" not in item:
            raise ValidationError(f"{item!r}: expected key=value")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def parse_taints(text: str) -> list[dict]:
    taints = []
    for item in split_items(text):
        head, sep, effect = item.rpartition(":")
        if not sep or effect.strip() not in EFFECTS:
            raise ValidationError(f"{item!r}: expected key=value:Effect with Effect one of {', '.join(EFFECTS)}")
        key, _, value = head.partition("=")
        t = {"key": key.strip(), "effect": effect.strip()}
        if value.strip():
            t["value"] = value.strip()
        taints.append(t)
    return taints


def labels_text(labels: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in (labels or {}).items())


def taints_text(taints: list) -> str:
    return ", ".join(f"{t.get('key')}{'=' + t['value'] if t.get('value') else ''}:{t.get('effect')}"
                     for t in taints or [])


class TemplateForm(forms.ModelForm):
    """A template as text fields; labels and taints are checked with the rules of the label and taint actions."""

    labels_text = forms.CharField(label="Labels to set", required=False, help_text=HELP_LABELS,
                                  widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))
    remove_text = forms.CharField(label="Label keys to remove", required=False, help_text=HELP_REMOVE,
                                  widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))
    taints_text = forms.CharField(label="Taints to add", required=False, help_text=HELP_TAINTS,
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

    def clean_labels_text(self):
        return parse_labels(self.cleaned_data["labels_text"])

    def clean_remove_text(self):
        return split_items(self.cleaned_data["remove_text"])

    def clean_taints_text(self):
        return parse_taints(self.cleaned_data["taints_text"])

    def clean(self):
        from .services import validate_action

        data = super().clean()
        labels, remove, taints = data.get("labels_text"), data.get("remove_text"), data.get("taints_text")
        if labels is None or remove is None or taints is None:
            return data
        if not (labels or remove or taints):
            raise ValidationError("a template sets or removes at least one label, or adds at least one taint")
        try:
            if labels or remove:
                validate_action("label", {"set": labels, "remove": remove})
            if taints:
                validate_action("taint", {"taints": taints})
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None
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
