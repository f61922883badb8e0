"""Clusters kubenode manages and the audit trail of every node mutation."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Cluster(models.Model):
    class Source(models.TextChoices):
        KUBECONFIG = "kubeconfig", _("Uploaded kubeconfig")
        IN_CLUSTER = "in_cluster", _("In-cluster service account")

    name = models.SlugField(_("name"), max_length=63, unique=True)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices, default=Source.KUBECONFIG)
    context = models.CharField(_("context"), max_length=253, blank=True)
    # Fernet token of the kubeconfig (nodes.crypto); never rendered anywhere.
    kubeconfig_encrypted = models.TextField(_("encrypted kubeconfig"), blank=True, editable=False)
    server = models.CharField(_("API server"), max_length=500, blank=True, help_text=_("API server URL (display only)"))
    simulated = models.BooleanField(_("simulated"), default=False, help_text=_("Served by kube_sim"))
    last_check_at = models.DateTimeField(_("last check"), null=True, blank=True)
    last_check_ok = models.BooleanField(_("last check succeeded"), null=True)
    last_check_message = models.TextField(_("last check message"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("cluster")
        verbose_name_plural = _("clusters")

    def __str__(self) -> str:
        return self.name


class AuditEntry(models.Model):
    """One mutation of one node: who, when, where, what, why, before/after, outcome."""

    class Outcome(models.TextChoices):
        SUCCEEDED = "succeeded", pgettext_lazy("outcome", "succeeded")
        FAILED = "failed", pgettext_lazy("outcome", "failed")

    # when the operation ended (a batch stores the entry a moment later, with the result it belongs to)
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             verbose_name=_("user"))
    username = models.CharField(_("user name"), max_length=150, blank=True)
    cluster = models.ForeignKey(Cluster, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("cluster"))
    cluster_name = models.CharField(_("cluster name"), max_length=63)
    node = models.CharField(_("node"), max_length=253, db_index=True)
    action = models.CharField(_("action"), max_length=32, db_index=True)
    reason = models.TextField(_("reason"), blank=True)
    before = models.JSONField(_("before"), default=dict, blank=True)
    after = models.JSONField(_("after"), default=dict, blank=True)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices)
    error = models.TextField(_("error"), blank=True)
    task_id = models.UUIDField(_("batch"), null=True, blank=True, db_index=True)
    # the name of the access token the change was asked with (through the API); empty: from the pages or a command
    via_token = models.CharField(_("access token"), max_length=100, blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")
        indexes = [models.Index(fields=["cluster_name", "node", "-created_at"])]

    def __str__(self) -> str:
        from kubenode.words import action_name

        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.username} {action_name(self.action)} " \
               f"{self.cluster_name}/{self.node}"


class BatchToken(models.Model):
    """The access token a batch was started with through the API: the worker names it in the batch's audit
    entries (recorded in the transaction that queues the batch)."""

    task_id = models.UUIDField(_("batch"), primary_key=True)
    token_name = models.CharField(_("access token"), max_length=100)

    class Meta:
        verbose_name = _("access token of a batch")
        verbose_name_plural = _("access tokens of batches")

    def __str__(self) -> str:
        return f"{self.task_id} (token {self.token_name})"


class LabelTaintTemplate(models.Model):
    """A saved set of label and taint changes that an operator applies to a selection."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.CharField(_("description"), max_length=300, blank=True)
    labels = models.JSONField(_("labels"), default=dict, blank=True,
                              help_text=_('Labels to add or overwrite, {"key": "value"}'))
    remove_labels = models.JSONField(_("labels to remove"), default=list, blank=True,
                                     help_text=_('Label keys to remove, ["key"]'))
    taints = models.JSONField(_("taints"), default=list, blank=True,
                              help_text=_('Taints to add, [{"key": "k", "value": "v", "effect": "NoSchedule"}]'))
    created_by = models.CharField(_("created by"), max_length=150, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("label and taint template")
        verbose_name_plural = _("label and taint templates")
        permissions = [("operate_nodes", "Can label, taint, cordon and uncordon nodes"),
                       ("drain_nodes", "Can drain nodes")]

    def __str__(self):
        return self.name
