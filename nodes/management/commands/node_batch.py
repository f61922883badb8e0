"""Run a batch on a cluster's nodes from the command line.

On the embedded default (SQLite) the command runs its task itself, in this process, with the same worker code as
everywhere (nothing else may run batches on that database meanwhile). On PostgreSQL it queues the task for the
workers (``progress_worker``) and, with ``--wait``, follows it to the end; without ``--wait`` it prints the task
id and exits 0.

Exit status: 0 every node succeeded (or, without --wait on PostgreSQL, the task was queued), 1 otherwise, 2 bad
arguments.
"""

from __future__ import annotations

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
from nodes.models import Cluster
from nodes.validation import ACTIONS
from progress import services
from progress.follow import follow
from progress.models import ProgressTask
from progress.selectors import task_state
from progress.worker import Worker
from progress.writer import failed_nodes

# kubectl drain's options, named as nodes.validation.validate_action("drain") accepts them.
DRAIN_DEFAULTS = {"ignore_daemonsets": False, "delete_emptydir_data": False, "force": False, "grace_period": -1,
                  "timeout": 300, "pod_selector": "", "disable_eviction": False, "skip_wait_for_delete_timeout": 0}


def bad(message: str) -> CommandError:
    return CommandError(message, returncode=2)


def parse_pairs(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise bad(f"--set expects KEY=VALUE, got {item!r}")
        out[key] = value
    return out


def parse_taint(item: str, *, need_effect: bool) -> dict:
    spec, sep, effect = item.rpartition(":")
    if not sep:
        spec, effect = item, ""
    key, has_value, value = spec.partition("=")
    if not key:
        raise bad(f"--taint expects KEY[=VALUE]:EFFECT, got {item!r}")
    if need_effect and not effect:
        raise bad(f"--taint {item!r} needs an effect (NoSchedule, PreferNoSchedule or NoExecute)")
    taint = {"key": key}
    if has_value:
        taint["value"] = value
    if effect:
        taint["effect"] = effect
    if need_effect:
        taint.setdefault("value", "")
    return taint


def build_params(action: str, opts: dict) -> dict:
    sets, removes, taints, reason = opts["set"] or [], opts["remove"] or [], opts["taint"] or [], opts["reason"]
    if action == "label":
        if not sets and not removes:
            raise bad("label needs --set KEY=VALUE and/or --remove KEY")
        return {"set": parse_pairs(sets), "remove": removes}
    if action == "unlabel":
        if not removes:
            raise bad("unlabel needs --remove KEY")
        return {"remove": removes}
    if action == "taint":
        if not taints:
            raise bad("taint needs --taint KEY=VALUE:EFFECT")
        return {"taints": [parse_taint(t, need_effect=True) for t in taints]}
    if action == "untaint":
        specs = [parse_taint(t, need_effect=False) for t in taints] + [{"key": k} for k in removes]
        if not specs:
            raise bad("untaint needs --taint KEY[:EFFECT] or --remove KEY")
        return {"taints": specs}
    if action == "cordon":
        return {"reason": reason or ""}
    if action == "drain":
        return {"reason": reason or "", **{name: opts[name] for name in DRAIN_DEFAULTS}}
    return {}


def check_drain_options(action: str, opts: dict) -> None:
    given = [name for name, default in DRAIN_DEFAULTS.items() if opts[name] != default]
    if given and action != "drain":
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise bad(f"{flags} apply to --action drain only")


class Command(BaseCommand):
    help = "Run label/taint/cordon/drain on many nodes as one batch task (exit 0 all succeeded, 1 not, 2 bad args)."

    def add_arguments(self, parser):
        parser.add_argument("--cluster", required=True)
        parser.add_argument("--user", required=True)
        parser.add_argument("--action", required=True, choices=ACTIONS)
        parser.add_argument("--set", action="append", metavar="KEY=VALUE")
        parser.add_argument("--remove", action="append", metavar="KEY")
        parser.add_argument("--taint", action="append", metavar="KEY=VALUE:EFFECT")
        parser.add_argument("--reason", default="")
        parser.add_argument("--concurrency", type=int, default=0,
                            help="nodes at once (1 up to the per-cluster limit for the action; default the limit)")
        drain = parser.add_argument_group("drain options (as kubectl drain)")
        drain.add_argument("--ignore-daemonsets", action="store_true", help="skip DaemonSet-managed pods")
        drain.add_argument("--delete-emptydir-data", action="store_true",
                           help="evict pods with emptyDir volumes (their data is lost)")
        drain.add_argument("--force", action="store_true", help="evict pods without a controller")
        drain.add_argument("--grace-period", type=int, default=DRAIN_DEFAULTS["grace_period"],
                           help="seconds each pod gets to terminate (-1: the pod's own)")
        drain.add_argument("--timeout", type=int, default=DRAIN_DEFAULTS["timeout"],
                           help="seconds to wait for a node's pods to go")
        drain.add_argument("--pod-selector", default="", help="only pods matching this label selector")
        drain.add_argument("--disable-eviction", action="store_true",
                           help="delete pods instead of evicting them (bypasses PodDisruptionBudgets)")
        drain.add_argument("--skip-wait-for-delete-timeout", type=int,
                           default=DRAIN_DEFAULTS["skip_wait_for_delete_timeout"],
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
        check_drain_options(opts["action"], opts)
        params = build_params(opts["action"], opts)
        limit = batches.concurrency_limit(opts["action"])
        if not 0 <= opts["concurrency"] <= limit:
            raise bad(f"--concurrency must be between 1 and {limit} for {opts['action']}")
        names = [n for n in (opts["nodes"] or "").split(",") if n.strip()] if opts["nodes"] is not None else None
        if opts["nodes"] is not None and not names:
            raise bad("--nodes needs at least one name")
        embedded = connection.vendor == "sqlite"
        try:
            task = batches.start_batch(user, cluster, opts["action"], params, names=names,
                                       selector=opts["selector"], all_nodes=opts["all_nodes"],
                                       concurrency=opts["concurrency"], queued=not embedded)
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
