"""The embedded default (SQLite, memory notifier): node_batch runs its task itself with 20 node threads; their node
writes overlap (the simulator saw 20 at once), and their database writes overlap too: mid-batch another connection
holds SQLite's write lock for a few seconds, node operations go on meanwhile and their claims and results wait for
the lock. Every result and audit row is recorded, without a lock error."""

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.progress.helpers import until

ROOT = Path(__file__).resolve().parents[2]


def manage(*args, env):
    return subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_sqlite_batch_with_twenty_workers_ends_with_exact_counts(kube_sim, tmp_path):
    sim = kube_sim(nodes=300, latency_ms=100, fail_rate=0.1, seed=5)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "DATABASE_", "PROGRESS_"))}
    env.update({"DB_TYPE": "sqlite", "DB_NAME": str(tmp_path / "kubenode.sqlite3"), "SECRET_KEY": "s" * 50,
                "DJANGO_SETTINGS_MODULE": "kubenode.settings", "KUBENODE_DATA_DIR": str(tmp_path)})
    env.pop("KUBENODE_CONFIG", None)
    for args in (["migrate", "-v0"], ["shell", "-c", "from django.contrib.auth.models import User; "
                                      "User.objects.create_user('ops', password='pw-ops-1234', is_staff=True)"],
                 ["cluster_import", sim.kubeconfig, "--name", "sim", "--simulated"]):
        done = manage(*args, env=env)
        assert done.returncode == 0, done.stderr
    sim.stats(reset=True)
    batch = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "node_batch", "--cluster", "sim", "--user",
                              "ops", "--action", "label", "--set", "lot=a", "--all", "--concurrency", "20", "--wait",
                              "--json"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    database = str(tmp_path / "kubenode.sqlite3")

    def done() -> int:
        with sqlite3.connect(database, timeout=30) as reader:  # WAL: reads go on while a writer holds the lock
            row = reader.execute("SELECT done FROM progress_progresstask").fetchone()
        return row[0] if row else 0

    until(lambda: done() >= 60, 120, what="the batch under way")
    holder = sqlite3.connect(database, timeout=30, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # SQLite's one write lock, held well within the writers' 20 s busy timeout
    done_before, requests_before = done(), sim.stats()["requests"]
    time.sleep(3)
    done_during, requests_during = done(), sim.stats()["requests"]
    holder.execute("COMMIT")
    holder.close()
    stdout, stderr = batch.communicate(timeout=300)
    result = subprocess.CompletedProcess(batch.args, batch.returncode, stdout, stderr)
    # node operations ran while the lock was held: their results and the next claims waited for it, none failed
    assert requests_during > requests_before and done_during == done_before < 300
    assert "database is locked" not in result.stderr + result.stdout
    stats = sim.stats()
    assert stats["max_in_flight"] == 20, stats  # twenty node operations at once, never more
    assert stats["max_writes_in_flight"] > 1
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert result.returncode == 1  # the simulator failed some PATCHes
    assert summary["total"] == 300 and summary["succeeded"] + summary["failed"] == 300
    assert 0 < summary["failed"] == len(summary["failed_nodes"])
    audit = manage("shell", "-c", "from nodes.models import AuditEntry; print(AuditEntry.objects.count())", env=env)
    assert int(audit.stdout.strip().splitlines()[-1]) == 300  # one audit record per node, failed ones too
