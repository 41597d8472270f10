"""The budget's outputs: the machine, the figures and verdict tables on stdout, `budget.json`, and the
quality/latency chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from streams.bench.report import machine, machine_line
from streams.budget.verdict import FITS, PATTERNS, TOO_BIG, UNAVAILABLE

__all__ = ["chart", "chart_title", "machine", "table", "verdict_table", "write_json"]

PATTERN_AXES = {
    "rest": ("help-screen search: a lone /search p99 (ms)", "rest", "lone_p99_ms", "search_p99_ms"),
    "consumer": (
        "agent suggestion: chat → recommendation p99 at the budget rate (ms)",
        "consumer",
        "p99_ms_at_rate",
        "chat_p99_ms",
    ),
    "cron": ("nightly re-embed: the whole CMS export (s)", "cron", "reembed_s", "reembed_s"),
}


def _columns(rows: list[list[str]]) -> str:
    width = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, width, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in width))
    return "\n".join(lines)


def table(results: dict[str, Any]) -> str:
    """The figures: one row per model x backend."""
    rows = [
        [
            "model",
            "backend",
            "disk MB",
            "load s",
            "RSS demo / 100k MB",
            "top-1 / top-3",
            "search p50 / p99 ms",
            "search req/s in budget",
            "chats/s",
            f"chat p99 ms at {results['budgets']['chat_rate']:g}/s",
            "re-embed s",
        ]
    ]
    for run in results["runs"]:
        if "unavailable" in run:
            rows.append([run["model"], run["backend"], *["-"] * 9])
            continue
        ship, quality, rest, consumer = run["ship"], run["quality"], run["rest"], run["consumer"]
        rows.append(
            [
                run["model"],
                run["backend"],
                f"{ship['disk_mb']:,.0f}",
                f"{ship['load_s']:.1f}",
                f"{ship['peak_rss_demo_mb']:,.0f} / {ship['peak_rss_100k_mb']:,.0f}",
                f"{quality['top1']:.1%} / {quality['top3']:.1%}",
                f"{rest['lone_p50_ms']:.1f} / {rest['lone_p99_ms']:.1f}",
                f"{rest['sustained_per_s']:,.0f}",
                f"{consumer['chats_per_s']:,.0f}",
                f"{consumer['p99_ms_at_rate']:,.0f}",
                f"{run['cron']['reembed_s']:,.1f}",
            ]
        )
    return _columns(rows)


def verdict_table(results: dict[str, Any]) -> str:
    """The verdicts: one row per model x backend, one column per pattern, with the budgets in the header."""
    budgets = results["budgets"]
    rows = [
        [
            "model",
            "backend",
            f"REST (p99 ≤ {budgets['search_p99_ms']:g} ms)",
            f"consumer (p99 ≤ {budgets['chat_p99_ms']:g} ms at {budgets['chat_rate']:g}/s)",
            f"cron (≤ {budgets['reembed_s']:g} s)",
        ]
    ]
    rows += [[run["model"], run["backend"], *(run["verdicts"][p] for p in PATTERNS)] for run in results["runs"]]
    note = (
        f"every pattern: the worker's peak RSS (holding 100k vectors, or re-embedding the demo export) "
        f"≤ {budgets['memory_mb']:g} MB, else {TOO_BIG}"
    )
    return _columns(rows) + "\n" + note


def write_json(results: dict[str, Any], out: Path) -> Path:
    path = out / "budget.json"
    path.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    return path


def chart_title(results: dict[str, Any]) -> str:
    return (
        "When is a model too big? Quality against each pattern's latency "
        f"(red edge: misses a budget; faded: {TOO_BIG}; {UNAVAILABLE} not drawn)\n{machine_line(results)}"
    )


def chart(results: dict[str, Any], out: Path) -> Path:
    """Quality against latency per pattern, one point per model x backend, the budget as a vertical line."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [run for run in results["runs"] if "unavailable" not in run]
    fig, axes = plt.subplots(1, len(PATTERNS), figsize=(17, 5.5), sharey=True)
    markers = {"torch": "o", "onnx": "s", "onnx-int8": "^"}
    models = list(dict.fromkeys(run["model"] for run in runs))
    colours = {m: plt.get_cmap("tab10")(i) for i, m in enumerate(models)}
    for ax, pattern in zip(axes, PATTERNS, strict=True):
        title, section, field, budget = PATTERN_AXES[pattern]
        for run in runs:
            verdict = run["verdicts"][pattern]
            x, y = run[section][field], 100 * run["quality"]["top1"]
            ax.scatter(
                x,
                y,
                marker=markers[run["backend"]],
                s=70,
                color=colours[run["model"]],
                edgecolors="black" if verdict.startswith(FITS) else "red",
                linewidths=0.6 if verdict.startswith(FITS) else 2.0,
                alpha=0.35 if verdict.startswith(TOO_BIG) else 1.0,
                label=f"{run['model'].rsplit('/', 1)[-1]} · {run['backend']}",
            )
            ax.annotate(
                f"{run['model'].rsplit('/', 1)[-1]} {run['backend']}",
                (x, y),
                textcoords="offset points",
                xytext=(5, 4),
                fontsize=7,
            )
        limit = results["budgets"][budget]
        ax.set_xscale("log")
        left, right = ax.get_xlim()
        left, right = min(left, limit / 2), max(right, limit * 2)
        ax.axvline(limit, color="red", linestyle="--", linewidth=1)
        ax.axvspan(limit, right, color="red", alpha=0.05)
        ax.set_xlim(left, right)
        ax.text(limit, ax.get_ylim()[0], " budget", color="red", va="bottom", fontsize=8)
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_xlabel(title, fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel(f"top-1 on {results['held_out_chats']} held-out chats (%)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 5), fontsize=8, frameon=False)
    fig.suptitle(chart_title(results), fontsize=11)
    fig.tight_layout(rect=(0, 0.1, 1, 0.93))
    path = out / "budget.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
