"""How batches read on the pages: a batch's parameters in words, drain reasons, what an audit entry changed, the
title of a task's progress dialog."""
from __future__ import annotations

import uuid

from django import template

from kubenode import access
from nodes.forms import labels_text, taint_text, taints_text
from nodes.validation import DRAIN_DEFAULTS
from progress.models import ProgressTask

register = template.Library()

DRAIN_OPTION_LABELS = {"ignore_daemonsets": "ignore DaemonSets", "delete_emptydir_data": "delete emptyDir data",
                       "force": "force (unmanaged pods)", "disable_eviction": "disable eviction (delete)"}


@register.filter
def batch_params(params, action):
    """A batch's parameters as (what, value) rows: `{{ task.parameters|batch_params:task.action }}`."""
    p = params or {}
    rows = []
    if action in ("label", "unlabel"):
        if p.get("set"):
            rows.append(("Labels to set", labels_text(p["set"])))
        if p.get("remove"):
            rows.append(("Label keys to remove", ", ".join(p["remove"])))
        if p.get("taints"):
            rows.append(("Taints to add" if action == "label" else "Taints to remove", taints_text(p["taints"])))
        if p.get("confirm_reserved"):
            rows.append(("Reserved keys", "changed on purpose (kubernetes.io/, k8s.io/)"))
    elif action in ("taint", "untaint"):
        rows.append(("Taints to add" if action == "taint" else "Taints to remove", taints_text(p.get("taints"))))
    elif action == "cordon":
        rows.append(("Reason", p.get("reason") or "(none)"))
    elif action == "drain":
        merged = {**DRAIN_DEFAULTS, **p}
        rows.append(("Reason", merged.get("reason") or "(none)"))
        flags = [label for name, label in DRAIN_OPTION_LABELS.items() if merged.get(name)]
        rows.append(("Options", ", ".join(flags) or "none"))
        grace = merged.get("grace_period", -1)
        rows.append(("Grace period", "each pod's own" if grace is None or grace < 0 else f"{grace} s"))
        rows.append(("Timeout", f"{merged.get('timeout')} s per node"))
        if merged.get("pod_selector"):
            rows.append(("Pod selector", merged["pod_selector"]))
        if merged.get("skip_wait_for_delete_timeout"):
            rows.append(("Skip wait for delete timeout", f"{merged['skip_wait_for_delete_timeout']} s"))
    elif action == "uncordon":
        rows.append(("Change", "make the nodes schedulable again"))
    return rows


@register.filter
def drain_reason(reason: str) -> str:
    """A drain refusal in the words of the form: "(use force)" becomes "(tick “force (unmanaged pods)”)"."""
    for name, label in DRAIN_OPTION_LABELS.items():
        reason = reason.replace(f"(use {name})", f"(tick “{label}”)")
    return reason


@register.filter
def drain_option_label(name: str) -> str:
    return DRAIN_OPTION_LABELS.get(name, name)


def _schedulable(state: dict) -> str:
    return "cordoned" if (state or {}).get("unschedulable") else "schedulable"


@register.filter
def audit_changes(entry) -> list[str]:
    """What an audit entry changed, as "what: before → after" lines."""
    before, after = entry.before or {}, entry.after or {}
    lines = []
    labels_before, labels_after = before.get("labels") or {}, after.get("labels") or {}
    for key in sorted(set(labels_before) | set(labels_after)):
        old, new = labels_before.get(key), labels_after.get(key)
        if old != new:
            lines.append(f"{key}: {'(none)' if old is None else old} → {'(removed)' if new is None else new}")
    if "taints" in before or "taints" in after:
        old, new = before.get("taints") or [], after.get("taints") or []
        lines += [f"taint {t} added" for t in new if t not in old]
        lines += [f"taint {t} removed" for t in old if t not in new]
    if "unschedulable" in before or "unschedulable" in after:
        if _schedulable(before) != _schedulable(after) and after:
            lines.append(f"{_schedulable(before)} → {_schedulable(after)}")
    pods = after.get("pods")
    if pods:
        counts: dict[str, int] = {}
        for pod in pods:
            counts[pod.get("action", "?")] = counts.get(pod.get("action", "?"), 0) + 1
        lines.append("pods: " + ", ".join(f"{n} {what}" for what, n in sorted(counts.items())))
    if not lines and entry.outcome == "succeeded":
        lines.append("no change (already so)")
    return lines


@register.filter
def taint_string(taint: dict) -> str:
    return taint_text(taint)


@register.simple_tag
def task_dialog(task_id, user):
    """Title and cluster of the progress dialog of a task this user may see: {"id", "title", "cluster"}."""
    try:
        task_id = uuid.UUID(str(task_id)) if task_id else None
    except ValueError:
        return None
    if task_id is None:
        return None
    task = ProgressTask.objects.filter(pk=task_id).first()
    if task is None or not access.can_view_task(user, task):
        return None
    nodes = f"{task.total} node{'s' if task.total != 1 else ''}"
    return {"id": str(task.pk), "title": f"{task.action.capitalize()} {nodes} of {task.cluster_name}",
            "cluster": task.cluster_name}
