from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from kubenode.admin import WordFieldsAdmin, WordFilter, display_word
from kubenode.words import action_name, outcome_name

from . import services
from .models import ProgressMessage, ProgressTask


class ReadOnlyAdmin(WordFieldsAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ProgressTask)
class ProgressTaskAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "user", "cluster_name", "action_word", "status", "total", "done",
                    "succeeded", "failed", "owner", "heartbeat_at")
    list_filter = ("status", "user", WordFilter.of("action", _("action"), action_name), "cluster_name")
    action_word = display_word("action", _("action"), action_name)
    word_fields = {"action": "action_word"}
    search_fields = ("id", "cluster_name", "user__username")
    date_hierarchy = "created_at"
    actions = ["cancel_tasks"]

    def changelist_view(self, request, extra_context=None):
        from .notify import get_notifier

        return super().changelist_view(request, {**(extra_context or {}), "notifier": get_notifier().status()})

    @admin.action(description=_("Cancel the selected batches (stop at the next node)"))
    def cancel_tasks(self, request, queryset):
        cancelled = 0
        for task in queryset:
            try:
                services.cancel_task(task, request.user)
                cancelled += 1
            except ValidationError:
                continue
        self.message_user(request, ngettext("Cancel requested for %(count)s batch.",
                                            "Cancel requested for %(count)s batches.", cancelled) % {
            "count": cancelled}, messages.INFO)


@admin.register(ProgressMessage)
class ProgressMessageAdmin(ReadOnlyAdmin):
    list_display = ("task", "seq", "type", "node", "outcome_word", "error", "done", "succeeded", "failed",
                    "created_at")
    list_filter = ("type", WordFilter.of("outcome", _("outcome"), outcome_name), "task__status", "task__user",
                   WordFilter.of("task__action", _("action"), action_name), "task__cluster_name")
    outcome_word = display_word("outcome", _("outcome"), outcome_name)
    word_fields = {"outcome": "outcome_word"}
    search_fields = ("node", "task__id")
    list_select_related = ("task",)
