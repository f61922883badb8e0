"""Admin for clusters (the kubeconfig is never shown), the read-only audit trail, templates (validated by the
templates page's form) and users (admins who are not superusers manage the roles of non-superusers only)."""

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.utils.translation import gettext_lazy as _

from kubenode import access
from kubenode.admin import WordFieldsAdmin, WordFilter, display_word
from kubenode.locale import labelled
from kubenode.words import action_name

from . import services
from .forms import TemplateForm
from .models import AuditEntry, Cluster, LabelTaintTemplate

User = get_user_model()


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

    @admin.action(description=_("Check connectivity"))
    def check_connectivity(self, request, queryset):
        for cluster in queryset:
            result = services.check_cluster(cluster)
            level = messages.SUCCESS if result.ok else messages.ERROR
            self.message_user(request, labelled(cluster.name, result.message),
                              level)


@admin.register(AuditEntry)
class AuditEntryAdmin(WordFieldsAdmin):
    list_display = ("created_at", "username", "via_token", "cluster_name", "node", "action_word", "outcome", "reason",
                    "error")
    list_filter = ("outcome", WordFilter.of("action", _("action"), action_name), "cluster_name", "username",
                   "created_at")
    action_word = display_word("action", _("action"), action_name)
    word_fields = {"action": "action_word"}
    search_fields = ("node", "username", "via_token", "reason", "error", "cluster_name")
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request, obj=None):
        return [*(f.name for f in self.model._meta.fields), *self.word_fields.values()]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(LabelTaintTemplate)
class LabelTaintTemplateAdmin(admin.ModelAdmin):
    """The templates page's form: the same parsers and checks, every error beside its field."""

    form = TemplateForm
    fields = ("name", "description", "labels_text", "remove_text", "taints_text", "created_by", "created_at")
    list_display = ("name", "description", "labels", "remove_labels", "taints", "created_by")
    search_fields = ("name", "description")
    readonly_fields = ("created_by", "created_at")

    def save_model(self, request, obj, form, change):
        if not obj.created_by:
            obj.created_by = request.user.get_username()
        super().save_model(request, obj, form, change)


class KubenodeUserAdmin(UserAdmin):
    """Superusers manage everyone; other admins manage the users who are not superusers, their groups (roles) and
    staff status, never the superuser flag or individual permissions (kubenode.access.can_manage_user)."""

    RESTRICTED_FIELDS = ("is_superuser", "user_permissions")

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs if access.manages_superusers(request.user) else qs.filter(is_superuser=False)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if access.manages_superusers(request.user):
            return fieldsets
        return [(name, {**opts, "fields": tuple(f for f in opts["fields"] if f not in self.RESTRICTED_FIELDS)})
                for name, opts in fieldsets]

    def get_list_filter(self, request):
        return tuple(f for f in super().get_list_filter(request) if f not in self.RESTRICTED_FIELDS)

    def has_change_permission(self, request, obj=None):
        if obj is not None and not access.can_manage_user(request.user, obj):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and not access.can_manage_user(request.user, obj):
            return False
        return super().has_delete_permission(request, obj)

    def user_change_password(self, request, id, form_url=""):
        user = self.get_object(request, id)
        if user is not None and not access.can_manage_user(request.user, user):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied("only superusers manage superusers")
        return super().user_change_password(request, id, form_url)


if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, KubenodeUserAdmin)
