"""Operator pages: clusters, nodes of a cluster, node detail, batch actions, audit log."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from kubenode import access

from . import selectors
from .forms import parse_labels, split_items
from .kube.errors import KubeError
from .models import AuditEntry, Cluster, LabelTaintTemplate


def _filter(nodes, q, status, role, taint):
    if q:
        nodes = [n for n in nodes if q.lower() in n.name.lower()]
    if status == "cordoned":
        nodes = [n for n in nodes if not n.schedulable]
    elif status:
        nodes = [n for n in nodes if n.status == status]
    if role:
        nodes = [n for n in nodes if role in n.roles]
    if taint == "any":
        nodes = [n for n in nodes if n.taints]
    elif taint == "none":
        nodes = [n for n in nodes if not n.taints]
    elif taint:
        nodes = [n for n in nodes if any(t.get("key") == taint for t in n.taints)]
    return nodes


def _taints(text: str, effect: str, with_value: bool) -> list[dict]:
    taints = []
    for k in split_items(text):
        key, _, value = k.partition("=")
        t = {"key": key}
        if with_value:
            t["value"] = value
        if effect:
            t["effect"] = effect
        taints.append(t)
    return taints


def params_from_template(action: str, template_id: str) -> dict:
    template = LabelTaintTemplate.objects.filter(pk=template_id).first() if template_id.isdigit() else None
    if template is None:
        raise ValidationError("unknown template")
    if action == "label":
        return {"set": dict(template.labels), "remove": list(template.remove_labels), "confirm_reserved": False}
    if action == "unlabel":
        return {"remove": list(template.labels), "confirm_reserved": False}
    if action == "taint":
        return {"taints": list(template.taints)}
    if action == "untaint":
        return {"taints": [{"key": t.get("key"), "effect": t.get("effect", "")} for t in template.taints]}
    raise ValidationError("a template applies with the label, unlabel, taint or untaint action")


def params_from_post(action: str, p) -> dict:
    if p.get("template"):
        return params_from_template(action, p["template"])
    if action == "label":
        return {"set": parse_labels(p.get("set", "")), "remove": split_items(p.get("remove", "")),
                "confirm_reserved": p.get("confirm_reserved") == "on"}
    if action == "unlabel":
        return {"remove": split_items(p.get("remove", "")), "confirm_reserved": p.get("confirm_reserved") == "on"}
    if action in ("taint", "untaint"):
        return {"taints": _taints(p.get("taints", ""), p.get("effect", ""), action == "taint")}
    if action == "cordon":
        return {"reason": p.get("reason", "")}
    if action == "uncordon":
        return {}
    if action == "drain":
        def num(k, d):
            try:
                return int(p.get(k) or d)
            except ValueError:
                raise ValidationError(f"{k.replace('_', ' ')} must be a whole number") from None
        return {"reason": p.get("reason", ""), "ignore_daemonsets": p.get("ignore_daemonsets") == "on",
                "delete_emptydir_data": p.get("delete_emptydir_data") == "on", "force": p.get("force") == "on",
                "grace_period": num("grace_period", -1), "timeout": num("timeout", 300),
                "pod_selector": p.get("pod_selector", ""), "disable_eviction": p.get("disable_eviction") == "on",
                "skip_wait_for_delete_timeout": num("skip_wait_for_delete_timeout", 0)}
    raise ValidationError(f"unknown action {action!r}")


PREVIEW_LIMIT = 200


@require_POST
def node_action(request, cluster):
    """Confirmation step (preview) and, when confirmed, the batch task.

    The preview lists at most PREVIEW_LIMIT nodes and says so; the confirmation posts every target it resolved
    (one field, comma-separated), so the batch acts on exactly the N nodes the preview counted.
    """
    from nodes import batches, services

    cluster = get_object_or_404(Cluster, name=cluster)
    p = request.POST
    action = p.get("action", "")
    access.require_run(request.user, action)
    select_all = p.get("select_all") == "on"
    selector = p.get("selector", "").strip() if select_all else ""
    ctx = {"cluster": cluster, "action": action, "post": p, "selector": selector, "select_all": select_all,
           "limit": batches.concurrency_limit(action), "preview_limit": PREVIEW_LIMIT}
    try:
        params = services.validate_action(action, params_from_post(action, p))
        if p.get("targets"):
            targets = list(dict.fromkeys(split_items(p["targets"])))
        elif select_all:
            matching = _filter(selectors.cached_nodes(cluster, label_selector=selector), p.get("q", "").strip(),
                               p.get("status", ""), p.get("role", ""), p.get("taint", "").strip())
            targets = [n.name for n in matching]
            if not targets:
                raise ValidationError("no node matches the filter")
        else:
            targets = selectors.check_names(cluster, p.getlist("node"))
        concurrency = int(p.get("concurrency") or 0)
        if concurrency < 0 or concurrency > ctx["limit"]:
            raise ValidationError(f"concurrency must be between 1 and {ctx['limit']}")
        if p.get("confirm") == "yes":
            task = batches.start_batch(request.user, cluster, action, params, names=targets,
                                       concurrency=concurrency)
            return redirect(f"{reverse('nodes:node_list', args=[cluster.name])}?task={task.pk}")
        ctx.update(params=params, count=len(targets), targets_text=",".join(targets),
                   shown=min(len(targets), PREVIEW_LIMIT))
        ctx.update(services.action_preview(cluster, action, params, targets[:PREVIEW_LIMIT]))
    except (ValidationError, ValueError, KubeError) as exc:
        ctx["error"] = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        return render(request, "nodes/action_confirm.html", ctx, status=400)
    return render(request, "nodes/action_confirm.html", ctx)


def audit_log(request):
    qs = AuditEntry.objects.order_by("-created_at")
    g = request.GET
    for field, lookup in (("user", "username__icontains"), ("cluster", "cluster_name"), ("node", "node__icontains"),
                          ("action", "action"), ("since", "created_at__date__gte"), ("until", "created_at__date__lte")):
        if g.get(field):
            qs = qs.filter(**{lookup: g[field]})
    try:
        page = Paginator(qs, 100).get_page(g.get("page"))
    except ValidationError:
        page, qs = Paginator(AuditEntry.objects.none(), 100).get_page(1), None
    return render(request, "nodes/audit_log.html", {"page": page, "f": g})


# ---- Label and taint templates (operator role or above) ---------------------------------------------------

def _require_operator(request):
    access.require_manage_templates(request.user)


def template_list(request):
    _require_operator(request)
    return render(request, "nodes/template_list.html", {"templates": LabelTaintTemplate.objects.all()})


def template_edit(request, pk=None):
    from .forms import TemplateForm

    _require_operator(request)
    template = get_object_or_404(LabelTaintTemplate, pk=pk) if pk is not None else None
    form = TemplateForm(request.POST or None, instance=template)
    if request.method == "POST" and form.is_valid():
        saved = form.save(user=request.user)
        messages.success(request, f"Template {saved.name} saved.")
        return redirect("nodes:template_list")
    return render(request, "nodes/template_form.html", {"form": form, "template": template},
                  status=400 if form.is_bound else 200)


def template_delete(request, pk):
    _require_operator(request)
    template = get_object_or_404(LabelTaintTemplate, pk=pk)
    if request.method == "POST":
        template.delete()
        messages.success(request, f"Template {template.name} deleted.")
        return redirect("nodes:template_list")
    return render(request, "nodes/template_delete.html", {"template": template})
