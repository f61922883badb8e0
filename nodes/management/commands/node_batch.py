"""Run a batch on a cluster's nodes from the command line.

On the embedded default (SQLite) the command runs its task itself, in this process, with the same worker code as
everywhere (nothing else may run batches on that database meanwhile). On PostgreSQL it queues the task for the
workers (``progress_worker``) and, with ``--wait``, follows it to the end; without ``--wait`` it prints the task
id and exits 0.

Exit status: 0 every node succeeded (or, without --wait on PostgreSQL, the task was queued), 1 otherwise, 2 bad
arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from kubenode import runtime
from nodes import batches
from nodes.forms import BatchActionForm, data_with_defaults
from nodes.models import Cluster, LabelTaintTemplate
from nodes.validation import ACTIONS
from progress import services
from progress.follow import follow
from progress.models import ProgressTask
from progress.selectors import task_state
from progress.worker import Worker
from progress.writer import failed_nodes

# Where the batch form's fields come from on the command line (its errors name the flag).
FLAGS = {"set": "--set", "remove": "--remove", "taints": "--taint", "template": "--template", "reason": "--reason",
         "concurrency": "--concurrency", "grace_period": "--grace-period", "timeout": "--timeout",
         "pod_selector": "--pod-selector", "skip_wait_for_delete_timeout": "--skip-wait-for-delete-timeout",
         "selector": "--selector", "node": "--nodes", "confirm_reserved": "--confirm-reserved"}
DRAIN_OPTIONS = ("ignore_daemonsets", "delete_emptydir_data", "force", "disable_eviction", "grace_period", "timeout",
                 "pod_selector", "skip_wait_for_delete_timeout")


def bad(message: str) -> CommandError:
    return CommandError(message, returncode=2)


def check_drain_options(action: str, opts: dict) -> None:
    given = [name for name in DRAIN_OPTIONS if opts[name] not in (None, False)]
    if given and action != "drain":
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise bad(f"{flags} apply to --action drain only")


def form_data(opts: dict) -> dict:
    """The batch form's data from the options; drain options left out take the form's defaults."""
    action = opts["action"]
    taints, removes = list(opts["taint"] or []), list(opts["remove"] or [])
    if action == "untaint":  # --remove KEY: a taint key to remove, as kubectl taint KEY-
        taints, removes = taints + removes, []
    data = {"action": action, "set": "\n".join(opts["set"] or []), "remove": "\n".join(removes),
            "taints": "\n".join(taints), "reason": opts["reason"] or "", "concurrency": opts["concurrency"] or "",
            "pod_selector": opts["pod_selector"] or ""}
    if opts.get("confirm_reserved"):
        data["confirm_reserved"] = True
    if opts["template"]:
        template = LabelTaintTemplate.objects.filter(name=opts["template"]).first()
        if template is None:
            raise bad(f"--template: no template {opts['template']!r}")
        data["template"] = str(template.pk)
    for name in ("grace_period", "timeout", "skip_wait_for_delete_timeout"):
        if opts[name] is not None:
            data[name] = opts[name]
    for name in ("ignore_daemonsets", "delete_emptydir_data", "force", "disable_eviction"):
        if opts[name] is not None:
            data[name] = opts[name]
    if opts["nodes"] is not None:
        names = [n for n in opts["nodes"].split(",") if n.strip()]
        if not names:
            raise bad("--nodes needs at least one name")
        data["node"] = names
    elif opts["selector"] is not None:
        if not opts["selector"].strip():
            raise bad("--selector needs a label selector")
        data["selector"] = opts["selector"]
    else:
        data["all_nodes"] = True
    return data_with_defaults(data)


def parse_batch(opts: dict, cluster) -> BatchActionForm:
    """The batch the options describe, parsed and checked by the pages' form; exit 2 with every error if bad."""
    check_drain_options(opts["action"], opts)
    form = BatchActionForm(form_data(opts), cluster=cluster)
    if not form.is_valid():
        raise bad("; ".join(form.error_messages(FLAGS)))
    return form


