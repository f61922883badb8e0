"""The words for values the pages show that are stored in English (batch actions, outcomes, task statuses), in
the user's language. The stored values and what the API, logs and metrics say stay English; Kubernetes' own
values (Ready, NotReady, NoSchedule, …) stay as Kubernetes spells them."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

# Batch actions: as a name ("label" in a list or a table) and as a verb starting a heading ("Label 3 nodes")
ACTIONS = {
    "label": pgettext_lazy("batch action", "label"),
    "unlabel": pgettext_lazy("batch action", "unlabel"),
    "taint": pgettext_lazy("batch action", "taint"),
    "untaint": pgettext_lazy("batch action", "untaint"),
    "cordon": pgettext_lazy("batch action", "cordon"),
    "uncordon": pgettext_lazy("batch action", "uncordon"),
    "drain": pgettext_lazy("batch action", "drain"),
}
OUTCOMES = {
    "succeeded": pgettext_lazy("outcome", "succeeded"),
    "failed": pgettext_lazy("outcome", "failed"),
    "skipped": pgettext_lazy("outcome", "skipped"),
    "cancelled": pgettext_lazy("outcome", "cancelled"),
    "pending": pgettext_lazy("outcome", "pending"),
    "running": pgettext_lazy("outcome", "running"),
    "interrupted": pgettext_lazy("outcome", "interrupted"),
    "completed": pgettext_lazy("outcome", "completed"),
}
NODE_STATES = {"cordoned": _("cordoned"), "schedulable": _("schedulable")}


def action_name(action) -> str:
    return str(ACTIONS.get(str(action), action))


def outcome_name(outcome) -> str:
    return str(OUTCOMES.get(str(outcome), outcome))
