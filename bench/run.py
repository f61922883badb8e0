"""Run the benchmarks, print a table, write bench/results/latest.json and BENCHMARKS.md.

    python -m bench.run            # the full run (make bench)
    python -m bench.run --quick    # a short smoke version (make bench-quick), written to bench/results/quick.json

A benchmark whose part is missing records null with the reason; the run always completes.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import sys
import time
import traceback
from pathlib import Path

from bench.common import ROOT, Unavailable, machine

MODULES = ("floor_postgres", "floor_redis", "latency", "throughput", "drain", "fanout", "coalescing", "page", "workers")


def run_module(name: str, quick: bool) -> tuple[dict | None, str]:
    module = importlib.import_module(f"bench.{name}")
    try:
        return module.run(quick=quick), ""
    except Unavailable as exc:
        return None, str(exc)
    except Exception as exc:  # a broken benchmark must not stop the others
        traceback.print_exc(file=sys.stderr)
        return None, f"error: {type(exc).__name__}: {str(exc)[:300]}"


def _null_action(reason: str) -> dict:
    return {"kubenode_s": None, "kubectl_loop_s": None, "kubectl_selector_s": None, "reason": reason}


def assemble(raw: dict, reasons: dict, quick: bool, seconds: dict) -> dict:
    """Shape the raw module results into the published structure (keys always present, null + reason)."""
    fp = raw.get("floor_postgres") or {}
    fr = raw.get("floor_redis") or {}
    interleaved = _get(raw, "latency.postgres.floor.p50_ms")
    floor = {
        "notify_commit_p50_ms": fp.get("notify_commit_p50_ms") or interleaved,
        "notify_commit_interleaved_p50_ms": interleaved,
        "notify_commit": fp.get("notify_commit"),
        "pg_notify_p50_ms": fp.get("pg_notify_p50_ms"),
        "pg_notify": fp.get("pg_notify"),
        "redis_publish_p50_ms": fr.get("redis_publish_p50_ms"),
        "redis_publish": fr.get("redis_publish"),
    }
    for key, mod in (("postgres_reason", "floor_postgres"), ("redis_reason", "floor_redis")):
        if reasons.get(mod):
            floor[key] = reasons[mod]
    latency = raw.get("latency") or {b: {"p50_ms": None, "p95_ms": None, "p99_ms": None,
                                         "reason": reasons.get("latency", "")}
                                     for b in ("memory", "postgres", "redis", "polling")}
    throughput = raw.get("throughput") or {k: _null_action(reasons.get("throughput", ""))
                                           for k in ("label_1000", "cordon_1000")}
    drain = raw.get("drain") or {"kubenode_s": None, "kubectl_s": None, "reason": reasons.get("drain", "")}
    fanout_raw = raw.get("fanout")
    fanout = fanout_raw or {"clients_500": {"p99_ms": None, "rss_mb": None, "cpu_us_per_message": None,
                                            "reason": reasons.get("fanout", "")}}
    coalescing = raw.get("coalescing") or {}
    loss = coalescing.get("loss") or {"sent": None, "received": None, "lost": None,
                                      "reason": reasons.get("coalescing", "")}
    page = raw.get("page") or {"nodes_5000_ms": None, "reason": reasons.get("page", "")}
    workers = raw.get("workers") or {"workers_1_s": None, "reason": reasons.get("workers", "")}
    result = {
        "date": datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat(),
        "quick": quick,
        "machine": machine(),
        "floor": floor,
        "latency": latency,
        "throughput": throughput,
        "drain": drain,
        "fanout": fanout,
        "coalescing": {k: v for k, v in coalescing.items() if k != "loss"} or {"reason": reasons.get("coalescing", "")},
        "loss": loss,
        "page": page,
        "workers": workers,
        "seconds_per_benchmark": seconds,
    }
    result["targets"] = targets(result)
    return result


AT_LEAST = "at least"  # a target whose value must reach its bound (the others: stay within it)


def _get(data: dict, path: str):
    for part in path.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def targets(r: dict) -> list[dict]:
    """Each target with the measured value, the bound, and met / missed / not measured."""
    # the floor measured interleaved with the postgres steps (same load) when there, else the separate floor run
    floor = _get(r, "latency.postgres.floor.p50_ms") or _get(r, "floor.notify_commit_p50_ms")
    checks = [
        ("postgres p50 ≤ 2.5 × floor", _get(r, "latency.postgres.p50_ms"), floor and 2.5 * floor),
        ("postgres p99 ≤ 25 ms", _get(r, "latency.postgres.p99_ms"), 25.0),
        ("first message ≤ 10 ms after its step", _get(r, "latency.batch_100.first_ms"), 10.0),
        ("completion message ≤ 10 ms after its step", _get(r, "latency.batch_100.completion_ms"), 10.0),
        ("fan-out p99 ≤ 100 ms", _get(r, "fanout.clients_500.p99_ms"), 100.0),
        ("fan-out RSS ≤ 400 MB", _get(r, "fanout.clients_500.rss_mb"), 400.0),
        ("no message lost", _get(r, "loss.lost"), 0),
        ("≤ 1 NOTIFY per task per 50 ms", _get(r, "coalescing.max_notifies_per_50ms"), 1),
        ("node list, 5,000 nodes, warm ≤ 100 ms", _get(r, "page.nodes_5000_ms"), 100.0),
        ("node list, 5,000 nodes, cold ≤ 1 s", _get(r, "page.cold_ms"), 1000.0),
        ("kubectl change in an open node list ≤ 3 s", _get(r, "page.live.kubectl_to_row_max_ms"), 3000.0),
        ("100 open node lists of one cluster: 1 watch", _get(r, "page.live.watches_started"), 1),
        ("node page p95 while a 1,000-node batch runs ≤ 1.5 × idle", _get(r, "page.under_load.loaded_p95_ms"),
         _get(r, "page.under_load.idle_p95_ms") and 1.5 * _get(r, "page.under_load.idle_p95_ms")),
        # close to linear up to the cluster's limit (4 workers × 4 threads = 16): ≥ 80 % of linear
        ("2 workers: ≥ 1.6 × the throughput of 1", _get(r, "workers.speedup_2"), 1.6, AT_LEAST),
        ("4 workers: ≥ 3.2 × the throughput of 1", _get(r, "workers.speedup_4"), 3.2, AT_LEAST),
    ]
    for action in ("label_1000", "cordon_1000"):
        t = _get(r, f"throughput.{action}") or {}
        k, loop, ideal = t.get("kubenode_s"), t.get("kubectl_loop_s"), t.get("ideal_s")
        checks.append((f"{action}: ≥ 10 × the kubectl loop", k, loop and loop / 10))
        checks.append((f"{action}: ≤ 2 × ideal", k, ideal and 2 * ideal))
    out = []
    for name, value, bound, *kind in checks:
        if value is None or bound is None:
            status = "not measured"
        elif kind == [AT_LEAST]:
            status = "met" if value >= bound else "missed"
        else:
            status = "met" if value <= bound else "missed"
        out.append({"target": name, "value": value, "bound": None if bound is None else round(bound, 3),
                    "status": status})
    return out


def _fmt(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    return str(value)


def table_rows(r: dict) -> list[tuple[str, str, str]]:
    """(figure, value, compared with) rows for the printed table and BENCHMARKS.md."""
    floor = _get(r, "floor.notify_commit_p50_ms")
    rows = [
        ("floor: INSERT+NOTIFY+COMMIT → listener p50/p99 ms",
         f"{_fmt(floor)} / {_fmt(_get(r, 'floor.notify_commit.p99_ms'))}", "floor"),
        ("floor: pg_notify → listener p50/p99 ms",
         f"{_fmt(_get(r, 'floor.pg_notify_p50_ms'))} / {_fmt(_get(r, 'floor.pg_notify.p99_ms'))}", "floor"),
        ("floor: Redis publish → subscriber p50/p99 ms",
         f"{_fmt(_get(r, 'floor.redis_publish_p50_ms'))} / {_fmt(_get(r, 'floor.redis_publish.p99_ms'))}", "floor"),
    ]
    for backend, lat in (r.get("latency") or {}).items():
        if backend == "batch_100":
            continue
        p50 = lat.get("p50_ms")
        own = _get(lat, "floor.p50_ms")
        if p50 is not None and own:
            ratio = (f"{p50 / own:.1f} × floor {_fmt(own)} (interleaved); commit {_fmt(lat.get('commit_p50_ms'))}, "
                     f"commit → frame {_fmt(_get(lat, 'commit_to_frame.p50_ms'))}")
        else:
            ratio = f"{p50 / floor:.1f} × floor" if p50 is not None and floor else lat.get("reason", "")
        rows.append((f"latency {backend} p50/p95/p99 ms",
                     f"{_fmt(p50)} / {_fmt(lat.get('p95_ms'))} / {_fmt(lat.get('p99_ms'))}", ratio))
    batch = _get(r, "latency.batch_100") or {}
    if batch:
        st = batch.get("stages_median_ms") or {}
        where = (f"; op end → row built / row built → frame: first {_fmt(st.get('first_op_to_row_ms'))} / "
                 f"{_fmt(st.get('first_row_to_frame_ms'))}, last {_fmt(st.get('last_op_to_row_ms'))} / "
                 f"{_fmt(st.get('last_row_to_frame_ms'))}") if st else ""
        rows.append(("100-node batch, worker → PostgreSQL → web → client: first / completion message ms after its "
                     "node operation", f"{_fmt(batch.get('first_ms'))} / {_fmt(batch.get('completion_ms'))}",
                     f"targets ≤ 10; median of {_fmt(batch.get('runs'))}: first {batch.get('first_all_ms')}, "
                     f"completion {batch.get('completion_all_ms')}{where}"))
    for action, t in (r.get("throughput") or {}).items():
        k = t.get("kubenode_s")
        cmp = (f"loop {_fmt(t.get('kubectl_loop_s'))} s (×{_fmt(t.get('vs_kubectl_loop'))}), "
               f"selector {_fmt(t.get('kubectl_selector_s'))} s, ideal {_fmt(t.get('ideal_s'))} s")
        if k is None and (t.get("kubenode_reason") or t.get("reason")):
            cmp += f"; kubenode: {t.get('kubenode_reason') or t.get('reason')}"
        rows.append((f"throughput {action} (s)", _fmt(k), cmp))
    d = r.get("drain") or {}
    cmp = f"kubectl drain node after node {_fmt(d.get('kubectl_s'))} s"
    if d.get("kubenode_reason") or d.get("reason"):
        cmp += f"; {d.get('kubenode_reason') or d.get('reason')}"
    rows.append((f"drain {_fmt(d.get('nodes'))} nodes (s)", _fmt(d.get("kubenode_s")), cmp))
    f = _get(r, "fanout.clients_500") or {}
    rows.append(("fan-out 500 clients p99 ms / RSS MB", f"{_fmt(f.get('p99_ms'))} / {_fmt(f.get('rss_mb'))}",
                 f.get("reason", "targets ≤ 100 ms, ≤ 400 MB")))
    rows.append(("fan-out: web CPU µs per delivered message / messages per frame",
                 f"{_fmt(f.get('cpu_us_per_message'))} / {_fmt(f.get('messages_per_frame'))}",
                 f"{_fmt(f.get('clients'))} clients × {_fmt(f.get('steps'))} doorbells; one frame per doorbell"))
    loss = r.get("loss") or {}
    rows.append(("loss sent / received / lost",
                 f"{_fmt(loss.get('sent'))} / {_fmt(loss.get('received'))} / {_fmt(loss.get('lost'))}",
                 loss.get("reason", "target 0 lost")))
    c = r.get("coalescing") or {}
    rows.append(("max NOTIFY per task per 50 ms", _fmt(c.get("max_notifies_per_50ms")), c.get("reason", "target ≤ 1")))
    p = r.get("page") or {}
    rows.append(("node page, 5,000 nodes (ms)", _fmt(p.get("nodes_5000_ms")), p.get("reason", "")))
    if p.get("cold_ms") is not None:
        rows.append(("node page cold / after a mutation / sorted by CPU (ms)",
                     f"{_fmt(p.get('cold_ms'))} / {_fmt(p.get('after_mutation_ms'))} / "
                     f"{_fmt(p.get('sorted_by_cpu_ms'))}", "targets: warm ≤ 100, cold ≤ 1000"))
    live = p.get("live") or {}
    if live:
        rows.append(("kubectl label → row in an open node list p50 / max (ms)",
                     f"{_fmt(live.get('kubectl_to_row_ms'))} / {_fmt(live.get('kubectl_to_row_max_ms'))}",
                     f"kubectl's own run {_fmt(live.get('kubectl_run_ms'))} ms; target ≤ 3000"))
        rows.append((f"node watches for {live.get('viewers')} open node lists", _fmt(live.get("watches_started")),
                     "target 1"))
    load = p.get("under_load") or {}
    if load:
        rows.append((f"node page p50 / p95 ms, idle → while a {_fmt(load.get('batch_nodes'))}-node batch runs",
                     f"{_fmt(load.get('idle_p50_ms'))} / {_fmt(load.get('idle_p95_ms'))} → "
                     f"{_fmt(load.get('loaded_p50_ms'))} / {_fmt(load.get('loaded_p95_ms'))}",
                     load.get("reason") or f"p95 × {_fmt(load.get('ratio_p95'))} (target ≤ 1.5); batch "
                     f"{_fmt(load.get('batch_s'))} s in a worker process, {_fmt(load.get('loaded_samples'))} pages"))
    w = r.get("workers") or {}
    if w.get("runs"):
        rows.append((f"label batch of {_fmt(w.get('nodes'))} nodes, kube_sim {_fmt(w.get('latency_ms'))} ms: "
                     "1 / 2 / 4 workers (s)",
                     " / ".join(_fmt(x.get("seconds")) for x in w["runs"]),
                     f"speedup {' / '.join(_fmt(x.get('speedup')) for x in w['runs'])}; "
                     f"{_fmt(w.get('worker_concurrency'))} threads per worker, cluster limit "
                     f"{_fmt(w.get('cluster_limit'))}; floor (direct patches, {_fmt(w.get('cluster_limit'))} "
                     f"threads) {_fmt(w.get('floor_s'))} s; ideal "
                     f"{' / '.join(_fmt(x.get('ideal_s')) for x in w['runs'])} s"))
    elif w.get("reason"):
        rows.append(("workers: label batch with 1 / 2 / 4 workers (s)", "null", w["reason"]))
    return rows


def print_table(r: dict) -> None:
    rows = table_rows(r)
    w0 = max(len(a) for a, _, _ in rows)
    w1 = max(len(b) for _, b, _ in rows)
    for a, b, c in rows:
        print(f"{a:<{w0}}  {b:>{w1}}  {c}")


def markdown(r: dict) -> str:
    m = r["machine"]
    lines = [
        "# kubenode benchmarks",
        "",
        "Written by `make bench` (`python -m bench.run`). Every figure is compared with a floor or a peer",
        "measured in the same run on the same machine; the raw figures are in `bench/results/latest.json`.",
        "",
        f"- Date: {r['date']}",
        f"- Machine: {m['cores']} cores, load average {', '.join(str(x) for x in m['load_average'])} (at the end)"
        + (f", {', '.join(str(x) for x in m['load_average_start'])} (at the start)"
           if m.get("load_average_start") else ""),
        *([f"- Seconds per benchmark: {', '.join(f'{k} {v}' for k, v in r['seconds_per_benchmark'].items())}"]
          if r.get("seconds_per_benchmark") else []),
        *([f"- 1-min load after each: {', '.join(f'{k} {v}' for k, v in m['load_1min_after_each'].items())}"]
          if m.get("load_1min_after_each") else []),
        "",
        "| Figure | Value | Compared with |",
        "|---|---:|---|",
    ]
    for a, b, c in table_rows(r):
        lines.append(f"| {a} | {b} | {str(c).replace('|', '/')} |")
    lines += ["", "## Targets", "", "| Target | Value | Bound | Status |", "|---|---:|---:|---|"]
    for t in r["targets"]:
        lines.append(f"| {t['target']} | {_fmt(t['value'])} | {_fmt(t['bound'])} | {t['status']} |")
    notes = (ROOT / "bench" / "NOTES.md")
    if notes.exists():
        lines += ["", notes.read_text().strip()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke version")
    parser.add_argument("--only", default="", help="comma-separated benchmark modules to run")
    parser.add_argument("--json", default="", help="where to write the results (default by mode)")
    parser.add_argument("--markdown", default="", help="where to write the markdown (full run: BENCHMARKS.md)")
    args = parser.parse_args(argv)
    only = [m for m in args.only.split(",") if m]
    unknown = [m for m in only if m not in MODULES]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(MODULES)}")
    raw, reasons, seconds, loads = {}, {}, {}, {}
    load_start = machine()["load_average"]
    for name in MODULES:
        if only and name not in only:
            reasons[name] = "not run (--only)"
            continue
        start = time.perf_counter()
        print(f"· {name} …", file=sys.stderr, flush=True)
        raw[name], reasons[name] = run_module(name, args.quick)
        seconds[name] = round(time.perf_counter() - start, 1)
        loads[name] = machine()["load_average"][0]
        if reasons[name]:
            print(f"  {name}: null ({reasons[name]})", file=sys.stderr, flush=True)
    result = assemble(raw, reasons, args.quick, seconds)
    result["machine"]["load_average_start"] = load_start
    result["machine"]["load_1min_after_each"] = loads
    print_table(result)
    m = result["machine"]
    print(f"machine: {m['cores']} cores; load average at start {load_start}, at the end {m['load_average']}; "
          f"seconds per benchmark {seconds}", file=sys.stderr)
    default_json = ROOT / "bench" / "results" / ("quick.json" if args.quick else "latest.json")
    json_path = Path(args.json) if args.json else default_json
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, indent=2) + "\n")
    md_path = args.markdown or ("" if args.quick else str(ROOT / "BENCHMARKS.md"))
    if md_path:
        Path(md_path).write_text(markdown(result))
    print(f"wrote {json_path}" + (f" and {md_path}" if md_path else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
