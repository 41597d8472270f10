"""Measures every model x backend through a real worker, broker and Redis, with the bench's stages.

Per model x backend: one worker re-embeds the demo CMS export through the pipeline (cron), answers the held-out
chats one by one over `/search` (quality and a lone search's latency), then concurrent searches (REST) and chats
through the broker (consumer); a second worker recovers 100k vectors (memory to ship).
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from index.backends import Backend, available, model_id
from index.cpu import this_cpu
from index.models import LADDER, Model, ModelUnavailable, model_dir, resolve, tokenizer_file
from streams.bench import report, stages
from streams.bench.breakdown import WINDOWS, busy_split, request_split
from streams.bench.measure import peak_rss_mb, percentiles
from streams.bench.runner import Progress, scratch_settings, services
from streams.budget.verdict import Budgets, verdicts
from streams.clients.kafka import KafkaConnection
from streams.clients.publish import LabelledChat, publish_content, read_chats, read_content
from streams.demo.datasets import demo_chats, demo_content
from streams.local.ports import listener_ports
from streams.local.worker import WorkerProcess
from streams.settings import Settings

WARM_UP_CHATS = 2000
WARM_UP_RATE = 250
STAGES_PER_MODEL = 5  # cron, lone searches, sustained searches, consumer, memory


@dataclass(frozen=True)
class Sizes:
    burst: int
    rate_s: float
    search_s: float
    clients: tuple[int, ...]
    vectors: int


QUICK = Sizes(burst=500, rate_s=8, search_s=3, clients=(1, 4, 16), vectors=100_000)
FULL = Sizes(burst=2000, rate_s=20, search_s=8, clients=(1, 2, 4, 8, 16, 32), vectors=100_000)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


def disk_mb(model: Model, backend: Backend, cache_dir: Path) -> float:
    """What an instance must hold for this backend: the model directory (torch) or the graph and tokenizer."""
    if backend == "torch":
        files = [p for p in model_dir(model, cache_dir).rglob("*") if p.is_file()]
    else:
        from index.onnx_encoder import exported_model

        graph = exported_model(model, cache_dir, "fp32" if backend == "onnx" else "int8")
        files = [graph, tokenizer_file(model, cache_dir)]
    return round(sum(p.stat().st_size for p in files) / 2**20, 1)


class Budget:
    def __init__(self, settings: Settings, models: list[str], backends: list[Backend], sizes: Sizes, out: Path) -> None:
        self.settings, self.sizes, self.out = settings, sizes, out
        self.models = [resolve(m) for m in models]
        self.backends = backends
        self.budgets = Budgets.of(settings)
        self.cache_dir = settings.data_dir / "models"
        self.chats = read_chats(demo_chats())
        self.traffic = stages.shuffled(self.chats)
        self.content = read_content(demo_content())
        combos = len(self.models) * len(backends)
        self.progress = Progress(total=3 + STAGES_PER_MODEL * combos)
        self.pids: stages.Pids = {}
        self.results: dict[str, Any] = {
            "quick": sizes == QUICK,
            "machine": this_cpu().as_dict(),
            "sizes": sizes.__dict__,
            "budgets": self.budgets.__dict__,
            "held_out_chats": len(self.chats),
            "runs": [],
        }

    def run(self) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="helpstream-budget-") as tmp:
            self.progress.stage("services")
            with services(self.settings, Path(tmp), self.progress, own_redis=True) as running:
                bootstrap, redis = running.bootstrap, running.redis_url
                self.pids.update(running.pids)
                self.results["broker"] = running.broker
                self.prepare()
                self.progress.stage(f"broker warm-up: {WARM_UP_CHATS:,} chats at {WARM_UP_RATE}/s, not measured")
                warm = self.scratch(bootstrap, "warm")
                stages.warm_broker(warm, stages.chats_for(self.traffic, WARM_UP_CHATS), WARM_UP_RATE)
                for model in self.models:
                    for backend in self.backends:
                        self.results["runs"].append(self.measure(bootstrap, redis, model, backend))
        return self.results

    def prepare(self) -> None:
        self.progress.stage("models: join, export and quantize once (not measured)")
        for model in self.models:
            for backend in self.backends:
                if available(model, backend):
                    size = disk_mb(model, backend, self.cache_dir)
                    self.progress.note(f"{model_id(model, backend)}: {size:,.0f} MB")

    def scratch(self, bootstrap: str, stage: str, **overrides: Any) -> Settings:
        return scratch_settings(self.settings, bootstrap, f"budget-{stage}", **listener_ports(), **overrides)

    def measure(self, bootstrap: str, redis_url: str, model: Model, backend: Backend) -> dict[str, Any]:
        name = model_id(model, backend)
        figures: dict[str, Any] = {"model": model.setting, "backend": backend, "id": name}
        if not available(model, backend):
            figures["unavailable"] = f"{model.setting} ships as ONNX only"
            self.progress.skip(STAGES_PER_MODEL, f"{name} on {backend}: not available ({figures['unavailable']})")
        else:
            settings = self.scratch(
                bootstrap,
                slug(name),
                redis_url=redis_url,
                model=model.setting,
                encoder=backend,
                recommendation_timings=True,  # which stages hold a miss
            )
            worker = self.start(settings, f"{slug(name)}")
            try:
                figures["ship"] = {"disk_mb": disk_mb(model, backend, self.cache_dir), **self.started(worker)}
                figures["cron"] = self.reembed(settings, worker, name)
                figures["quality"], figures["rest"] = self.lone_searches(worker, name)
                figures["rest"].update(self.sustained(worker, name))
                figures["consumer"] = self.consumer(settings, worker, name)
                figures["ship"]["peak_rss_demo_mb"] = peak_rss_mb(worker.process.pid if worker.process else None)
            finally:
                worker.stop()
            figures["ship"].update(self.memory_100k(bootstrap, redis_url, model, backend))
        figures["verdicts"] = {p: str(v) for p, v in verdicts(figures, self.budgets).items()}
        return figures

    def start(self, settings: Settings, name: str) -> WorkerProcess:
        return WorkerProcess(settings, self.out / f"{name}.log").start()

    def started(self, worker: WorkerProcess) -> dict[str, float]:
        ready_s = worker.wait_ready(900)
        return {"ready_s": round(ready_s, 1), "load_s": worker.health()[1]["model"]["load_s"]}

    def reembed(self, settings: Settings, worker: WorkerProcess, name: str) -> dict[str, Any]:
        texts = sum(len(c.texts()) for c in self.content)
        self.progress.stage(f"{name}: cron, re-embed the CMS export ({len(self.content)} items, {texts:,} texts)")
        started, encoded = time.monotonic(), _encode_s(worker)
        asyncio.run(publish_content(KafkaConnection.of(settings), settings.topic_content, self.content, progress=False))
        worker.wait_for_items(len(self.content), timeout_s=3600)
        seconds = time.monotonic() - started
        split = busy_split(seconds, _encode_s(worker) - encoded, _parallel(settings), 1)
        self.progress.note(
            f"{seconds:.1f} s ({texts / seconds:,.0f} texts/s; the model's calls {split['model_share']:.0%})"
        )
        return {"texts": texts, "reembed_s": round(seconds, 1), "breakdown": split}

    def lone_searches(self, worker: WorkerProcess, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        self.progress.stage(f"{name}: quality and a lone search, {len(self.chats)} held-out chats one at a time")
        found, took, timings = asyncio.run(_one_by_one(worker, self.chats))
        top1 = sum(ids[:1] == [chat.intent] for ids, chat in zip(found, self.chats, strict=True))
        top3 = sum(chat.intent in ids for ids, chat in zip(found, self.chats, strict=True))
        quality = {"top1": round(top1 / len(self.chats), 4), "top3": round(top3 / len(self.chats), 4)}
        lone = percentiles(took)
        self.progress.note(
            f"top-1 {quality['top1']:.2%}, top-3 {quality['top3']:.2%}; "
            f"search p50 {lone['p50_ms']:.1f} / p99 {lone['p99_ms']:.1f} ms"
        )
        samples = [(ms, t) for ms, t in zip(took, timings, strict=True) if t]
        split = {q: request_split(samples, *window) for q, window in WINDOWS.items()} if samples else {}
        return quality, {"lone_p50_ms": lone["p50_ms"], "lone_p99_ms": lone["p99_ms"], "breakdown": split}

    def sustained(self, worker: WorkerProcess, name: str) -> dict[str, Any]:
        levels = ", ".join(map(str, self.sizes.clients))
        self.progress.stage(f"{name}: REST, {levels} concurrent clients, {self.sizes.search_s:g} s each")
        queries = [chat.text for chat in self.traffic]
        runs = [stages.search_load(worker, queries, c, self.sizes.search_s) for c in self.sizes.clients]
        within = [r["requests_per_s"] for r in runs if r["p99_ms"] <= self.budgets.search_p99_ms and not r["errors"]]
        sustained = max(within, default=0.0)
        self.progress.note(
            "; ".join(f"{r['clients']}: {r['requests_per_s']:.0f} req/s p99 {r['p99_ms']:.0f} ms" for r in runs)
        )
        return {"levels": runs, "sustained_per_s": sustained}

    def consumer(self, settings: Settings, worker: WorkerProcess, name: str) -> dict[str, Any]:
        rate = self.budgets.chat_rate
        self.progress.stage(
            f"{name}: consumer, a burst of {self.sizes.burst} chats, then {rate:g}/s for {self.sizes.rate_s:g} s"
        )
        stages.capacity(settings, self.traffic[:32])  # warm-up, not measured
        pids = {**self.pids, "worker": worker.process.pid if worker.process else None}
        encoded = _encode_s(worker)
        burst = stages.capacity(settings, stages.chats_for(self.traffic, self.sizes.burst), pids)
        busy = busy_split(burst["seconds"], _encode_s(worker) - encoded, _parallel(settings), burst["chats"])
        chats = stages.chats_for(self.traffic, int(rate * self.sizes.rate_s))
        at_rate = stages.offered_load(settings, chats, rate, pids)
        self.progress.note(f"{burst['chats_per_s']:.0f} chats/s; at {rate:g}/s {report.breakdown_line(at_rate)}")
        return {
            "chats_per_s": burst["chats_per_s"],
            "rate": rate,
            "p50_ms_at_rate": at_rate["p50_ms"],
            "p99_ms_at_rate": at_rate["p99_ms"],
            "breakdown": at_rate["breakdown"],
            "burst_breakdown": busy,
            "cpu_burst": burst["cpu"],
            "cpu_at_rate": at_rate["cpu"],
        }

    def memory_100k(self, bootstrap: str, redis_url: str, model: Model, backend: Backend) -> dict[str, float]:
        name, vectors = model_id(model, backend), self.sizes.vectors
        self.progress.stage(f"{name}: memory, a worker recovering {vectors:,} vectors of {model.dimension} dims")
        settings = self.scratch(
            bootstrap, f"mem-{slug(name)}", redis_url=redis_url, model=model.setting, encoder=backend
        )
        stages.write_synthetic_table(settings, name, model.dimension, vectors)
        worker = self.start(settings, f"{slug(name)}-100k")
        try:
            ready_s = worker.wait_ready(900)
            rss = peak_rss_mb(worker.process.pid if worker.process else None)
        finally:
            worker.stop()
        self.progress.note(f"ready in {ready_s:.1f} s, peak RSS {rss:,.0f} MB")
        return {"peak_rss_100k_mb": rss, "recovery_100k_s": round(ready_s, 1)}


def _encode_s(worker: WorkerProcess) -> float:
    """The worker's model-call seconds so far (every encoder thread's)."""
    return worker.metric("helpstream_encode_seconds_sum")


def _parallel(settings: Settings) -> int:
    return 1 if settings.encoder == "torch" else settings.inference_threads


async def _one_by_one(
    worker: WorkerProcess, chats: list[LabelledChat]
) -> tuple[list[list[str]], list[float], list[dict[str, float]]]:
    """Per chat, in order: the ids found, the client's milliseconds, and the response's `timings` (if any)."""
    found: list[list[str]] = []
    took: list[float] = []
    timings: list[dict[str, float]] = []
    async with aiohttp.ClientSession() as session:
        for chat in chats:
            started = time.perf_counter()
            params = {"q": chat.text, "k": "3", "kind": "saved_response"}
            async with session.get(f"{worker.url}/search", params=params) as response:
                body = await response.json()
            took.append((time.perf_counter() - started) * 1000)
            found.append([hit["content_id"] for hit in body["results"]])
            timings.append(body.get("timings") or {})
    return found, took, timings


def default_models(settings: Settings) -> list[str]:
    """Every installed rung of the ladder, then every model `helpstream tune` wrote under the data dir."""
    models = []
    for name in LADDER:
        try:
            resolve(name)
        except ModelUnavailable:
            continue
        models.append(name)
    tuned = settings.data_dir / "tuned"
    models += sorted(str(p) for p in tuned.glob("*") if (p / "modules.json").is_file()) if tuned.is_dir() else []
    return models


def run_budget(settings: Settings, *, models: list[str], backends: list[Backend], quick: bool, out: Path) -> int:
    from streams.budget import report

    out.mkdir(parents=True, exist_ok=True)
    budget = Budget(settings, models, backends, QUICK if quick else FULL, out)
    print(report.machine(budget.results))
    print(f"models: {', '.join(m.setting for m in budget.models)}; backends: {', '.join(backends)}", flush=True)
    results = budget.run()
    print()
    print(report.machine(results))
    print(report.table(results))
    print()
    print(report.verdict_table(results))
    print(f"\nwrote {report.write_json(results, out)} and {report.chart(results, out)}")
    return 0
