"""The overview (landing page) and the clusters: list, add from a kubeconfig, check, rename, remove."""

from __future__ import annotations

import secrets
from collections import Counter
from pathlib import Path

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.http import FileResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_POST

from kubenode import access
from kubenode.locale import joined
from progress.models import ACTIVE_STATUSES, ProgressTask
from progress.notify import get_notifier

from . import crypto, selectors, services, watch
from .kube.errors import KubeError
from .kube.quantity import percent
from .models import Cluster

FAVICON = Path(__file__).resolve().parent.parent / "static" / "kubenode" / "favicon.ico"
PENDING_KEY = "kubenode.pending_kubeconfig"
ACTIVE = ACTIVE_STATUSES


@login_not_required
@cache_control(max_age=86400, public=True)
def favicon(request):
    return FileResponse(FAVICON.open("rb"), content_type="image/x-icon")


# ---- Overview ------------------------------------------------------------------------------------------------

def _summary(cluster) -> dict:
    """What the overview says about one cluster."""
    try:
        nodes = selectors.cached_nodes(cluster)
    except KubeError as exc:
        return {"cluster": cluster, "error": str(exc)}

    def total(attr):
        values = [getattr(n, attr) for n in nodes if getattr(n, attr) is not None]
        return sum(values) if values else None

    cpu, memory = total("cpu_allocatable"), total("memory_allocatable")
    cpu_req, mem_req = total("cpu_requests"), total("memory_requests")
    cpu_use, mem_use = total("cpu_usage"), total("memory_usage")
    return {
        "cluster": cluster, "error": "", "counts": nodes.counts or {},
        "versions": Counter(n.kubelet_version or "?" for n in nodes).most_common(),
        "cpu": cpu, "memory": memory, "cpu_requests_pct": percent(cpu_req, cpu),
        "memory_requests_pct": percent(mem_req, memory), "cpu_usage_pct": percent(cpu_use, cpu),
        "memory_usage_pct": percent(mem_use, memory), "has_metrics": nodes.has_metrics,
        "pods": sum(n.pod_count or 0 for n in nodes), "pods_error": nodes.pods_error,
        "metrics_error": nodes.metrics_error,
        "attention": [n for n in nodes if n.status != "Ready"][:5],
    }


def overview(request):
    summaries = [_summary(c) for c in Cluster.objects.order_by("name")]
    running = ProgressTask.objects.filter(status__in=ACTIVE).order_by("-created_at")
    if not access.sees_every_task(request.user):
        running = running.filter(user=request.user)
    by_cluster: dict[str, list] = {}
    for task in running[:200]:
        by_cluster.setdefault(task.cluster_name, []).append(task)
    for s in summaries:
        s["tasks"] = by_cluster.get(s["cluster"].name, [])
    return render(request, "nodes/overview.html", {
        "summaries": summaries, "notifier": get_notifier().status(),
        "can_manage_clusters": access.can_manage_clusters(request.user),
    })


# ---- Clusters ------------------------------------------------------------------------------------------------

def cluster_list(request):
    return render(request, "nodes/cluster_list.html", {
        "clusters": Cluster.objects.order_by("name"),
        "can_manage_clusters": access.can_manage_clusters(request.user),
    })


class AddClusterForm(forms.Form):
    name = forms.SlugField(max_length=63, label=gettext_lazy("Name"),
                           help_text=gettext_lazy("Letters, digits and hyphens, as in the page addresses."))
    kubeconfig_file = forms.FileField(required=False, label=gettext_lazy("Kubeconfig file"))
    kubeconfig_text = forms.CharField(required=False, label=gettext_lazy("…or paste it"), widget=forms.Textarea(
        attrs={"rows": 8, "spellcheck": "false", "autocomplete": "off"}))

    def clean(self):
        data = super().clean()
        upload, text = data.get("kubeconfig_file"), (data.get("kubeconfig_text") or "").strip()
        if upload and text:
            raise ValidationError(_("give the kubeconfig once: upload a file or paste it, not both"))
        if upload:
            if upload.size > services.MAX_KUBECONFIG_BYTES:
                raise ValidationError(_("the kubeconfig is larger than 1 MiB"))
            try:
                text = upload.read().decode("utf-8")
            except UnicodeDecodeError:
                raise ValidationError(_("the uploaded file is not a text kubeconfig (UTF-8)")) from None
        if not text.strip():
            raise ValidationError(_("upload a kubeconfig file or paste one"))
        data["kubeconfig"] = text
        return data


def _contexts(doc: dict) -> list[str]:
    return [c["name"] for c in doc.get("contexts") or [] if isinstance(c, dict) and isinstance(c.get("name"), str)]


