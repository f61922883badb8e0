"""The benchmark harness runs end to end and publishes its structure; figures are numbers or null with a reason."""

import json

import pytest

from bench import run as bench_run
from bench.common import Unavailable, percentile, summary_ms


def test_percentile_and_summary():
    samples = [i / 1000 for i in range(1, 101)]  # 1..100 ms
    s = summary_ms(samples)
    assert s["samples"] == 100
    assert s["p50_ms"] == pytest.approx(50.5)
    assert percentile([x * 1000 for x in samples], 99) == pytest.approx(99)
    with pytest.raises(ValueError):
        percentile([], 50)


def _is_number_or_null_with_reason(section: dict, keys: tuple[str, ...]) -> None:
    for key in keys:
        value = section[key]
        if value is None:
            assert any(k.endswith("reason") and section[k] for k in section), section
        else:
            assert isinstance(value, int | float) and value >= 0, (key, value)


def test_quick_run_writes_the_published_structure(tmp_path, capsys):
    out = tmp_path / "quick.json"
    md = tmp_path / "BENCH.md"
    # The floors need only PostgreSQL and Redis; the other benchmarks appear as null with their reason.
    only = "floor_postgres,floor_redis"
    assert bench_run.main(["--quick", "--only", only, "--json", str(out), "--markdown", str(md)]) == 0
    r = json.loads(out.read_text())
    assert r["machine"]["cores"] >= 1 and len(r["machine"]["load_average"]) == 3
    assert r["date"]
    for key in ("notify_commit_p50_ms", "pg_notify_p50_ms", "redis_publish_p50_ms"):
        assert isinstance(r["floor"][key], float) and r["floor"][key] > 0
    for backend in ("memory", "postgres", "redis", "polling"):
        _is_number_or_null_with_reason(r["latency"][backend], ("p50_ms", "p95_ms", "p99_ms"))
    for action in ("label_1000", "cordon_1000"):
        t = r["throughput"][action]
        for key in ("kubenode_s", "kubectl_loop_s", "kubectl_selector_s"):
            assert key in t
            assert t[key] is None or isinstance(t[key], int | float)
    assert {"kubenode_s", "kubectl_s"} <= set(r["drain"])
    assert {"p99_ms", "rss_mb"} <= set(r["fanout"]["clients_500"])
    assert {"sent", "received", "lost"} <= set(r["loss"])
    assert "nodes_5000_ms" in r["page"]
    assert {t["status"] for t in r["targets"]} <= {"met", "missed", "not measured"}
    text = md.read_text()
    assert "floor: INSERT+NOTIFY+COMMIT" in text and "## Targets" in text
    assert "floor: pg_notify" in capsys.readouterr().out


def test_a_broken_benchmark_is_recorded_not_raised(monkeypatch):
    def boom(quick=False):
        raise RuntimeError("exploded")

    def missing(quick=False):
        raise Unavailable("part X not there")

    import bench.page

    monkeypatch.setattr(bench.page, "run", boom)
    assert bench_run.run_module("page", True) == (None, "error: RuntimeError: exploded")
    monkeypatch.setattr(bench.page, "run", missing)
    assert bench_run.run_module("page", True) == (None, "part X not there")


def test_unknown_benchmark_is_a_clear_error(capsys):
    with pytest.raises(SystemExit):
        bench_run.main(["--quick", "--only", "nonsense"])
    assert "unknown benchmark(s): nonsense" in capsys.readouterr().err
