"""The bench's outputs: the machine and a table on stdout, `bench.json`, and a chart of latency against offered load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from index.cpu import FLAGS
from streams.bench.breakdown import STAGES


def machine_line(results: dict[str, Any]) -> str:
    """The CPU the figures were measured on, in one line (`index.cpu`'s description). Results written before
    `machine` was a record hold a string, or nothing."""
    recorded = results.get("machine")
    if isinstance(recorded, dict):
        return str(recorded.get("description", "CPU not described"))
    if isinstance(recorded, str) and recorded:
        return recorded
    return "CPU not recorded"


def machine(results: dict[str, Any]) -> str:
    """Two lines for the top of a command's output: the CPU, then the instruction-set flags that matter."""
    recorded = results.get("machine")
    if not isinstance(recorded, dict):
        flags = "not recorded"
    elif recorded.get("flags"):
        flags = " ".join(recorded["flags"])
    elif recorded.get("isa") == "unknown":
        flags = "not readable here"
    else:
        flags = f"none of {', '.join(FLAGS)}"
    return f"machine: {machine_line(results)}\nflags:   {flags}"


def table(results: dict[str, Any]) -> str:
    rows: list[tuple[str, str, str]] = []
    for backend, raw in results["raw"].items():
        rows.append(
            (
                "raw",
                backend,
                f"{raw['sentences_per_s']:.0f} sentences/s (batch {raw['best_batch']}, "
                f"{raw['calls_at_once']} call{'s' if raw['calls_at_once'] > 1 else ''} at once); "
                f"1 sentence p50 {raw['single_p50_ms']:.1f} / p99 {raw['single_p99_ms']:.1f} ms; "
                f"RSS {raw['peak_rss_mb']:.0f} MB",
            )
        )
    naive = results["naive"]
    rows.append(("naive", "torch", f"{naive['chats_per_s']:.0f} chats/s; RSS {naive['peak_rss_mb']:.0f} MB"))
    for backend, run in results["backends"].items():
        rows.append(
            (
                "pipeline",
                backend,
                f"{run['pipeline']['chats_per_s']:.0f} chats/s "
                f"({run['pipeline']['chats_per_s'] / results['raw'][backend]['sentences_per_s']:.2f} x raw); "
                f"worker RSS {run['worker_peak_rss_mb']:.0f} MB",
            )
        )
        for load, figures in run["latency"].items():
            rows.append(
                (
                    f"latency {load}",
                    backend,
                    f"{figures['rate']:.0f} chats/s offered: p50 {figures['p50_ms']:.0f} / "
                    f"p95 {figures['p95_ms']:.0f} / p99 {figures['p99_ms']:.0f} ms",
                )
            )
    fresh = results["freshness"]
    rows.append(
        (
            "freshness",
            results["default_backend"],
            f"{fresh['visible']}/{fresh['edits']} edits visible: "
            f"p50 {fresh['p50_ms']:.0f} / p99 {fresh['p99_ms']:.0f} ms (chats at {fresh['chat_rate']:.0f}/s)",
        )
    )
    search = results["search"]
    rows.append(
        (
            "search",
            results["default_backend"],
            f"{search['requests_per_s']:.0f} req/s with {search['clients']} "
            f"clients: p50 {search['p50_ms']:.1f} / p99 {search['p99_ms']:.1f} ms; errors {search['errors']}",
        )
    )
    shadow = results.get("shadow")
    if shadow:
        rows.append(
            (
                "shadow cost",
                results["default_backend"],
                f"{shadow['candidate']} at share {shadow['share']}: p99 at {shadow['rate']:.0f} chats/s "
                f"{shadow['without']['p99_ms']:.0f} (mean of {shadow['without']['p99_before_ms']:.0f} before, "
                f"{shadow['without']['p99_after_ms']:.0f} after) → {shadow['with']['p99_ms']:.0f} ms "
                f"({shadow['p99_ratio']:.2f}x), "
                f"capacity {shadow['without']['chats_per_s']:.0f} → {shadow['with']['chats_per_s']:.0f} chats/s "
                f"({shadow['capacity_ratio']:.2f}x); {shadow['shadow_scored']:.0f} scored, "
                f"{shadow['shadow_shed']:.0f} shed",
            )
        )
    for size, rec in results["recovery"].items():
        rows.append(
            (
                f"recovery {size}",
                rec["backend"],
                f"ready in {rec['ready_s']:.1f} s, {rec['encoder_calls']:.0f} "
                f"encoder calls, {rec['vectors']} vectors; worker RSS {rec['worker_peak_rss_mb']:.0f} MB",
            )
        )
    ratios = results["ratios"]
    rows.append(
        (
            "ratios",
            results["default_backend"],
            f"pipeline/raw {ratios['pipeline_over_raw']:.2f}; pipeline/naive {ratios['pipeline_over_naive']:.1f}",
        )
    )
    width = [max(len(r[i]) for r in rows) for i in range(2)]
    lines = [f"{'stage':<{width[0]}}  {'backend':<{width[1]}}  figures", "-" * (width[0] + width[1] + 60)]
    lines += [f"{stage:<{width[0]}}  {backend:<{width[1]}}  {text}" for stage, backend, text in rows]
    return "\n".join(lines)


def write_json(results: dict[str, Any], out: Path) -> Path:
    path = out / "bench.json"
    path.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    return path


def latency_title(results: dict[str, Any]) -> str:
    return f"helpstream consumer latency by encoder backend\n{machine_line(results)}"


def latency_chart(results: dict[str, Any], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for backend, run in results["backends"].items():
        points = sorted(run["latency"].values(), key=lambda f: f["rate"])
        rates = [p["rate"] for p in points]
        line = ax.plot(rates, [p["p99_ms"] for p in points], marker="o", label=f"{backend} p99")[0]
        ax.plot(
            rates,
            [p["p50_ms"] for p in points],
            marker=".",
            linestyle="--",
            color=line.get_color(),
            label=f"{backend} p50",
        )
    ax.set_xlabel("offered load (chats/s)")
    ax.set_ylabel("chat.started → recommendation received (ms)")
    ax.set_yscale("log")
    ax.set_title(latency_title(results), fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    path = out / "latency.png"
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


_STAGE_NAMES = {"batch_wait": "batch wait"}
_COLOURS = {
    "broker": "#8c8c8c",
    "queue": "#f0a202",
    "batch_wait": "#f18805",
    "encode": "#2a6f97",
    "search": "#61a5c2",
    "build": "#a9d6e5",
    "delivery": "#b5838d",
}


def breakdown_line(figures: dict[str, Any]) -> str:
    """One offered load in a line: p50 and p99, the model's share of each, the worker's CPU share."""
    parts = [f"p50 {figures['p50_ms']:.0f} / p99 {figures['p99_ms']:.0f} ms"]
    split = figures.get("breakdown") or {}
    if split:
        parts.append(
            f"model {split['p50']['model_share']:.0%} of the p50, {split['p99']['model_share']:.0%} of the p99"
        )
    cpu = figures.get("cpu") or {}
    if "worker" in cpu:
        parts.append(f"worker {cpu['worker']:.0%} of the CPU, machine {cpu['machine']:.0%}")
    return "; ".join(parts)


def _table(header: list[str], rows: list[list[str]]) -> str:
    width = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(r, width, strict=True)))
        for r in [header, *rows]
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def _loads(results: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (backend, load, figures)
        for backend, run in results["backends"].items()
        for load, figures in run["latency"].items()
        if figures.get("breakdown")
    ]


def breakdown_table(results: dict[str, Any]) -> str:
    """Where the p50 and the p99 go (ms; the mean of each stage over the chats around that quantile), then how
    busy each process kept the machine while it was measured."""
    header = ["backend", "load", "q", "total", *(_STAGE_NAMES.get(s, s) for s in STAGES), "model", "loop lag"]
    rows = []
    for backend, load, figures in _loads(results):
        for q, split in figures["breakdown"].items():
            rows.append(
                [
                    backend,
                    f"{load} ({figures['rate']:.0f}/s)",
                    q,
                    f"{split['total_ms']:.1f}",
                    *(f"{split[f'{stage}_ms']:.1f}" for stage in STAGES),
                    f"{split['model_share']:.0%}",
                    f"{split['loop_lag_ms']:.1f}",
                ]
            )
    if not rows:
        return "no breakdown: the workers sent no timings"
    names = sorted({name for _, _, f in _loads(results) for name in f.get("cpu", {})} - {"other", "machine", "steal"})
    cpu_rows = []
    for backend, run in results["backends"].items():
        measured = [("burst", run["pipeline"]), *((load, f) for load, f in run["latency"].items())]
        for stage, figures in measured:
            cpu = figures.get("cpu") or {}
            if cpu:
                cells = [f"{cpu.get(n, 0.0):.0%}" for n in names]
                cpu_rows.append(
                    [
                        backend,
                        stage,
                        *cells,
                        f"{cpu['other']:.0%}",
                        f"{cpu['machine']:.0%}",
                        f"{cpu.get('steal', 0):.0%}",
                    ]
                )
    text = "where a chat's milliseconds go (ms, mean over the chats around each quantile; model = encode's share)\n"
    text += _table(header, rows)
    if cpu_rows:
        text += "\n\nCPU share while measured (100% = every core of the machine; stolen: taken by the hypervisor)\n"
        text += _table(["backend", "stage", *names, "other", "machine", "stolen"], cpu_rows)
    cost = results.get("timeline_cost")
    if cost:
        text += (
            f"\n\ntimeline cost: {cost['cost_us']:.1f} µs per chat ({cost['without_us']:.1f} µs to build and encode a "
            f"recommendation without it, {cost['with_us']:.1f} with)"
        )
    return text


def breakdown_title(results: dict[str, Any]) -> str:
    return f"where a chat's milliseconds go, by backend, offered load and quantile\n{machine_line(results)}"


def breakdown_chart(results: dict[str, Any], out: Path) -> Path:
    """Stacked bars, the p50's on the left and the p99's on the right: one bar per backend and offered load, one
    segment per stage, so the model's part (encode) stands beside the pipeline's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    loads = _loads(results)
    fig, axes = plt.subplots(1, 2, figsize=(max(9, 1.1 * len(loads) + 3), 5.5))
    for ax, q in zip(axes, ("p50", "p99"), strict=True):
        bottoms = [0.0] * len(loads)
        for stage in STAGES:
            values = [figures["breakdown"][q][f"{stage}_ms"] for _, _, figures in loads]
            label = _STAGE_NAMES.get(stage, stage)
            ax.bar(range(len(loads)), values, bottom=bottoms, color=_COLOURS[stage], label=label)
            bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
        labels = [f"{backend}\n{load} ({figures['rate']:.0f}/s)" for backend, load, figures in loads]
        ax.set_xticks(range(len(loads)), labels, fontsize=7, rotation=90)
        ax.set_title(f"around the {q}", fontsize=9)
        ax.set_ylabel("ms (mean of each stage over the chats around the quantile)", fontsize=8)
        ax.grid(True, axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(breakdown_title(results), fontsize=10)
    path = out / "breakdown.png"
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