class Command(BaseCommand):
    help = "Run label/taint/cordon/drain on many nodes as one batch task (exit 0 all succeeded, 1 not, 2 bad args)."

    def add_arguments(self, parser):
        parser.add_argument("--cluster", required=True)
        parser.add_argument("--user", required=True)
        parser.add_argument("--action", required=True, choices=ACTIONS)
        parser.add_argument("--set", action="append", metavar="KEY=VALUE")
        parser.add_argument("--remove", action="append", metavar="KEY")
        parser.add_argument("--taint", action="append", metavar="KEY=VALUE:EFFECT")
        parser.add_argument("--template", metavar="NAME",
                            help="apply a label/taint template (label: all of it; unlabel: take it off)")
        parser.add_argument("--reason", default="")
        parser.add_argument("--confirm-reserved", action="store_true",
                            help="confirm changing keys under kubernetes.io/ or k8s.io/ and adding NoExecute taints")
        parser.add_argument("--concurrency", default="",
                            help="nodes at once (1 up to the per-cluster limit for the action; default the limit)")
        drain = parser.add_argument_group("drain options (as kubectl drain; one set of defaults with the pages)")
        drain.add_argument("--ignore-daemonsets", action=argparse.BooleanOptionalAction, default=None,
                           help="skip DaemonSet-managed pods (default: yes; --no-ignore-daemonsets refuses them, "
                                "as kubectl does without the flag)")
        drain.add_argument("--delete-emptydir-data", action="store_true", default=None,
                           help="evict pods with emptyDir volumes (their data is lost)")
        drain.add_argument("--force", action="store_true", default=None, help="evict pods without a controller")
        drain.add_argument("--grace-period", default=None,
                           help="seconds each pod gets to terminate (-1: the pod's own; default -1)")
        drain.add_argument("--timeout", default=None, help="seconds to wait for a node's pods to go (default 300)")
        drain.add_argument("--pod-selector", default=None, help="only pods matching this label selector")
        drain.add_argument("--disable-eviction", action="store_true", default=None,
                           help="delete pods instead of evicting them (bypasses PodDisruptionBudgets)")
        drain.add_argument("--skip-wait-for-delete-timeout", default=None,
                           help="do not wait for pods deleted more than this many seconds ago (0: always wait)")
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--nodes", help="comma-separated node names")
        target.add_argument("--selector", help="label selector, resolved at the start")
        target.add_argument("--all", action="store_true", dest="all_nodes")
        parser.add_argument("--wait", action="store_true",
                            help="follow the batch to its end (a progress bar on a terminal); on PostgreSQL without "
                                 "it the task is only queued")
        parser.add_argument("--json", action="store_true", help="print one JSON summary line at the end")

    def handle(self, *args, **opts):
        try:
            user = get_user_model().objects.get(username=opts["user"])
        except get_user_model().DoesNotExist:
            raise bad(f"no user {opts['user']!r}") from None
        try:
            cluster = Cluster.objects.get(name=opts["cluster"])
        except Cluster.DoesNotExist:
            raise bad(f"no cluster {opts['cluster']!r}") from None
        form = parse_batch(opts, cluster)
        target = form.target
        embedded = connection.vendor == "sqlite"
        try:
            task = batches.start_batch(user, cluster, opts["action"], form.cleaned_data["params"],
                                       names=target.names, selector=target.selector or None,
                                       all_nodes=target.all_nodes, concurrency=form.cleaned_data["concurrency"],
                                       queued=not embedded)
        except (ValidationError, PermissionDenied) as exc:
            raise bad("; ".join(getattr(exc, "messages", None) or [str(exc)])) from None
        except Exception as exc:  # noqa: BLE001 - e.g. the cluster cannot be reached to resolve targets
            raise bad(f"cannot start the batch: {exc}") from None

        show_bar = opts["wait"] and sys.stderr.isatty() and not opts["json"]
        if not opts["json"]:
            self.stderr.write(f"task {task.pk}: {opts['action']} on {task.total} node(s) of {cluster.name}")
        if not embedded and not opts["wait"]:
            self._queued(task, opts)
            return
        self._follow(task, user, show_bar, embedded)
        if show_bar:
            sys.stderr.write("\n")
        task.refresh_from_db()
        summary = {"task": str(task.pk), "status": task.status, "total": task.total,
                   "succeeded": task.succeeded, "failed": task.failed, "failed_nodes": failed_nodes(task.pk)}
        if opts["json"]:
            self.stdout.write(json.dumps(summary))
        else:
            state = task_state(task)
            self.stdout.write(f"{state['status']}: {task.succeeded} succeeded, {task.failed} failed of {task.total}")
            for item in summary["failed_nodes"]:
                self.stdout.write(f"  {item['node']}: {item['error']}")
        if not (task.status == "succeeded" and task.succeeded == task.total):
            sys.exit(1)

    def _queued(self, task, opts) -> None:
        if opts["json"]:
            self.stdout.write(json.dumps({"task": str(task.pk), "status": task.status, "total": task.total,
                                          "succeeded": 0, "failed": 0, "failed_nodes": []}))
        else:
            self.stdout.write(f"queued: task {task.pk} ({task.total} node(s)); a worker runs it "
                              f"(follow it with --wait, on the task page, or manage.py progress_stats)")

    def _follow(self, task, user, show_bar: bool, embedded: bool) -> None:
        """Embedded: run the task here with this process's own worker; otherwise follow the queued task."""
        worker = None
        if embedded:
            runtime.set_role("command")
            worker = Worker(name=f"{runtime.replica_id()}:node_batch", only_tasks=[task.pk], role="command")

        def on_frame(frame):
            if show_bar:
                self._bar(frame)

        def start():
            if worker is not None:
                services.queue_task(task)
                worker.start()

        try:
            asyncio.run(follow(task.pk, user.pk, on_frame, start=start, listen=not embedded))
        except KeyboardInterrupt:
            services.cancel_task(ProgressTask.objects.get(pk=task.pk))
            if worker is not None:
                asyncio.run(follow(task.pk, user.pk, lambda frame: None))
        finally:
            if worker is not None:
                worker.shutdown(float(settings.CONFIG["server.shutdown_grace"]))

    def _bar(self, frame):
        total = frame["total"] or 1
        width = 40
        filled = int(width * frame["done"] / total)
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {frame['done']}/{frame['total']} "
                         f"ok {frame['succeeded']} failed {frame['failed']} ")
        sys.stderr.flush()
