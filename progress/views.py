"""Task pages, the task JSON for polling clients, cancel and retry."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from kubenode import access

from . import selectors, services
from .templatetags.kn_tasks import task_status


def _task_or_404(user, task_id):
    try:
        return selectors.get_task_for(user, task_id)
    except PermissionDenied as exc:
        raise Http404("no such task") from exc


@require_GET
def task_json(request, task_id):
    try:
        task = selectors.get_task_for(request.user, task_id)
    except PermissionDenied:
        return JsonResponse({"error": _("no such task")}, status=404)
    try:
        after = int(request.GET.get("after_seq", "0"))
        if after < 0:
            raise ValueError
    except ValueError:
        return JsonResponse({"error": _("after_seq must be a non-negative integer")}, status=400)
    data = selectors.task_state(task)
    data["messages"] = selectors.messages_after(task.pk, after)
    data["more"] = bool(data["messages"]) and data["messages"][-1]["seq"] < task.last_seq
    return JsonResponse(data)


@require_GET
def task_list(request):
    qs = selectors.visible_tasks(request.user)
    status = request.GET.get("status", "")
    if status:
        qs = qs.filter(status=status)
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(request, "progress/task_list.html", {"page": page, "status": status})


@require_GET
def task_detail(request, task_id):
    task = _task_or_404(request.user, task_id)
    nodes = selectors.node_outcomes(task)
    return render(request, "progress/task_detail.html", {
        "task": task, "nodes": nodes, "timeline": selectors.timeline(task),
        "can_manage": access.can_manage_task(request.user, task), "status_text": task_status(task),
        "remaining": max(0, task.total - task.done),
        "retry_count": sum(1 for n in nodes if n["outcome"] in ("failed", "pending"))})


@require_POST
def task_cancel(request, task_id):
    task = _task_or_404(request.user, task_id)
    try:
        services.cancel_task(task, request.user)
        messages.info(request, _("Cancel requested: the batch stops at the next node."))
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
    except PermissionDenied as exc:
        raise Http404("no such task") from exc
    return redirect("progress:task_detail", task_id=task.pk)


@require_POST
def task_retry(request, task_id):
    task = _task_or_404(request.user, task_id)
    try:
        failed, remaining = services.retry_choice(request.POST.get("which"))
        new = services.retry_task(task, request.user, failed=failed, remaining=remaining)
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
        return redirect("progress:task_detail", task_id=task.pk)
    except PermissionDenied as exc:
        raise Http404("no such task") from exc
    return redirect("progress:task_detail", task_id=new.pk)
