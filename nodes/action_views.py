"""Batch pages: the preview of a batch (editable, re-previewable), its start, a retry through the same preview; label
and taint templates.

The preview is reached from the node list's batch form (POST), from a node's action menu or a task's Retry (GET:
a preview changes nothing). Running needs a POST with `confirm=yes`; the preview's form also posts the fingerprint
of what it showed (what runs is what was previewed, else the new preview is shown) and, for a drain whose preview
shows nodes that will not drain, needs an explicit acknowledgement. Cancel and the run itself lead back to the page
the batch came from with its filters, selection and typed values (`batch=` in the query string, read by the node
list's batch form).
"""
from __future__ import annotations

import hashlib
import json
from urllib.parse import parse_qsl, urlencode, urlsplit

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods

from kubenode import access
from kubenode.locale import joined
from progress import selectors as task_selectors
from progress import services as task_services

from . import batches, services
from .forms import (
    DRAIN_FLAGS,
    BatchActionForm,
    TemplateForm,
    data_from_params,
    data_with_defaults,
    split_items,
    state_query,
)
from .kube.errors import KubeError
from .models import Cluster, LabelTaintTemplate
from .validation import MAX_NODES

PREVIEW_LIMIT = 200
INPUT_FIELDS = ("set", "remove", "taints", "template")  # what a label/taint action needs typed before a preview


def _back_url(cluster: Cluster, value: str | None, default: str) -> str:
    """Where Cancel and Run lead: a page of this cluster's nodes or a task, never another site."""
    value = value or ""
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/"):
        return default
    allowed = (reverse("nodes:node_list", args=[cluster.name]), reverse("progress:task_list"))
    return value if parts.path.startswith(allowed) else default


def _with_query(url: str, **params) -> str:
    """`url` with the given query parameters replaced (None: removed)."""
    parts = urlsplit(url)
    pairs = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    pairs += [(k, v) for k, v in params.items() if v is not None]
    query = urlencode(pairs)
    return parts.path + (f"?{query}" if query else "")


