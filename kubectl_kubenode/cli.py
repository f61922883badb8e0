"""kubectl-kubenode: list clusters and nodes, and run batches with a live progress bar, through kubenode's API.

As a kubectl plugin (`kubectl kubenode …`) once `kubectl-kubenode` is on the PATH (`pip install .` installs it).
Configured by --url/--token, else KUBENODE_URL/KUBENODE_TOKEN, else the file `kubectl kubenode config` writes
(~/.config/kubenode/client.json, or KUBENODE_CLIENT_CONFIG; readable by its owner only). The token is a personal
access token from kubenode's "Access tokens" page; it is never printed.

Exit status, as `manage.py node_batch`: 0 every node succeeded (or, with --no-wait, the batch was queued), 1 otherwise
(failed nodes, cancelled, interrupted, the connection lost while following), 2 bad arguments or a request refused.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ACTIONS = ("label", "unlabel", "taint", "untaint", "cordon", "uncordon", "drain")
FINAL = ("complete", "error", "cancelled", "interrupted")


class Failure(Exception):
    """A request that failed: its message (the problem document's detail) and the exit status it leads to."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


def config_path() -> Path:
    explicit = os.environ.get("KUBENODE_CLIENT_CONFIG")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "kubenode" / "client.json"


def read_config() -> dict:
    path = config_path()
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise Failure(f"cannot read {path}: {exc}") from None


class Client:
    def __init__(self, url: str, token: str, timeout: float = 60):
        self.url, self.token, self.timeout = url.rstrip("/"), token, timeout

    def call(self, method: str, path: str, body=None, query: dict | None = None):
        if query:
            path += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v not in (None, "")})
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}/api/v1{path}", data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
                return json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                detail = json.loads(raw).get("detail") or exc.reason
            except (ValueError, AttributeError):
                detail = exc.reason
            raise Failure(f"{exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise Failure(f"cannot reach kubenode at {self.url}: {reason}") from None


# ---- Commands ----------------------------------------------------------------------------------------------------

def cmd_config(args, out) -> int:
    path = config_path()
    current = read_config()
    if args.url:
        current["url"] = args.url
    if args.token_stdin:
        current["token"] = sys.stdin.readline().strip()
    if args.url or args.token_stdin:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(current, fh)
        os.chmod(path, 0o600)
    out.write(f"config: {path}\nurl: {current.get('url', '(not set)')}\n"
              f"token: {'set' if current.get('token') else 'not set'}\n")
    return 0


def cmd_clusters(client, args, out) -> int:
    clusters = client.call("GET", "/clusters")
    if args.output == "json":
        out.write(json.dumps(clusters) + "\n")
        return 0
    rows = [("NAME", "SERVER", "LAST CHECK")]
    rows += [(c["name"], c["server"], {True: "ok", False: "failed", None: "never"}[c["last_check_ok"]])
             for c in clusters]
    table(rows, out)
    return 0


def cmd_nodes(client, args, out) -> int:
    query = {"q": args.q, "selector": args.selector, "status": args.status, "role": args.role, "taint": args.taint,
             "sort": args.sort, "per_page": 500}
    items, page = [], 1
    while True:
        answer = client.call("GET", f"/clusters/{urllib.parse.quote(args.cluster)}/nodes", query={**query,
                                                                                                    "page": page})
        items += answer["items"]
        if page >= answer["pages"]:
            break
        page += 1
    if args.output == "json":
        out.write(json.dumps(items) + "\n")
        return 0
    if args.output == "name":
        for n in items:
            out.write(f"{n['name']}\n")
        return 0
    rows = [("NAME", "STATUS", "ROLES", "VERSION", "PODS", "TAINTS")]
    for n in items:
        status = n["status"] + ("" if n["schedulable"] else ",SchedulingDisabled")
        rows.append((n["name"], status, ",".join(n["roles"]) or "<none>", n["kubelet_version"],
                     "" if n["pod_count"] is None else str(n["pod_count"]), str(len(n["taints"]))))
    table(rows, out)
    return 0


def batch_body(args) -> dict:
    body = {"action": args.action, "set": args.set or [], "remove": args.remove or [], "taints": args.taint or [],
            "reason": args.reason or ""}
    if args.template:
        body["template"] = args.template
    if args.concurrency is not None:
        body["concurrency"] = args.concurrency
    drain = {"ignore_daemonsets": args.ignore_daemonsets, "delete_emptydir_data": args.delete_emptydir_data,
             "force": args.force, "disable_eviction": args.disable_eviction, "grace_period": args.grace_period,
             "timeout": args.timeout, "skip_wait_for_delete_timeout": args.skip_wait_for_delete_timeout}
    given = [name for name, value in drain.items() if value not in (None, False)] + \
        (["pod_selector"] if args.pod_selector else [])
    if given and args.action != "drain":
        raise Failure(f"{', '.join('--' + n.replace('_', '-') for n in given)} apply to --action drain only")
    body.update({k: v for k, v in drain.items() if v is not None})
    if args.pod_selector:
        body["pod_selector"] = args.pod_selector
    if args.nodes is not None:
        names = [n.strip() for n in args.nodes.split(",") if n.strip()]
        if not names:
            raise Failure("--nodes needs at least one name")
        body["nodes"] = names
    elif args.selector is not None:
        if not args.selector.strip():
            raise Failure("--selector needs a label selector")
        body["selector"] = args.selector
    else:
        body["all_nodes"] = True
    return body


def bar(frame: dict, width: int = 40) -> str:
    total = frame["total"] or 1
    filled = int(width * frame["done"] / total)
    return (f"\r[{'#' * filled}{'.' * (width - filled)}] {frame['done']}/{frame['total']} "
            f"ok {frame['succeeded']} failed {frame['failed']} ")


def follow(client, task_id: str, on_frame, poll: float = 0.25) -> dict:
    """Every message of the batch, resuming after the last seq received (the API's contract), until the final
    one; returns it."""
    after = 0
    while True:
        answer = client.call("GET", f"/batches/{task_id}/messages", query={"after_seq": after})
        for frame in answer["messages"]:
            on_frame(frame)
            after = frame["seq"]
            if frame["type"] in FINAL:
                return frame
        if not answer["more"]:
            time.sleep(poll)


def cmd_batch(client, args, out, err) -> int:
    body = batch_body(args)
    task = client.call("POST", f"/clusters/{urllib.parse.quote(args.cluster)}/batches", body)
    if not args.json:
        err.write(f"task {task['task']}: {args.action} on {task['total']} node(s) of {args.cluster}\n")
    if args.no_wait:
        out.write(json.dumps({"task": task["task"], "status": task["status"], "total": task["total"]}) + "\n"
                  if args.json else f"queued: task {task['task']} ({task['total']} node(s))\n")
        return 0
    show = args.progress == "always" or (args.progress == "auto" and err.isatty() and not args.json)

    def on_frame(frame):
        if show:
            err.write(bar(frame))
            err.flush()

    try:
        follow(client, task["task"], on_frame)
        if show:
            err.write("\n")
        final = client.call("GET", f"/batches/{task['task']}")
    except KeyboardInterrupt:
        client.call("POST", f"/batches/{task['task']}/cancel")
        err.write("\ncancel requested\n")
        return 1
    except Failure as exc:
        raise Failure(f"lost the batch while following it: {exc}", code=1) from None
    failed = [n for n in final["nodes"] if n["outcome"] == "failed"]
    if args.json:
        out.write(json.dumps({"task": final["task"], "status": final["status"], "total": final["total"],
                              "succeeded": final["succeeded"], "failed": final["failed"],
                              "failed_nodes": [{"node": n["node"], "error": n["error"]} for n in failed]}) + "\n")
    else:
        out.write(f"{final['status']}: {final['succeeded']} succeeded, {final['failed']} failed of "
                  f"{final['total']}\n")
        for n in failed:
            out.write(f"  {n['node']}: {n['error']}\n")
    return 0 if final["status"] == "succeeded" and final["succeeded"] == final["total"] else 1


def table(rows, out) -> None:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        out.write("   ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n")


# ---- Arguments ---------------------------------------------------------------------------------------------------

def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kubectl kubenode", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="exit status: 0 all nodes succeeded, 1 not, 2 bad arguments or refused")
    p.add_argument("--url", help="kubenode's address (default: KUBENODE_URL, then the config file)")
    p.add_argument("--token", help="a personal access token (default: KUBENODE_TOKEN, then the config file); "
                                   "prefer the variable or the file: arguments show in process lists")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("config", help="save the URL and the token for later commands")
    c.add_argument("--set-url", dest="url")
    c.add_argument("--token-stdin", action="store_true", help="read the token from the standard input")

    c = sub.add_parser("clusters", help="list the clusters")
    c.add_argument("-o", "--output", choices=("table", "json"), default="table")

    c = sub.add_parser("nodes", help="list a cluster's nodes (the node list's filters)")
    c.add_argument("--cluster", required=True)
    c.add_argument("-l", "--selector", default="", help="label selector")
    c.add_argument("--q", default="", help="name contains")
    c.add_argument("--status", default="", choices=("", "Ready", "NotReady", "Unknown", "cordoned"))
    c.add_argument("--role", default="")
    c.add_argument("--taint", default="", help="nodes with a taint of this key")
    c.add_argument("--sort", default="name")
    c.add_argument("-o", "--output", choices=("table", "json", "name"), default="table")

    c = sub.add_parser("batch", help="run an action on many nodes as one batch, with a live progress bar")
    c.add_argument("--cluster", required=True)
    c.add_argument("--action", required=True, choices=ACTIONS)
    c.add_argument("--set", action="append", metavar="KEY=VALUE")
    c.add_argument("--remove", action="append", metavar="KEY")
    c.add_argument("--taint", action="append", metavar="KEY=VALUE:EFFECT")
    c.add_argument("--template", metavar="NAME")
    c.add_argument("--reason", default="")
    c.add_argument("--concurrency", type=int)
    d = c.add_argument_group("drain options (as kubectl drain)")
    d.add_argument("--ignore-daemonsets", action=argparse.BooleanOptionalAction, default=None)
    d.add_argument("--delete-emptydir-data", action="store_true", default=None)
    d.add_argument("--force", action="store_true", default=None)
    d.add_argument("--disable-eviction", action="store_true", default=None)
    d.add_argument("--grace-period", type=int)
    d.add_argument("--timeout", type=int)
    d.add_argument("--pod-selector", default="")
    d.add_argument("--skip-wait-for-delete-timeout", type=int)
    t = c.add_mutually_exclusive_group(required=True)
    t.add_argument("--nodes", help="comma-separated node names")
    t.add_argument("--selector", help="label selector, resolved at the start")
    t.add_argument("--all", action="store_true", dest="all_nodes")
    c.add_argument("--no-wait", action="store_true", help="queue the batch and exit")
    c.add_argument("--json", action="store_true", help="one JSON summary line at the end")
    c.add_argument("--progress", choices=("auto", "always", "never"), default="auto",
                   help="the progress bar on the standard error (auto: on a terminal)")
    return p


def main(argv: list[str] | None = None, out=None, err=None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # argparse: 2 for bad arguments, 0 for --help
        return int(exc.code or 0)
    try:
        if args.command == "config":
            return cmd_config(args, out)
        stored = read_config()
        url = args.url or os.environ.get("KUBENODE_URL") or stored.get("url")
        token = args.token or os.environ.get("KUBENODE_TOKEN") or stored.get("token")
        if not url or not token:
            raise Failure("no kubenode URL or token: give --url and --token, set KUBENODE_URL and KUBENODE_TOKEN, or "
                          "save them with `kubectl kubenode config --set-url URL --token-stdin`")
        client = Client(url, token)
        if args.command == "clusters":
            return cmd_clusters(client, args, out)
        if args.command == "nodes":
            return cmd_nodes(client, args, out)
        return cmd_batch(client, args, out, err)
    except Failure as exc:
        err.write(f"error: {exc}\n")
        return exc.code


if __name__ == "__main__":
    sys.exit(main())
