"""`kubectl kubenode` run by the stock kubectl as a plugin, against a running kubenode (daphne, a worker process, the
simulated clusters): its output and its exit codes (0 all succeeded, 1 not, 2 bad arguments or refused)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.fixtures.kube import start_kube_sim

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"


@pytest.fixture
def plugin(tmp_path, site):
    """A PATH holding `kubectl-kubenode` as pip makes it from the project's entry point, and a runner of
    `kubectl kubenode …` configured (with its config file) for the site."""
    target = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]["kubectl-kubenode"]
    module, func = target.split(":")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "kubectl-kubenode"
    script.write_text(f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(ROOT)!r})\n"
                      f"from {module} import {func}\nsys.exit({func}())\n")
    script.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(tmp_path),
           "KUBENODE_CLIENT_CONFIG": str(tmp_path / "client.json"), "KUBECONFIG": str(tmp_path / "none")}
    env.pop("KUBENODE_TOKEN", None)
    env.pop("KUBENODE_URL", None)

    def run(*args, token="operator-acts", stdin=None):
        extra = {"KUBENODE_TOKEN": site.tokens[token]} if token else {}
        return subprocess.run([KUBECTL, "kubenode", *args], env={**env, **extra}, cwd=tmp_path, input=stdin,
                              capture_output=True, text=True, timeout=300)

    configured = run("config", "--set-url", site.url, token=None)
    assert configured.returncode == 0, configured.stderr
    return run


def test_kubectl_kubenode_lists_and_runs_batches_with_a_progress_bar_and_node_batch_exit_codes(site, plugin,
                                                                                                  tmp_path):
    # configuration: the URL from the file, the token from the variable; the token is never printed
    shown = plugin("config", token=None)
    assert shown.returncode == 0 and f"url: {site.url}" in shown.stdout and "token: not set" in shown.stdout
    assert oct((tmp_path / "client.json").stat().st_mode & 0o777) == "0o600"

    listed = plugin("clusters", token="viewer-read")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0].split() == ["NAME", "SERVER", "LAST", "CHECK"]
    assert listed.stdout.splitlines()[1].split()[0] == "sim"

    table = plugin("nodes", "--cluster", "sim", "--role", "worker", token="viewer-read")
    assert table.returncode == 0, table.stderr
    names = plugin("nodes", "--cluster", "sim", "--role", "worker", "-o", "name", token="viewer-read").stdout.split()
    api_names = [n["name"] for n in site.call("GET", "/api/v1/clusters/sim/nodes?role=worker&per_page=500",
                                              "viewer-read").body["items"]]
    assert names == api_names and len(names) >= 4
    rows = table.stdout.splitlines()
    assert rows[0].split()[:3] == ["NAME", "STATUS", "ROLES"] and [r.split()[0] for r in rows[1:]] == names
    assert plugin("nodes", "--cluster", "sim", "-l", "pool=nope", "-o", "name", token="viewer-read").stdout == ""

    # a batch: the live bar on the standard error, the summary on the standard output, exit 0
    a, b = names[:2]
    ran = plugin("batch", "--cluster", "sim", "--action", "label", "--nodes", f"{a},{b}", "--set", "cli=yes",
                 "--concurrency", "1", "--progress", "always")
    assert ran.returncode == 0, (ran.stdout, ran.stderr)
    assert ran.stdout == "succeeded: 2 succeeded, 0 failed of 2\n"
    assert "label on 2 node(s) of sim" in ran.stderr
    assert f"[{'#' * 40}] 2/2 ok 2 failed 0" in ran.stderr and "/2 ok 1 failed 0" in ran.stderr
    labelled = plugin("nodes", "--cluster", "sim", "-l", "cli=yes", "-o", "name", token="viewer-read")
    assert labelled.stdout.split() == sorted([a, b])
    as_json = plugin("batch", "--cluster", "sim", "--action", "cordon", "--selector", "cli=yes", "--json")
    assert as_json.returncode == 0 and as_json.stderr == ""
    summary = json.loads(as_json.stdout)
    assert summary["status"] == "succeeded" and summary["total"] == 2 and summary["failed_nodes"] == []
    queued = plugin("batch", "--cluster", "sim", "--action", "uncordon", "--nodes", a, "--no-wait")
    assert queued.returncode == 0 and queued.stdout.startswith("queued: task ")

    # exit 2: bad arguments, a refused request, no credentials — nothing started
    before = site.call("GET", "/api/v1/batches", "admin-read").body["count"]
    bad = plugin("batch", "--cluster", "sim", "--action", "cordon", "--nodes", a, "--grace-period", "5")
    assert bad.returncode == 2 and "--grace-period apply to --action drain only" in bad.stderr
    refused = plugin("batch", "--cluster", "sim", "--action", "drain", "--nodes", a)
    assert refused.returncode == 2 and "403: you may not run drain" in refused.stderr
    read_only = plugin("batch", "--cluster", "sim", "--action", "cordon", "--nodes", a, token="operator-read")
    assert read_only.returncode == 2 and "this token may only read" in read_only.stderr
    invalid = plugin("batch", "--cluster", "sim", "--action", "taint", "--nodes", a, "--taint", "x=y:Never")
    assert invalid.returncode == 2 and "invalid effect 'Never'" in invalid.stderr
    unknown = plugin("batch", "--cluster", "sim", "--action", "explode", "--nodes", a)
    assert unknown.returncode == 2 and "invalid choice: 'explode'" in unknown.stderr
    anonymous = plugin("nodes", "--cluster", "sim", token=None)
    assert anonymous.returncode == 2 and "no kubenode URL or token" in anonymous.stderr
    assert site.call("GET", "/api/v1/batches", "admin-read").body["count"] == before


def test_kubectl_kubenode_exits_1_when_nodes_fail(site, plugin, tmp_path_factory):
    from nodes.services import import_cluster

    flaky = start_kube_sim(tmp_path_factory.mktemp("flaky"), nodes=4, seed=5, fail_rate=1.0)
    try:
        import_cluster("flaky", flaky.kubeconfig_text, simulated=True)
        names = plugin("nodes", "--cluster", "flaky", "-o", "name").stdout.split()
        assert len(names) == 4
        ran = plugin("batch", "--cluster", "flaky", "--action", "cordon", "--all")
        assert ran.returncode == 1, (ran.stdout, ran.stderr)
        lines = ran.stdout.splitlines()
        assert lines[0] == "failed: 0 succeeded, 4 failed of 4"
        assert sorted(line.split(":")[0].strip() for line in lines[1:]) == sorted(names)
        assert "injected failure" in lines[1]
    finally:
        flaky.stop()
