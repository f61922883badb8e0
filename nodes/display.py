"""How a node shows in the node tables: the HTML of each cell, made once per node in Python (a 100-row page has
~1,000 chips and meters), by the templates and by the live updates alike, so both always look the same."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from html import escape

from django.templatetags.static import static
from django.utils.formats import number_format
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kubenode.locale import labelled, listed

from .kube import quantity

# Columns of the node tables: key, header, sort key ("" = not sortable), shown unless the user hides it
COLUMNS = (
    ("status", gettext_lazy("Status"), "status"),
    ("roles", gettext_lazy("Roles"), "roles"),
    ("version", gettext_lazy("Version"), "version"),
    ("cpu", gettext_lazy("CPU"), "cpu"),
    ("memory", gettext_lazy("Memory"), "memory"),
    ("pods", gettext_lazy("Pods"), "pods"),
    ("taints", gettext_lazy("Taints"), ""),
    ("labels", gettext_lazy("Labels"), ""),
    ("age", gettext_lazy("Age"), "age"),
)
LIVE_COLUMNS = tuple(c[0] for c in COLUMNS)

# Labels worth showing in a row; the rest fold into "+N more". Kubernetes' own bookkeeping labels are shown last.
KEY_LABELS = ("topology.kubernetes.io/zone", "node.kubernetes.io/instance-type", "kubernetes.io/arch")
QUIET_PREFIXES = ("kubernetes.io/", "beta.kubernetes.io/", "node-role.kubernetes.io/", "topology.kubernetes.io/",
                  "node.kubernetes.io/", "failure-domain.beta.kubernetes.io/", "k8s.io/")
SHOWN_LABELS = 3

_BADGES = {  # status -> (css class, admin icon)
    "Ready": ("ready", "icon-yes.svg"),
    "NotReady": ("notready", "icon-no.svg"),
    "Unknown": ("unknown", "icon-unknown.svg"),
}
_EFFECT_CLASS = {"NoSchedule": "noschedule", "PreferNoSchedule": "prefer", "NoExecute": "noexecute"}


@lru_cache(maxsize=16)
def _icon(name: str) -> str:
    return f'<img src="{static("admin/img/" + name)}" alt="" width="13" height="13">'


def status_badge(n) -> str:
    cls, icon = _BADGES.get(n.status, _BADGES["Unknown"])
    ready = n.ready_condition
    title = ""
    if ready:
        since = ready.get("lastTransitionTime") or ""
        why = ready.get("message") or ready.get("reason") or ""
        title = _("%(status)s since %(since)s") % {"status": n.status, "since": since} + (
            f": {why}" if why and n.status != "Ready" else "")
    out = (f'<span class="kn-badge kn-badge-{cls}" title="{escape(title)}">{_icon(icon)}'
           f'<span>{escape(n.status)}</span></span>')
    if not n.schedulable:
        cordoned = _("cordoned")
        reason = (labelled(cordoned, n.cordon_reason)
                  if n.cordon_reason else cordoned) + (
            " " + _("(by %(user)s)") % {"user": n.cordoned_by} if n.cordoned_by else "")
        out += (f' <span class="kn-badge kn-badge-cordoned" title="{escape(reason)}">{_icon("icon-alert.svg")}'
                f'<span>{escape(cordoned)}</span></span>')
    return out


def _meter(label: str, usage_pct, requests_pct, total_text: str) -> str:
    parts = []
    if usage_pct is not None:
        parts.append(_("usage %(pct)s%%") % {"pct": usage_pct})
    if requests_pct is not None:
        parts.append(_("requests %(pct)s%%") % {"pct": requests_pct})
    if not parts:
        return f'<span class="kn-muted">{escape(total_text)}</span>' if total_text else ""
    text = listed(parts)
    described = _("%(what)s: %(use)s of %(total)s") % {"what": label, "use": text, "total": total_text} \
        if total_text else labelled(label, text)
    level = max(usage_pct or 0, requests_pct or 0)
    tone = "high" if level >= 90 else "mid" if level >= 70 else "low"
    fill = f'<span class="kn-meter-use" style="width:{min(usage_pct, 100)}%"></span>' if usage_pct is not None \
        else ""
    mark = f'<span class="kn-meter-req" style="left:{min(requests_pct, 100)}%"></span>' \
        if requests_pct is not None else ""
    short = f"{usage_pct}%" if usage_pct is not None else _("req %(pct)s%%") % {"pct": requests_pct}
    extra = " · " + _("req %(pct)s%%") % {"pct": requests_pct} if usage_pct is not None and requests_pct is not None \
        else ""
    return (f'<span class="kn-meter kn-meter-{tone}" role="img" aria-label="{escape(described)}" '
            f'title="{escape(described)}"><span class="kn-meter-bar">{fill}{mark}</span>'
            f'<span class="kn-meter-text">{short}{extra}</span></span>'
            f'<span class="kn-meter-total">{escape(total_text)}</span>')


def cpu_cell(n) -> str:
    return _meter(_("CPU"), n.cpu_usage_pct, n.cpu_requests_pct, quantity.cores(n.cpu_allocatable))


def memory_cell(n) -> str:
    return _meter(_("Memory"), n.memory_usage_pct, n.memory_requests_pct, quantity.binary_bytes(n.memory_allocatable))


def pods_cell(n) -> str:
    if n.pod_count is None:
        if n.pods_pending:
            title = escape(_("being read: the counts follow in a moment"))
            return f'<span title="{title}">…</span>'
        title = escape(_("pods could not be read"))
        return f'<span title="{title}">?</span>'
    if n.pods_allocatable:
        return (f'<span>{number_format(n.pod_count)}<span class="kn-muted"> / {number_format(n.pods_allocatable)}'
                f'</span></span>')
    return number_format(n.pod_count)


def taint_chips(n) -> str:
    chips = []
    for t in n.taints:
        effect = t.get("effect") or ""
        text = f"{t.get('key')}{'=' + t['value'] if t.get('value') else ''}:{effect}"
        chips.append(f'<span class="kn-chip kn-taint kn-taint-{_EFFECT_CLASS.get(effect, "other")}">'
                     f'{escape(text)}</span>')
    return " ".join(chips)


def _label_rank(key: str) -> tuple:
    if key in KEY_LABELS:
        return (1, KEY_LABELS.index(key), key)
    if key.startswith(QUIET_PREFIXES) or "kubernetes.io/" in key:
        return (2, 0, key)
    return (0, 0, key)  # the operators' own labels first


def label_chips(labels: dict, shown: int = SHOWN_LABELS) -> str:
    """The most telling labels as chips; the others behind "+N more" (a disclosure, keyboard-usable)."""
    items = sorted((labels or {}).items(), key=lambda kv: _label_rank(kv[0]))
    items = [(k, v) for k, v in items if not k.startswith("node-role.kubernetes.io/")] + \
        [(k, v) for k, v in items if k.startswith("node-role.kubernetes.io/")]

    def chip(k, v):
        if k in KEY_LABELS and v:  # well known: the value says enough, the key is in the tooltip and for readers
            return (f'<span class="kn-chip" title="{escape(str(k))}={escape(str(v))}"><span class="visually-hidden">'
                    f'{escape(str(k))}=</span>{escape(str(v))}</span>')
        return f'<span class="kn-chip">{escape(str(k))}={escape(str(v))}</span>'

    head = " ".join(chip(k, v) for k, v in items[:shown])
    rest = items[shown:]
    if not rest:
        return head
    more = " ".join(chip(k, v) for k, v in rest)
    more_text = escape(_("+%(count)s more") % {"count": len(rest)})
    return (f'{head} <details class="kn-more"><summary>{more_text}</summary>'
            f'<span class="kn-more-list">{more}</span></details>')


def age_text(seconds) -> str:
    """kubectl's short age: 45s, 12m, 5h, 3d, 2y."""
    if seconds is None:
        return ""
    s = int(seconds)
    for size, unit in ((365 * 86400, "y"), (86400, "d"), (3600, "h"), (60, "m")):
        if s >= size:
            return f"{s // size}{unit}"
    return f"{max(s, 0)}s"


