"""A task's status in the words the progress dialog, the task list and the task page share."""
from django import template
from django.utils.translation import ngettext

from kubenode.words import outcome_name

register = template.Library()


def status_text(status: str, total: int, failed: int) -> str:
    """completed, completed with N failures, failed (every node, or the batch itself), cancelled, interrupted,
    running, pending."""
    if status == "succeeded":
        return outcome_name("completed")
    if status == "failed":
        if failed and failed < total:
            return ngettext("completed with %(count)s failure", "completed with %(count)s failures", failed) % {
                "count": failed}
        return outcome_name("failed")
    return outcome_name(status)


@register.filter
def task_status(task) -> str:
    return status_text(task.status, task.total, task.failed)
