"""The budget's report from a results document: both tables, `budget.json` and the chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from index.cpu import parse
from streams.budget import report
from streams.budget.verdict import Budgets, verdicts
from tests.unit.index.test_cpu import VERSIONS, cpuinfo

BUDGETS = Budgets(search_p99_ms=50, chat_p99_ms=1000, chat_rate=50, reembed_s=300, memory_mb=1024)


def run(model: str, backend: str, *, search_p99: float, rss: float) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "model": model,
        "backend": backend,
        "ship": {"disk_mb": 90.0, "load_s": 0.4, "peak_rss_demo_mb": rss - 100, "peak_rss_100k_mb": rss},
        "quality": {"top1": 0.912, "top3": 0.976},
        "rest": {"lone_p50_ms": search_p99 / 2, "lone_p99_ms": search_p99, "sustained_per_s": 600.0},
        "consumer": {"chats_per_s": 400.0, "p99_ms_at_rate": 40.0},
        "cron": {"reembed_s": 14.2},
    }
    figures["verdicts"] = {p: str(v) for p, v in verdicts(figures, BUDGETS).items()}
    return figures


AVX512_BF16 = "avx avx2 avx512f avx512_vnni avx512_bf16"
MACHINE = parse(cpuinfo("AMD EPYC", AVX512_BF16), cores=2, **VERSIONS).as_dict()


def results() -> dict[str, Any]:
    return {
        "machine": MACHINE,
        "budgets": BUDGETS.__dict__,
        "held_out_chats": 996,
        "runs": [
            run("minilm-l6", "onnx", search_p99=6.0, rss=500.0),
            run("mpnet-base", "torch", search_p99=80.0, rss=1600.0),
            {
                "model": "minilm-l3",
                "backend": "torch",
                "unavailable": "x",
                "verdicts": dict.fromkeys(("rest", "consumer", "cron"), "not available: minilm-l3 ships as ONNX only"),
            },
        ],
    }


def test_the_tables_show_every_run_and_its_verdict_per_pattern() -> None:
    figures = report.table(results())
    assert "91.2% / 97.6%" in figures and "3.0 / 6.0" in figures
    verdicts = report.verdict_table(results()).splitlines()
    assert "REST (p99 ≤ 50 ms)" in verdicts[0] and "consumer (p99 ≤ 1000 ms at 50/s)" in verdicts[0]
    assert verdicts[2].split()[:5] == ["minilm-l6", "onnx", "fits", "fits", "fits"]
    assert "too big to ship: peak RSS 1,600 MB > 1,024 MB" in verdicts[3]
    assert "not available" in verdicts[4]


def test_budget_json_and_the_chart_are_written(tmp_path: Path) -> None:
    assert orjson.loads(report.write_json(results(), tmp_path).read_bytes())["runs"][0]["model"] == "minilm-l6"
    chart = report.chart(results(), tmp_path)
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 20_000


def test_the_cpu_is_named_above_the_tables_and_in_the_charts_title() -> None:
    described = "AMD EPYC, 2 cores, AVX-512 VNNI + BF16 (onnxruntime 1.32.0, torch 2.15.0)"
    assert report.machine(results()).splitlines() == [
        f"machine: {described}",
        "flags:   avx2 avx512f avx512_vnni avx512_bf16",
    ]
    assert report.chart_title(results()).splitlines()[-1] == described


def test_a_budget_json_from_before_the_machine_record_still_renders(tmp_path: Path) -> None:
    older = {k: v for k, v in results().items() if k != "machine"}  # as the committed budget/budget.json
    assert report.machine(older).splitlines() == ["machine: CPU not recorded", "flags:   not recorded"]
    assert report.chart(older, tmp_path).read_bytes()[:4] == b"\x89PNG"
