"""The bench's report from a results document: the keys other tools read, the table, and the chart file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from index.cpu import parse
from streams.bench import report
from tests.unit.index.test_cpu import EPYC_ZEN2, VERSIONS

MACHINE = parse(EPYC_ZEN2, cores=2, **VERSIONS).as_dict()


CPU = {"worker": 0.55, "broker": 0.2, "load generator": 0.15, "redis": 0.01, "other": 0.04, "machine": 0.95}


def split(total_ms: float) -> dict[str, float]:
    """A quantile's stages: the model holds 4 ms, the queue the rest but 3 ms."""
    queue = total_ms - 7.0
    return {
        "total_ms": total_ms,
        "broker_ms": 1.0,
        "queue_ms": queue,
        "batch_wait_ms": 0.5,
        "encode_ms": 4.0,
        "search_ms": 0.3,
        "build_ms": 0.2,
        "delivery_ms": 1.0,
        "model_share": 4.0 / total_ms,
        "loop_lag_ms": 0.5,
        "chats": 10,
    }


def results() -> dict[str, Any]:
    raw = {
        "sentences_per_s": 500.0,
        "best_batch": 64,
        "calls_at_once": 2,
        "single_p50_ms": 2.7,
        "single_p99_ms": 7.0,
        "peak_rss_mb": 240,
    }
    latency = {
        load: {
            "rate": rate,
            "p50_ms": 20.0,
            "p95_ms": 40.0,
            "p99_ms": 50.0,
            "breakdown": {"p50": split(20.0), "p99": split(50.0)},
            "cpu": CPU,
        }
        for load, rate in (("25%", 100.0), ("50%", 200.0), ("80%", 320.0))
    }
    run = {"pipeline": {"chats_per_s": 400.0, "cpu": CPU}, "latency": latency, "worker_peak_rss_mb": 300}
    return {
        "machine": MACHINE,
        "default_backend": "onnx",
        "raw": {"onnx": raw, "onnx-int8": {**raw, "sentences_per_s": 1000.0}},
        "naive": {"chats_per_s": 70.0, "peak_rss_mb": 1000},
        "backends": {"onnx": run, "onnx-int8": run},
        "pipeline": {"backend": "onnx", "chats_per_s": 400.0},
        "latency": latency,
        "freshness": {"edits": 10, "visible": 10, "chat_rate": 200.0, "p50_ms": 90.0, "p99_ms": 150.0},
        "search": {"clients": 8, "requests_per_s": 250.0, "p50_ms": 30.0, "p99_ms": 45.0, "errors": 0},
        "recovery": {
            "100k": {
                "backend": "onnx-int8",
                "ready_s": 7.0,
                "encoder_calls": 0,
                "vectors": 100000,
                "worker_peak_rss_mb": 560,
            }
        },
        "ratios": {"pipeline_over_raw": 0.8, "pipeline_over_naive": 5.7},
        "timeline_cost": {"without_us": 9.0, "with_us": 21.0, "cost_us": 12.0},
        "shadow": {
            "candidate": "m/onnx-int8-vnni",
            "share": 0.25,
            "rate": 200.0,
            "without": {
                "p50_ms": 20.0,
                "p99_ms": 100.0,
                "p99_before_ms": 90.0,
                "p99_after_ms": 110.0,
                "chats_per_s": 400,
            },
            "with": {"p50_ms": 22.0, "p99_ms": 110.0, "chats_per_s": 380.0},
            "p99_ratio": 1.1,
            "capacity_ratio": 0.95,
            "shadow_scored": 900,
            "shadow_shed": 0,
        },
    }


def test_table_shows_every_stage_and_the_ratios() -> None:
    text = report.table(results())
    for stage in ("raw", "naive", "pipeline", "latency 50%", "freshness", "search", "recovery 100k", "ratios"):
        assert stage in text
    assert "pipeline/raw 0.80; pipeline/naive 5.7" in text
    assert "p99 at 200 chats/s 100 (mean of 90 before, 110 after) → 110 ms (1.10x)" in text


def test_json_and_chart_are_written(tmp_path: Path) -> None:
    data = orjson.loads(report.write_json(results(), tmp_path).read_bytes())
    assert data["ratios"]["pipeline_over_naive"] == 5.7
    assert data["latency"]["50%"]["p99_ms"] == 50.0
    chart = report.latency_chart(results(), tmp_path)
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_output_starts_with_the_cpu_its_figures_were_measured_on() -> None:
    lines = report.machine(results()).splitlines()
    assert lines == [
        "machine: AMD EPYC 7R32, 2 cores, AVX2 (onnxruntime 1.32.0, torch 2.15.0)",
        "flags:   avx2",
    ]
    assert report.latency_title(results()).endswith("AMD EPYC 7R32, 2 cores, AVX2 (onnxruntime 1.32.0, torch 2.15.0)")


def test_results_written_before_the_machine_record_still_render(tmp_path: Path) -> None:
    older = {**results(), "machine": "2 cores, x86_64"}
    assert report.machine(older).splitlines() == ["machine: 2 cores, x86_64", "flags:   not recorded"]
    absent = {k: v for k, v in results().items() if k != "machine"}
    assert report.machine_line(absent) == "CPU not recorded"
    assert report.latency_chart(absent, tmp_path).read_bytes()[:4] == b"\x89PNG"


def test_the_breakdown_shows_each_stage_per_backend_load_and_quantile_with_the_cpu_shares(tmp_path: Path) -> None:
    text = report.breakdown_table(results())
    header = next(line for line in text.splitlines() if line.startswith("backend") and "encode" in line)
    for column in ("broker", "queue", "batch wait", "encode", "search", "build", "delivery", "model", "loop lag"):
        assert column in header
    row = next(
        line for line in text.splitlines() if line.startswith("onnx ") and "50% (200/s)" in line and "p99" in line
    )
    assert row.split()[4:] == ["50.0", "1.0", "43.0", "0.5", "4.0", "0.3", "0.2", "1.0", "8%", "0.5"]
    cpu = next(line for line in text.splitlines() if line.startswith("onnx ") and " burst " in line)
    assert cpu.split()[2:] == ["20%", "15%", "1%", "55%", "4%", "95%", "0%"]  # broker, load generator, redis, worker
    assert "timeline cost: 12.0 µs per chat" in text
    assert report.breakdown_chart(results(), tmp_path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_results_without_timings_say_so_instead_of_an_empty_table() -> None:
    older = results()
    for run in older["backends"].values():
        run["latency"] = {load: {k: v for k, v in f.items() if k != "breakdown"} for load, f in run["latency"].items()}
    assert report.breakdown_table(older) == "no breakdown: the workers sent no timings"
