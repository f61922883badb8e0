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


FIGURES = (
    "floor.notify_commit_p50_ms", "floor.pg_notify_p50_ms", "floor.redis_publish_p50_ms",
    *(f"latency.{b}.{p}" for b in ("memory", "postgres", "redis", "polling") for p in ("p50_ms", "p95_ms", "p99_ms")),
    "latency.postgres.floor.p50_ms", "latency.batch_100.first_ms", "latency.batch_100.completion_ms",
    *(f"throughput.{a}.{k}" for a in ("label_1000", "cordon_1000")
      for k in ("kubenode_s", "kubectl_loop_s", "kubectl_selector_s")),
    "drain.kubenode_s", "drain.kubectl_s",
    "fanout.clients_500.p99_ms", "fanout.clients_500.rss_mb", "fanout.clients_500.cpu_us_per_message",
    "loss.sent", "loss.received", "loss.lost", "coalescing.max_notifies_per_50ms", "page.nodes_5000_ms",
    "page.under_load.idle_p95_ms", "page.under_load.loaded_p95_ms", "workers.workers_1_s", "workers.speedup_2",
    "workers.speedup_4",
)


@pytest.mark.slow
def test_bench_quick_measures_every_figure_and_loses_nothing(tmp_path, capsys):
    """`make bench-quick`, the whole of it: every figure is a number (none null for a missing or broken part),
    every target is met or missed (none "not measured"), no message lost, none twice, no protocol error."""
    out, md = tmp_path / "quick.json", tmp_path / "BENCH.md"
    assert bench_run.main(["--quick", "--json", str(out), "--markdown", str(md)]) == 0
    r = json.loads(out.read_text())
    missing = {path: bench_run._get(r, path.rsplit(".", 1)[0]) for path in FIGURES
               if not isinstance(bench_run._get(r, path), int | float)}
    assert not missing, f"figures not measured: {missing}"
    assert r["loss"]["lost"] == 0 and r["loss"]["sent"] == r["loss"]["received"] > 0
    fanout = r["fanout"]["clients_500"]
    assert (fanout["missing"], fanout["duplicates"], fanout["protocol_errors"]) == (0, 0, 0)
    assert fanout["messages_per_frame"] >= 1
    assert {t["status"] for t in r["targets"]} <= {"met", "missed"}, r["targets"]
    assert r["machine"]["cores"] >= 1 and len(r["machine"]["load_average"]) == 3
    text = md.read_text()
    assert "floor: INSERT+NOTIFY+COMMIT" in text and "## Targets" in text and "null" not in text.split("## Targets")[1]
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
