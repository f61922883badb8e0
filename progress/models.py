"""Batch tasks and their per-event message rows: the source of truth for progress."""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class TaskStatus(models.TextChoices):
    PENDING = "pending", pgettext_lazy("outcome", "pending")
    RUNNING = "running", pgettext_lazy("outcome", "running")
    SUCCEEDED = "succeeded", pgettext_lazy("outcome", "succeeded")
    FAILED = "failed", pgettext_lazy("outcome", "failed")  # finished, with failures
    CANCELLED = "cancelled", pgettext_lazy("outcome", "cancelled")
    INTERRUPTED = "interrupted", pgettext_lazy("outcome", "interrupted")


FINISHED_STATUSES = (TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED,
                     TaskStatus.INTERRUPTED)
ACTIVE_STATUSES = (TaskStatus.PENDING, TaskStatus.RUNNING)


class ProgressTask(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="progress_tasks",
                             verbose_name=_("user"))
    # The scope the operation runs in (for node operations: the cluster's name); per-scope limits hold across
    # every worker. The engine never looks the scope up itself: the registered operation does.
    cluster_name = models.CharField(_("cluster name"), max_length=63)
    action = models.CharField(_("action"), max_length=32, db_index=True)
    parameters = models.JSONField(_("parameters"), default=dict, blank=True)
    # What was targeted: explicit names, or the selector / "all" resolved at start into nodes.
    selector = models.CharField(_("label selector"), max_length=1000, blank=True)
    nodes = models.JSONField(_("nodes"), default=list, blank=True)
    concurrency = models.PositiveIntegerField(_("concurrency"), default=0)
    retry_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries",
                                 verbose_name=_("retry of"))

    status = models.CharField(_("status"), max_length=16, choices=TaskStatus.choices, default=TaskStatus.PENDING,
                              db_index=True)
    cancel_requested = models.BooleanField(_("cancel requested"), default=False)
    total = models.PositiveIntegerField(_("total"), default=0)
    done = models.PositiveIntegerField(_("done"), default=0)
    succeeded = models.PositiveIntegerField(pgettext_lazy("outcome", "succeeded"), default=0)
    failed = models.PositiveIntegerField(pgettext_lazy("outcome", "failed"), default=0)
    current_node = models.CharField(_("current node"), max_length=253, blank=True)
    error = models.TextField(_("error"), blank=True)

    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    owner = models.CharField(_("worker"), max_length=200, blank=True,
                             help_text=_("Worker that last claimed nodes of the task"))
    heartbeat_at = models.DateTimeField(_("heartbeat"), null=True, blank=True,
                                        help_text=_("Last lease renewal of a worker running it"))
    last_seq = models.PositiveIntegerField(_("last seq"), default=0)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("batch")
        verbose_name_plural = _("batches")
        indexes = [models.Index(fields=["status", "heartbeat_at"]),
                   models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        from kubenode.words import action_name

        return _("%(action)s on %(cluster)s (%(status)s)") % {
            "action": action_name(self.action), "cluster": self.cluster_name, "status": self.get_status_display()}

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES


class MessageType(models.TextChoices):
    PROGRESS = "progress", pgettext_lazy("message type", "progress")
    COMPLETE = "complete", pgettext_lazy("message type", "complete")
    ERROR = "error", pgettext_lazy("message type", "error")
    CANCELLED = "cancelled", pgettext_lazy("outcome", "cancelled")
    INTERRUPTED = "interrupted", pgettext_lazy("outcome", "interrupted")


class ProgressMessage(models.Model):
    """One event of one task. Rows are never rewritten."""

    task = models.ForeignKey(ProgressTask, on_delete=models.CASCADE, related_name="messages", verbose_name=_("batch"))
    seq = models.PositiveIntegerField(_("seq"))
    type = models.CharField(_("type"), max_length=16, choices=MessageType.choices)
    node = models.CharField(_("node"), max_length=253, blank=True)
    outcome = models.CharField(_("outcome"), max_length=16, blank=True)
    error = models.TextField(_("error"), blank=True)
    detail = models.JSONField(_("detail"), default=dict, blank=True)
    total = models.PositiveIntegerField(_("total"), default=0)
    done = models.PositiveIntegerField(_("done"), default=0)
    succeeded = models.PositiveIntegerField(pgettext_lazy("outcome", "succeeded"), default=0)
    failed = models.PositiveIntegerField(pgettext_lazy("outcome", "failed"), default=0)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["task", "seq"]
        verbose_name = _("batch message")
        verbose_name_plural = _("batch messages")
        constraints = [models.UniqueConstraint(fields=["task", "seq"], name="progress_message_task_seq")]

    def __str__(self) -> str:
        return f"{self.task_id}#{self.seq} {self.get_type_display()} {self.node}"


class ProgressTarget(models.Model):
    """One target (node) of a task: the queue workers claim from.

    `worker` is the worker that claimed it ('' while queued); `done` turns true in the very transaction that records
    its result, so a result is recorded exactly once. A target claimed by a worker whose lease expired is claimable
    again as long as it has no result.
    """

    id = models.BigAutoField(primary_key=True)
    task = models.ForeignKey(ProgressTask, on_delete=models.CASCADE, related_name="targets")
    position = models.PositiveIntegerField()
    name = models.CharField(max_length=253)
    worker = models.CharField(max_length=200, blank=True, default="")
    claimed_at = models.DateTimeField(null=True, blank=True)
    done = models.BooleanField(default=False)

    class Meta:
        ordering = ["task", "position"]
        constraints = [models.UniqueConstraint(fields=["task", "name"], name="progress_target_task_name")]
        indexes = [models.Index(fields=["task", "position"], condition=models.Q(done=False),
                                name="progress_target_undone")]

    def __str__(self) -> str:
        return f"{self.task_id}/{self.name} ({'done' if self.done else self.worker or 'queued'})"


class ProgressWorker(models.Model):
    """A worker's lease: renewed every few seconds; one older than `worker.lease` belongs to a dead worker."""

    name = models.CharField(max_length=200, primary_key=True)
    role = models.CharField(max_length=16, default="worker")
    host = models.CharField(max_length=253, blank=True)
    pid = models.PositiveIntegerField(default=0)
    concurrency = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField(db_index=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.role})"
