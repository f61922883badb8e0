"""Clusters kubenode manages and the audit trail of every node mutation."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class Cluster(models.Model):
    class Source(models.TextChoices):
        KUBECONFIG = "kubeconfig", "Uploaded kubeconfig"
        IN_CLUSTER = "in_cluster", "In-cluster service account"

    name = models.SlugField(max_length=63, unique=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.KUBECONFIG)
    context = models.CharField(max_length=253, blank=True)
    # Fernet token of the kubeconfig (nodes.crypto); never rendered anywhere.
    kubeconfig_encrypted = models.TextField(blank=True, editable=False)
    server = models.CharField(max_length=500, blank=True, help_text="API server URL (display only)")
    simulated = models.BooleanField(default=False, help_text="Served by kube_sim")
    last_check_at = models.DateTimeField(null=True, blank=True)
    last_check_ok = models.BooleanField(null=True)
    last_check_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AuditEntry(models.Model):
    """One mutation of one node: who, when, where, what, why, before/after, outcome."""

    class Outcome(models.TextChoices):
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    # when the operation ended (a batch stores the entry a moment later, with the result it belongs to)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    username = models.CharField(max_length=150, blank=True)
    cluster = models.ForeignKey(Cluster, null=True, blank=True, on_delete=models.SET_NULL)
    cluster_name = models.CharField(max_length=63)
    node = models.CharField(max_length=253, db_index=True)
    action = models.CharField(max_length=32, db_index=True)
    reason = models.TextField(blank=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    error = models.TextField(blank=True)
    task_id = models.UUIDField(null=True, blank=True, db_index=True)
    # the name of the access token the change was asked with (through the API); empty: from the pages or a command
    via_token = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["cluster_name", "node", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.username} {self.action} {self.cluster_name}/{self.node}"


class BatchToken(models.Model):
    """The access token a batch was started with through the API: the worker names it in the batch's audit
    entries (recorded in the transaction that queues the batch)."""

    task_id = models.UUIDField(primary_key=True)
    token_name = models.CharField(max_length=100)

    def __str__(self) -> str:
        return f"{self.task_id} (token {self.token_name})"


class LabelTaintTemplate(models.Model):
    """A saved set of label and taint changes that an operator applies to a selection."""

    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=300, blank=True)
    labels = models.JSONField(default=dict, blank=True, help_text='Labels to add or overwrite, {"key": "value"}')
    remove_labels = models.JSONField(default=list, blank=True, help_text='Label keys to remove, ["key"]')
    taints = models.JSONField(default=list, blank=True,
                              help_text='Taints to add, [{"key": "k", "value": "v", "effect": "NoSchedule"}]')
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        permissions = [("operate_nodes", "Can label, taint, cordon and uncordon nodes"),
                       ("drain_nodes", "Can drain nodes")]

    def __str__(self):
        return self.name
