"""How batches read on the pages: a batch's parameters in words, drain reasons, what an audit entry changed, the
title of a task's progress dialog."""
from __future__ import annotations

import uuid

from django import template
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext_lazy

from kubenode import access
from kubenode.locale import listed
from kubenode.words import action_name
from nodes.forms import labels_text, taint_text, taints_text
from nodes.validation import DRAIN_DEFAULTS
from progress.models import ProgressTask

register = template.Library()

DRAIN_OPTION_LABELS = {"ignore_daemonsets": pgettext_lazy("drain option", "ignore DaemonSets"),
                       "delete_emptydir_data": pgettext_lazy("drain option", "delete emptyDir data"),
                       "force": pgettext_lazy("drain option", "force (unmanaged pods)"),
                       "disable_eviction": pgettext_lazy("drain option", "disable eviction (delete)")}
NONE = gettext_lazy("(none)")
# What happened to a pod of a drained node (nodes.kube.drain), as an audit entry counts them
POD_ACTIONS = {"evicted": pgettext_lazy("pod", "evicted"), "deleted": pgettext_lazy("pod", "deleted"),
               "skipped": pgettext_lazy("pod", "skipped"), "gone": pgettext_lazy("pod", "gone"),
               "failed": pgettext_lazy("pod", "failed"), "evicting": pgettext_lazy("pod", "evicting"),
               "deleting": pgettext_lazy("pod", "deleting")}


@register.filter
def batch_params(params, action):
    """A batch's parameters as (what, value) rows: `{{ task.parameters|batch_params:task.action }}`."""
    p = params or {}
    rows = []
    if action in ("label", "unlabel"):
        if p.get("set"):
            rows.append((_("Labels to set"), labels_text(p["set"])))
        if p.get("remove"):
            rows.append((_("Label keys to remove"), ", ".join(p["remove"])))
        if p.get("taints"):
            rows.append((_("Taints to add") if action == "label" else _("Taints to remove"),
                         taints_text(p["taints"])))
        if p.get("confirm_reserved"):
            rows.append((_("Reserved keys"), _("changed on purpose (kubernetes.io/, k8s.io/)")))
    elif action in ("taint", "untaint"):
        rows.append((_("Taints to add") if action == "taint" else _("Taints to remove"),
                     taints_text(p.get("taints"))))
    elif action == "cordon":
        rows.append((_("Reason"), p.get("reason") or NONE))
    elif action == "drain":
        merged = {**DRAIN_DEFAULTS, **p}
        rows.append((_("Reason"), merged.get("reason") or NONE))
        flags = [str(label) for name, label in DRAIN_OPTION_LABELS.items() if merged.get(name)]
        rows.append((_("Options"), listed(flags) or _("none")))
        grace = merged.get("grace_period", -1)
        rows.append((_("Grace period"), _("each pod's own") if grace is None or grace < 0
                     else _("%(seconds)s s") % {"seconds": grace}))
        rows.append((_("Timeout"), _("%(seconds)s s per node") % {"seconds": merged.get("timeout")}))
        if merged.get("pod_selector"):
            rows.append((_("Pod selector"), merged["pod_selector"]))
        if merged.get("skip_wait_for_delete_timeout"):
            rows.append((_("Skip wait for delete timeout"),
                         _("%(seconds)s s") % {"seconds": merged["skip_wait_for_delete_timeout"]}))
    elif action == "uncordon":
        rows.append((_("Change"), _("make the nodes schedulable again")))
    return rows


@register.filter
def drain_reason(reason: str) -> str:
    """A drain refusal in the words of the form: "(use force)" becomes "(tick “force (unmanaged pods)”)"."""
    for name, label in DRAIN_OPTION_LABELS.items():
        reason = reason.replace(f"(use {name})", _("(tick “%(option)s”)") % {"option": label})
    return reason


@register.filter
def drain_option_label(name: str) -> str:
    return str(DRAIN_OPTION_LABELS.get(name, name))


def _schedulable(state: dict) -> str:
    return _("cordoned") if (state or {}).get("unschedulable") else _("schedulable")


@register.filter
def audit_changes(entry) -> list[str]:
    """What an audit entry changed, as "what: before → after" lines."""
    before, after = entry.before or {}, entry.after or {}
    lines = []
    labels_before, labels_after = before.get("labels") or {}, after.get("labels") or {}
    for key in sorted(set(labels_before) | set(labels_after)):
        old, new = labels_before.get(key), labels_after.get(key)
        if old != new:
            lines.append(f"{key}: {_('(none)') if old is None else old} → {_('(removed)') if new is None else new}")
    if "taints" in before or "taints" in after:
        old, new = before.get("taints") or [], after.get("taints") or []
        lines += [_("taint %(taint)s added") % {"taint": t} for t in new if t not in old]
        lines += [_("taint %(taint)s removed") % {"taint": t} for t in old if t not in new]
    if "unschedulable" in before or "unschedulable" in after:
        if _schedulable(before) != _schedulable(after) and after:
            lines.append(f"{_schedulable(before)} → {_schedulable(after)}")
    pods = after.get("pods")
    if pods:
        counts: dict[str, int] = {}
        for pod in pods:
            counts[pod.get("action", "?")] = counts.get(pod.get("action", "?"), 0) + 1
        lines.append(_("pods: %(counts)s") % {"counts": listed(
            f"{n} {POD_ACTIONS.get(what, what)}" for what, n in sorted(counts.items()))})
    if not lines and entry.outcome == "succeeded":
        lines.append(_("no change (already so)"))
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
    title = ngettext("%(action)s %(count)s node of %(cluster)s", "%(action)s %(count)s nodes of %(cluster)s",
                     task.total) % {"action": action_name(task.action).capitalize(), "count": number_format(task.total),
                                    "cluster": task.cluster_name}
    return {"id": str(task.pk), "title": title, "cluster": task.cluster_name}
