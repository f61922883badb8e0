"""docs/operations.md stays in step with what it documents."""

import re
from pathlib import Path

from kubenode import metrics

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "operations.md").read_text()


def test_readme_links_the_operations_guide():
    assert "(docs/operations.md)" in (ROOT / "README.md").read_text()


def test_every_metric_is_documented():
    names = {m._name for m in vars(metrics).values() if hasattr(m, "_type") and hasattr(m, "_name")}
    assert names
    for name in names:
        assert f"`{name}" in DOC, name


def test_every_deploy_variant_and_entrypoint_command_is_documented():
    for kustomization in (ROOT / "deploy").rglob("kustomization.yaml"):
        rel = kustomization.parent.relative_to(ROOT).as_posix()
        if "/components/" not in f"/{rel}/":
            assert f"`{rel}`" in DOC, rel
    for command in re.findall(r"^  ([a-z-]+)\)$", (ROOT / "scripts" / "entrypoint.sh").read_text(), re.M):
        assert f"`{command}" in DOC, command
    for tool in ("notifier_check", "notifier_check --json", "progress_stats", "progress_listen --print",
                 "application_name LIKE 'kubenode-listener:%'", "password set:"):
        assert tool in DOC, tool
