"""A task's status in the words the progress dialog, the task list and the task page share."""
from django import template

register = template.Library()


def status_text(status: str, total: int, failed: int) -> str:
    """completed, completed with N failures, failed (every node, or the batch itself), cancelled, interrupted,
    running, pending."""
    if status == "succeeded":
        return "completed"
    if status == "failed":
        if failed and failed < total:
            return f"completed with {failed} failure{'s' if failed != 1 else ''}"
        return "failed"
    return status


@register.filter
def task_status(task) -> str:
    return status_text(task.status, task.total, task.failed)