def fingerprint(action: str, params: dict, names: list[str]) -> str:
    """What a preview showed: the action, its normalised parameters and the target names."""
    text = json.dumps([action, params, names], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _retry_task(request, data):
    """The finished task a retry preview retries (the user must be allowed to manage it), or None."""
    task_id = data.get("retry", "")
    if not task_id:
        return None
    try:
        task = task_selectors.get_task_for(request.user, task_id)
    except PermissionDenied:
        raise Http404("no such task") from None
    access.require_manage_task(request.user, task)
    return task


def _which(data) -> tuple[bool, bool]:
    return task_services.retry_choice(data.get("which"))


def _retry_data(task, data) -> QueryDict:
    """The retry preview's first view: the task's action and parameters, its failed and/or unfinished nodes."""
    failed, remaining = _which(data)
    out = QueryDict(mutable=True)
    for key, value in data_from_params(task.action, task.parameters).items():
        out[key] = value
    out.setlist("targets", [",".join(task_selectors.remaining_nodes(task, failed=failed, unfinished=remaining))])
    out["retry"], out["which"], out["submitted"] = str(task.pk), data.get("which", "both"), "1"
    out["concurrency"] = str(task.concurrency or "")
    return out


def batch_form_context(request, cluster: Cluster) -> dict:
    """The node list's batch form, with the typed values and the selection it had (`batch=` in the query)."""
    state = QueryDict(request.GET.get("batch", ""))
    initial = {k: state.get(k) for k in state if k != "node"}
    if state:  # drain options as they were left (an unticked box is absent)
        initial.update({name: bool(state.get(name)) for name in DRAIN_FLAGS})
    form = BatchActionForm(initial=initial, cluster=cluster)
    return {"batch_form": form, "batch_selected_json": json.dumps(state.getlist("node")),
            "batch_select_all": state.get("select_all") == "on",
            "batch_back": _with_query(request.get_full_path(), task=None, batch=None)}


def _posted_names(data) -> list[str]:
    return split_items(data.get("targets", "")) or [n for n in data.getlist("node") if n.strip()]


@require_http_methods(["GET", "POST"])
def node_action(request, cluster):
    cluster = get_object_or_404(Cluster, name=cluster)
    data = request.POST if request.method == "POST" else request.GET
    task = _retry_task(request, data)
    if task is not None:
        try:
            _which(data)
        except ValidationError as exc:
            messages.error(request, joined(exc.messages))
            return redirect("progress:task_detail", task_id=task.pk)
    if task is not None and not data.get("action"):
        data = _retry_data(task, data)
    action = data.get("action", "")
    access.require_run(request.user, action)
    if "submitted" not in data:  # a link or a non-HTML client: options left out take their defaults
        data = data.copy()
        for key, value in data_with_defaults({}).items():
            if key not in data and value is not False:
                data[key] = "on" if value is True else str(value)
    if data.get("enable") in DRAIN_FLAGS:  # "tick this option and preview again" on a drain preview
        data = data.copy()
        data[data["enable"]] = "on"
    form = BatchActionForm(data, cluster=cluster)
    select_all = data.get("select_all") == "on"
    default_back = (reverse("progress:task_detail", args=[task.pk]) if task is not None
                    else reverse("nodes:node_list", args=[cluster.name]))
    back = _back_url(cluster, data.get("back"), default_back)
    ctx = {"cluster": cluster, "action": action, "form": form, "retry": task, "which": data.get("which", "both"),
           "select_all": select_all, "back": back, "preview_limit": PREVIEW_LIMIT,
           "limit": form.fields["concurrency"].maximum, "templates": LabelTaintTemplate.objects.all()}
    fresh = request.method == "GET" and action in ("label", "unlabel", "taint", "untaint") and \
        not any(data.get(f) for f in INPUT_FIELDS)
    names = _posted_names(data)
    if len(names) > MAX_NODES:  # refused by the form; never echoed back into the page
        names = []
    if fresh:  # opened from a node's menu: nothing typed yet, so nothing to preview or complain about
        form = BatchActionForm(initial={**data.dict(), "node": names}, cluster=cluster)
        ctx.update(form=form, fresh=True)
    elif form.is_valid():
        try:
            names = form.resolve_names()
        except (ValidationError, KubeError) as exc:
            form.add_error(None, exc.messages if isinstance(exc, ValidationError) else str(exc))
    cancel_url = back if task is not None else \
        _with_query(back, batch=state_query(data, None if select_all else names, select_all), task=None)
    ctx.update(count=len(names), targets_text=",".join(names), shown=min(len(names), PREVIEW_LIMIT),
               cancel_url=cancel_url)
    if not fresh and "params" in form.cleaned_data and not set(form.errors) - {"concurrency"}:
        params = form.cleaned_data["params"]  # a bad concurrency is shown beside it, under the preview
        ctx.update(params=params, previewed=fingerprint(action, params, names))
        if request.method == "POST" and data.get("confirm") == "yes" and "enable" not in data and not form.errors:
            started = _run(request, form, task, data, names, ctx)
            if started is not None:
                return started
        if not form.non_field_errors():
            try:
                ctx.update(services.action_preview(cluster, action, params, names[:PREVIEW_LIMIT]))
            except (ValidationError, KubeError) as exc:
                form.add_error(None, exc.messages if isinstance(exc, ValidationError) else str(exc))
    if form.is_bound and form.errors:
        ctx["error"] = joined(form.error_messages())
        return render(request, "nodes/action_confirm.html", ctx, status=400)
    return render(request, "nodes/action_confirm.html", ctx)


def _run(request, form, task, data, names, ctx):
    """Start the previewed batch and lead back; None (with the form's errors set) when it may not run as posted."""
    if "previewed" in data and data["previewed"] != ctx["previewed"]:  # a client without a preview runs as posted
        ctx["notice"] = _("Nothing was run: what to do changed since the preview. Check the new preview below, then "
                          "run it.")
        return None
    blocked = int(data.get("blocked_nodes") or 0) if (data.get("blocked_nodes") or "0").isdigit() else 0
    if form.cleaned_data["action"] == "drain" and blocked and data.get("accept_blocked") != "on":
        ctx["ack_error"] = ngettext(
            "Nothing was run: %(count)s node will not drain as things stand. Change the options and preview again, "
            "or tick “Run anyway” to drain the others.",
            "Nothing was run: %(count)s nodes will not drain as things stand. Change the options and preview again, "
            "or tick “Run anyway” to drain the others.", blocked) % {"count": blocked}
        return None
    try:
        if task is not None and _same_as_retry(task, data, ctx["params"], names):
            failed, remaining = _which(data)
            new = batches.retry_batch(task, request.user, failed=failed, remaining=remaining)
        else:
            new = form.start(request.user, names=names)
    except (ValidationError, KubeError, PermissionDenied) as exc:
        form.add_error(None, exc.messages if isinstance(exc, ValidationError) else str(exc))
        return None
    if task is not None:
        return redirect("progress:task_detail", task_id=new.pk)
    state = state_query(data, None if ctx["select_all"] else names, ctx["select_all"])
    return redirect(_with_query(ctx["back"], task=str(new.pk), batch=state))


def _same_as_retry(task, data, params, names) -> bool:
    """Whether the retry preview runs the task's own action, parameters and remaining nodes (a linked retry)."""
    failed, remaining = _which(data)
    try:
        same_params = services.validate_action(task.action, dict(task.parameters)) == params
    except ValidationError:
        return False
    return same_params and data.get("action") == task.action and \
        names == task_selectors.remaining_nodes(task, failed=failed, unfinished=remaining)


# ---- Label and taint templates (operator role or above) ---------------------------------------------------

def template_list(request):
    access.require_manage_templates(request.user)
    return render(request, "nodes/template_list.html", {"templates": LabelTaintTemplate.objects.all()})


def template_edit(request, pk=None):
    access.require_manage_templates(request.user)
    template = get_object_or_404(LabelTaintTemplate, pk=pk) if pk is not None else None
    form = TemplateForm(request.POST or None, instance=template)
    if request.method == "POST" and form.is_valid():
        saved = form.save(user=request.user)
        messages.success(request, _("Template %(name)s saved.") % {"name": saved.name})
        return redirect("nodes:template_list")
    return render(request, "nodes/template_form.html", {"form": form, "template": template},
                  status=400 if form.is_bound else 200)


def template_delete(request, pk):
    access.require_manage_templates(request.user)
    template = get_object_or_404(LabelTaintTemplate, pk=pk)
    if request.method == "POST":
        template.delete()
        messages.success(request, _("Template %(name)s deleted.") % {"name": template.name})
        return redirect("nodes:template_list")
    return render(request, "nodes/template_delete.html", {"template": template})
