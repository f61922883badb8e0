from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from . import services
from .models import ProgressMessage, ProgressTask


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ProgressTask)
class ProgressTaskAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "user", "cluster_name", "action", "status", "total", "done",
                    "succeeded", "failed", "owner", "heartbeat_at")
    list_filter = ("status", "user", "action", "cluster_name")
    search_fields = ("id", "cluster_name", "user__username")
    date_hierarchy = "created_at"
    actions = ["cancel_tasks"]

    def changelist_view(self, request, extra_context=None):
        from .notify import get_notifier

        return super().changelist_view(request, {**(extra_context or {}), "notifier": get_notifier().status()})

    @admin.action(description="Cancel the selected batches (stop at the next node)")
    def cancel_tasks(self, request, queryset):
        cancelled = 0
        for task in queryset:
            try:
                services.cancel_task(task, request.user)
                cancelled += 1
            except ValidationError:
                continue
        self.message_user(request, f"Cancel requested for {cancelled} batch(es).", messages.INFO)


@admin.register(ProgressMessage)
class ProgressMessageAdmin(ReadOnlyAdmin):
    list_display = ("task", "seq", "type", "node", "outcome", "error", "done", "succeeded", "failed", "created_at")
    list_filter = ("type", "outcome", "task__status", "task__user", "task__action", "task__cluster_name")
    search_fields = ("node", "task__id")
    list_select_related = ("task",)
