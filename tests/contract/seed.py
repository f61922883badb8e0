"""Seed a started kube-apiserver with Ready nodes and Running pods; or (--kubelet) keep finishing terminating
pods after their grace period, as kubelets would, until SIGTERM (`kube-apiserver.sh stop DIR` stops it):

    python -m tests.contract.seed DIR [NODES]
    python -m tests.contract.seed DIR --kubelet
"""
import argparse
import os
import pathlib
import signal
import time

from tests.contract.harness import Harness


def harness(run_dir) -> Harness:
    env = dict(line.split("=", 1) for line in (pathlib.Path(run_dir) / "env").read_text().splitlines() if "=" in line)
    token = next(line.split(":", 1)[1].strip() for line in pathlib.Path(env["KUBECONFIG"]).read_text().splitlines()
                 if line.strip().startswith("token:"))
    return Harness(env["KUBE_APISERVER_URL"], token)


def seed(h: Harness, count=3):
    nodes = [f"worker-{i}" for i in range(count)]
    for i, node in enumerate(nodes):
        h.create_node(node, labels={"pool": "general", "topology.kubernetes.io/zone": f"zone-{'abc'[i % 3]}"})
        h.create_replica("demo", f"web-{i}", node, {"app": "web"}, grace=5)
    h.create_daemonset("demo", "agent", nodes)
    h.create_pdb("demo", "web", {"app": "web"}, max_unavailable=1)
    h.set_pdb_allowed("demo", "web", 1, healthy=count)
    print(f"seeded {count} Ready nodes, each with a ReplicaSet pod (budget demo/web allows 1) and a DaemonSet pod")


def _exit(*_):
    raise SystemExit(0)


def kubelet(h: Harness, run_dir, interval=1.0):
    """Finish terminating pods after their grace period until SIGTERM."""
    pid_file = pathlib.Path(run_dir) / "kubelet.pid"
    pid_file.write_text(f"{os.getpid()}\n")
    signal.signal(signal.SIGTERM, _exit)
    try:
        while True:
            try:
                h.finalize_once()
            except Exception as exc:  # the server may be restarting; keep going
                print(f"kubelet loop: {exc}", flush=True)
            time.sleep(interval)
    finally:
        pid_file.unlink(missing_ok=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dir")
    parser.add_argument("nodes", nargs="?", type=int, default=3)
    parser.add_argument("--kubelet", action="store_true", help="do not seed: keep finishing terminating pods")
    args = parser.parse_args()
    h = harness(args.dir)
    if args.kubelet:
        kubelet(h, args.dir)
    else:
        seed(h, args.nodes)


if __name__ == "__main__":
    main()