def parse_time(value):
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not value or not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def time_html(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    ago = age_text((datetime.now(UTC) - moment).total_seconds())
    ago_text = escape(_("%(age)s ago") % {"age": ago})
    return (f'<time datetime="{moment.strftime("%Y-%m-%dT%H:%M:%SZ")}" title="{ago_text}">'
            f'{moment.strftime("%Y-%m-%d %H:%M:%S")} UTC</time>')


def age_cell(n) -> str:
    created = n.created.strftime("%Y-%m-%d %H:%M UTC") if n.created else ""
    if not created:
        return ""
    title = escape(_("created %(time)s") % {"time": created})
    return f'<span title="{title}">{age_text(n.age_seconds)}</span>'


def roles_cell(n) -> str:
    return f'<span translate="no">{escape(", ".join(n.roles))}</span>' if n.roles else '<span class="kn-muted">—</span>'


def cells(n) -> dict[str, str]:
    """Every live column's HTML for node `n` (the live updates send these)."""
    return {"status": status_badge(n), "roles": roles_cell(n), "version": escape(n.kubelet_version),
            "cpu": cpu_cell(n), "memory": memory_cell(n), "pods": pods_cell(n), "taints": taint_chips(n),
            "labels": label_chips(n.labels), "age": age_cell(n)}


def safe_cells(n) -> dict:
    return {k: mark_safe(v) for k, v in cells(n).items()}  # noqa: S308 - built from escaped parts above