def cluster_add(request):
    """Step 1: a name and a kubeconfig (uploaded or pasted). When it has several contexts, step 2 chooses one;
    meanwhile the kubeconfig waits encrypted in the session, never in the page."""
    access.require_manage_clusters(request.user)
    if request.method == "POST" and request.POST.get("step") == "context":
        return _add_with_context(request)
    form = AddClusterForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        text, name = form.cleaned_data["kubeconfig"], form.cleaned_data["name"]
        try:
            doc = services.parse_kubeconfig(text)
            contexts = _contexts(doc)
            if Cluster.objects.filter(name=name).exists():
                raise ValidationError(_("a cluster named %(name)s exists already; choose another name") % {
                    "name": name})
            if len(contexts) > 1:
                token = secrets.token_urlsafe(16)
                request.session[PENDING_KEY] = {"token": token, "name": name, "kubeconfig": crypto.encrypt(text)}
                return render(request, "nodes/cluster_add.html", {
                    "step": "context", "name": name, "contexts": contexts, "token": token,
                    "current": doc.get("current-context") if doc.get("current-context") in contexts else ""})
            return _added(request, name, text, contexts[0] if contexts else None)
        except ValidationError as exc:
            form.add_error(None, exc)
    return render(request, "nodes/cluster_add.html", {"form": form, "step": "kubeconfig"},
                  status=400 if form.is_bound else 200)


def _add_with_context(request):
    pending = request.session.get(PENDING_KEY) or {}
    if not pending or not secrets.compare_digest(str(pending.get("token")), request.POST.get("token", "")):
        messages.error(request, _("That form has expired: give the kubeconfig again."))
        return redirect("nodes:cluster_add")
    text = crypto.decrypt(pending["kubeconfig"])
    name = request.POST.get("name") or pending["name"]
    context = request.POST.get("context", "")
    doc = services.parse_kubeconfig(text)
    try:
        if context not in _contexts(doc):
            raise ValidationError(_("choose one of the kubeconfig's contexts"))
        response = _added(request, name, text, context)
    except ValidationError as exc:
        return render(request, "nodes/cluster_add.html", {
            "step": "context", "name": name, "contexts": _contexts(doc), "token": pending["token"],
            "current": context, "errors": exc.messages}, status=400)
    request.session.pop(PENDING_KEY, None)
    return response


def _added(request, name: str, text: str, context: str | None):
    cluster = services.add_cluster(request.user, name, text, context)
    result = services.check_cluster(cluster)
    if result.ok:
        messages.success(request, _("Cluster %(name)s added: %(result)s.") % {
            "name": cluster.name, "result": result.message})
    else:
        messages.warning(request, _("Cluster %(name)s added, but its check failed: %(result)s.") % {
            "name": cluster.name, "result": result.message})
    return redirect("nodes:cluster_list")


@require_POST
def cluster_check(request, cluster):
    access.require_manage_clusters(request.user)
    cluster = get_object_or_404(Cluster, name=cluster)
    result = services.check_cluster(cluster)
    (messages.success if result.ok else messages.error)(request, _("Cluster %(name)s: %(result)s.") % {
        "name": cluster.name, "result": result.message})
    return redirect(request.POST.get("next") or "nodes:cluster_list")


class RenameForm(forms.Form):
    name = forms.SlugField(max_length=63, label=gettext_lazy("New name"))


def cluster_rename(request, cluster):
    access.require_manage_clusters(request.user)
    cluster = get_object_or_404(Cluster, name=cluster)
    form = RenameForm(request.POST or None, initial={"name": cluster.name})
    if request.method == "POST" and form.is_valid():
        old = cluster.name
        try:
            services.rename_cluster(request.user, cluster, form.cleaned_data["name"])
            messages.success(request, _("Cluster %(old)s is now %(new)s.") % {"old": old, "new": cluster.name})
            return redirect("nodes:cluster_list")
        except ValidationError as exc:
            form.add_error("name", exc)
    return render(request, "nodes/cluster_rename.html", {"cluster": cluster, "form": form},
                  status=400 if form.is_bound else 200)


def cluster_remove(request, cluster):
    access.require_manage_clusters(request.user)
    cluster = get_object_or_404(Cluster, name=cluster)
    error = ""
    if request.method == "POST":
        pk = cluster.pk
        active = ProgressTask.objects.filter(cluster_name=cluster.name, status__in=ACTIVE).count()
        try:
            services.remove_cluster(request.user, cluster, active_batches=active)
            watch.forget(pk)
            messages.success(request, _("Cluster %(name)s removed; its audit records stay.") % {"name": cluster.name})
            return redirect("nodes:cluster_list")
        except ValidationError as exc:
            error = joined(exc.messages)
    return render(request, "nodes/cluster_remove.html", {"cluster": cluster, "error": error},
                  status=400 if error else 200)
