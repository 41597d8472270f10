"""The bench's report from a results document: the keys other tools read, the table, and the chart file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from streams.bench import report


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
        load: {"rate": rate, "p50_ms": 20.0, "p95_ms": 40.0, "p99_ms": 50.0}
        for load, rate in (("25%", 100.0), ("50%", 200.0), ("80%", 320.0))
    }
    run = {"pipeline": {"chats_per_s": 400.0}, "latency": latency, "worker_peak_rss_mb": 300}
    return {
        "machine": "2 cores, x86_64",
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
    }


def test_table_shows_every_stage_and_the_ratios() -> None:
    text = report.table(results())
    for stage in ("raw", "naive", "pipeline", "latency 50%", "freshness", "search", "recovery 100k", "ratios"):
        assert stage in text
    assert "pipeline/raw 0.80; pipeline/naive 5.7" in text


def test_json_and_chart_are_written(tmp_path: Path) -> None:
    data = orjson.loads(report.write_json(results(), tmp_path).read_bytes())
    assert data["ratios"]["pipeline_over_naive"] == 5.7
    assert data["latency"]["50%"]["p99_ms"] == 50.0
    chart = report.latency_chart(results(), tmp_path)
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
