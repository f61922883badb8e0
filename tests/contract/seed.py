"""Seed a started kube-apiserver with Ready nodes and Running pods: python -m tests.contract.seed DIR [NODES]."""
import pathlib
import sys

from tests.contract.harness import Harness


def main(run_dir, count=3):
    env = dict(line.split("=", 1) for line in (pathlib.Path(run_dir) / "env").read_text().splitlines() if "=" in line)
    token = next(line.split(":", 1)[1].strip() for line in pathlib.Path(env["KUBECONFIG"]).read_text().splitlines()
                 if line.strip().startswith("token:"))
    h = Harness(env["KUBE_APISERVER_URL"], token)
    for i in range(count):
        node = f"worker-{i}"
        h.create_node(node, labels={"pool": "general"})
        h.create_pod("demo", f"web-{i}", node, {"app": "web"})
    h.create_pdb("demo", "web", {"app": "web"}, max_unavailable=1)
    h.set_pdb_allowed("demo", "web", 1, healthy=count)
    print(f"seeded {count} Ready nodes with one Running pod each")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 3)
