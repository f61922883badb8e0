"""Batch tasks and their per-event message rows: the source of truth for progress."""

import uuid

from django.conf import settings
from django.db import models


class TaskStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # finished, with failures
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


FINISHED_STATUSES = (TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED,
                     TaskStatus.INTERRUPTED)
ACTIVE_STATUSES = (TaskStatus.PENDING, TaskStatus.RUNNING)


class ProgressTask(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="progress_tasks")
    # The scope the operation runs in (for node operations: the cluster's name); per-scope limits hold across
    # every worker. The engine never looks the scope up itself: the registered operation does.
    cluster_name = models.CharField(max_length=63)
    action = models.CharField(max_length=32, db_index=True)
    parameters = models.JSONField(default=dict, blank=True)
    # What was targeted: explicit names, or the selector / "all" resolved at start into nodes.
    selector = models.CharField(max_length=1000, blank=True)
    nodes = models.JSONField(default=list, blank=True)
    concurrency = models.PositiveIntegerField(default=0)
    retry_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries")

    status = models.CharField(max_length=16, choices=TaskStatus.choices, default=TaskStatus.PENDING, db_index=True)
    cancel_requested = models.BooleanField(default=False)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    succeeded = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    current_node = models.CharField(max_length=253, blank=True)
    error = models.TextField(blank=True)

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    owner = models.CharField(max_length=200, blank=True, help_text="Worker that last claimed nodes of the task")
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Last lease renewal of a worker running it")
    last_seq = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "heartbeat_at"]),
                   models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.action} on {self.cluster_name} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES


class MessageType(models.TextChoices):
    PROGRESS = "progress"
    COMPLETE = "complete"
    ERROR = "error"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


class ProgressMessage(models.Model):
    """One event of one task. Rows are never rewritten."""

    task = models.ForeignKey(ProgressTask, on_delete=models.CASCADE, related_name="messages")
    seq = models.PositiveIntegerField()
    type = models.CharField(max_length=16, choices=MessageType.choices)
    node = models.CharField(max_length=253, blank=True)
    outcome = models.CharField(max_length=16, blank=True)
    error = models.TextField(blank=True)
    detail = models.JSONField(default=dict, blank=True)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    succeeded = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["task", "seq"]
        constraints = [models.UniqueConstraint(fields=["task", "seq"], name="progress_message_task_seq")]

    def __str__(self) -> str:
        return f"{self.task_id}#{self.seq} {self.type} {self.node}"


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
