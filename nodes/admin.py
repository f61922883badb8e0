"""Admin for clusters (the kubeconfig is never shown) and the read-only audit trail."""

from django.contrib import admin, messages

from . import services
from .models import AuditEntry, Cluster, LabelTaintTemplate


@admin.register(Cluster)
class ClusterAdmin(admin.ModelAdmin):
    list_display = ("name", "source", "context", "server", "simulated", "last_check_ok", "last_check_at")
    list_filter = ("source", "simulated", "last_check_ok")
    search_fields = ("name", "server", "context")
    exclude = ("kubeconfig_encrypted",)
    readonly_fields = ("source", "context", "server", "last_check_at", "last_check_ok", "last_check_message",
                       "created_at", "updated_at")
    actions = ["check_connectivity"]

    def has_add_permission(self, request):
        return False  # clusters come from a kubeconfig import (cluster_import) or the in-cluster account

    @admin.action(description="Check connectivity")
    def check_connectivity(self, request, queryset):
        for cluster in queryset:
            result = services.check_cluster(cluster)
            level = messages.SUCCESS if result.ok else messages.ERROR
            self.message_user(request, f"{cluster.name}: {result.message}", level)


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "username", "cluster_name", "node", "action", "outcome", "reason", "error")
    list_filter = ("outcome", "action", "cluster_name", "username", "created_at")
    search_fields = ("node", "username", "reason", "error", "cluster_name")
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(LabelTaintTemplate)
class LabelTaintTemplateAdmin(admin.ModelAdmin):
    list_display = ("name", "description", "labels", "remove_labels", "taints", "created_by")
    search_fields = ("name", "description")
    readonly_fields = ("created_by", "created_at")

    def save_model(self, request, obj, form, change):
        if not obj.created_by:
            obj.created_by = request.user.get_username()
        super().save_model(request, obj, form, change)
