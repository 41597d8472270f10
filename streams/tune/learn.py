"""`helpstream learn`, one learning cycle: tune a candidate from the usage so far, export it, add it to the group,
let interleaving judge it, then promote it (when it wins and every gate passes, unless an operator must approve) or
retire it (when agents prefer the active model). Every change goes into the registry's history with the figures it
was decided on. Run on a schedule; a run that finds the candidate an earlier run added judges that one instead of
tuning another, so a cycle longer than the schedule's period is never run twice."""

from __future__ import annotations

import asyncio
import fcntl
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import orjson

from schemas import UsageExample, encode
from schemas.registry import ModelRef, Registry
from streams.settings import Settings

if TYPE_CHECKING:
    from streams.registry.channel import ControlState

OPERATOR = "helpstream-learn"
LEARNED = "learned"  # under HELPSTREAM_DATA_DIR: every directory this command writes
WEIGHTS = ".weights"  # beside a learned model's export: its torch weights, which the next cycle tunes

Decision = Literal["promote", "approve", "retire", "give up", "wait"]


@dataclass(frozen=True)
class Options:
    base: str
    content: Path | None
    chats: Path | None
    max_steps: int
    seed: int
    from_base: bool
    decide_within_s: float


def decide(entry: dict[str, Any], mode: str, max_interleaved: int) -> Decision:
    """What the candidate's report calls for: retire when agents prefer the active model (and no worker answers
    with it), promote (or ask for an operator's approval) when agents prefer it and every gate passes, give up on
    it (retire it too) when `max_interleaved` chats have not shown either model better, else wait. Only
    interleaving's verdict promotes: the paired-MRR gate says a candidate is not clearly worse, not better. Giving
    up matters as the models converge: a candidate as good as the active model would hold the loop for good, while
    one tuned on more usage may be better."""
    winner = entry.get("interleave_winner")
    if winner == "active":
        return "retire" if not entry.get("answering_workers") else "wait"
    gates = entry.get("gates", [])
    if winner == "candidate" and gates and all(g["passed"] for g in gates):
        return "promote" if mode == "auto" else "approve"
    if winner is None and entry.get("interleaved", 0) >= max_interleaved and not entry.get("answering_workers"):
        return "give up"
    return "wait"


def verdict_figures(entry: dict[str, Any]) -> dict[str, float]:
    keys = ("interleaved", "interleave_wins", "interleave_losses", "interleave_share", "interleave_p", "chat_p99_ms")
    return {k: float(entry[k]) for k in keys if isinstance(entry.get(k), int | float)}


def tune_figures(report: dict[str, Any], seconds: float) -> dict[str, float]:
    """The tune report's figures as the registry's history keeps them: quality before and after on each set."""
    out = {"usage_chats": float(report["usage"]["chats"]), "tune_s": float(report["seconds"]), "cycle_s": seconds}
    for name, key in (("held-out chats", "heldout"), ("kept-out usage", "usage")):
        for when, part in (("before", "before"), ("after", "written_model")):
            if name in report[part]:
                out[f"{key}_top1_{when}"] = round(report[part][name]["top1"], 4)
                out[f"{key}_top3_{when}"] = round(report[part][name]["top3"], 4)
    return out


def demoted(registry: Registry) -> list[str]:
    """The candidates that answered once and were not added since: a model two promotes back comes back as a
    candidate (`previous` is the one a rollback reaches). Workers interleave only the first candidate, so one would
    stand before every learned model, judged by no one: `learn` retires them, whoever added them."""
    last: dict[str, str] = {}
    for change in registry.history:
        if change.action in ("add", "seed", "promote", "rollback"):
            last[change.model_id] = change.action
    return [r.model_id for r in registry.candidates if last.get(r.model_id, "add") != "add"]


def unreferenced(root: Path, registry: Registry) -> list[Path]:
    """The learned models under `root` that no worker may load any more (neither active, previous nor a candidate),
    each with its kept torch weights, and weights whose export is gone: retired or never added, they only take disk,
    and their weights were tuned on customers' words. Matched by directory name: workers may mount `root` elsewhere."""
    live = {Path(m.model).name for m in registry.live()}
    return [
        path for path in sorted(root.glob("learned-*")) if path.is_dir() and path.name.removesuffix(WEIGHTS) not in live
    ]


class Learn:
    """One run of the cycle against the group's Kafka; prints each step."""

    def __init__(self, settings: Settings, options: Options) -> None:
        from streams.clients.kafka import KafkaConnection

        if not settings.broker:
            raise ConnectionError("no broker configured: set HELPSTREAM_BROKER=host:port")
        self.settings = settings
        self.options = options
        self.kafka = KafkaConnection.of(settings)
        self.root = settings.data_dir / LEARNED

    def run(self) -> int:
        if self.settings.learn == "off":
            print("helpstream learn: learning is off (HELPSTREAM_LEARN=off)")
            return 0
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / "lock").open("w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                print("helpstream learn: another run is under way (it holds the lock in HELPSTREAM_DATA_DIR/learned)")
                return 0
            # A run killed mid-tune leaves its work directory: it holds customers' masked words, so it goes now.
            for stale in self.root.glob("work-*"):
                shutil.rmtree(stale, ignore_errors=True)
            return self._cycle()

    def _cycle(self) -> int:
        started = time.monotonic()
        control = asyncio.run(self._control())
        registry = control.registry
        # A registry read without an active model or with records refused may not be the one workers follow: then
        # nothing is removed, or a model a worker serves could go.
        if registry.active is not None and not control.refused:
            for gone in unreferenced(self.root, registry):
                shutil.rmtree(gone, ignore_errors=True)
                print(f"==> removed {gone}: no longer active, previous or a candidate", flush=True)
        ours = self._ours(registry)
        if demoted(registry):
            registry = asyncio.run(self._retire_demoted())
        first = registry.candidates[0] if registry.candidates else None
        if first is not None and first.model_id not in ours:
            print(f"helpstream learn: {first.model_id} is being judged (added by an operator): learning waits for it")
            return 0
        if first is not None:
            ref = first
            print(f"==> judging {ref.model_id}, which an earlier run added", flush=True)
        else:
            added = self._tune_and_add(started, self._start_from(registry))
            if added is None:
                return 0
            ref = added
        return asyncio.run(self._judge(ref))

    def _ours(self, registry: Registry) -> set[str]:
        """The models this command added (an operator's `model add` of a directory under learned/ is not)."""
        return {c.model_id for c in registry.history if c.action == "add" and c.operator == OPERATOR}

    async def _retire_demoted(self) -> Registry:
        from streams.registry import state
        from streams.registry.channel import read_control

        control = await read_control(self.kafka, self.settings)
        registry = control.registry
        replaced = demoted(registry)  # as the registry stands now: an operator may have changed it since
        if not replaced:
            return registry
        for model_id in replaced:
            registry = state.retire(registry, model_id)
            registry = state.stamped(registry, OPERATOR)
        await self._write(control.registry.revision, registry)
        print(f"==> retired {', '.join(replaced)}: answered before, demoted by a later promote", flush=True)
        return registry

    async def _write(self, revision: int, registry: Registry) -> None:
        """The registry, unless someone changed it since it was read at `revision`: their change stands."""
        from streams.registry.channel import read_control, write_registry

        now = (await read_control(self.kafka, self.settings)).registry.revision
        if now != revision:
            raise RuntimeError(f"the registry changed while learn decided (revision {revision} → {now}): run it again")
        await write_registry(self.kafka, self.settings, registry)

    def _start_from(self, registry: Registry) -> str:
        """The weights of the active model when an earlier cycle learned it: each cycle builds on the last, and the
        usage it learns from includes every earlier cycle's. Else the base model."""
        active = registry.active
        if self.options.from_base or active is None or active.model_id not in self._ours(registry):
            return self.options.base
        weights = Path(active.model + WEIGHTS)
        return str(weights) if weights.is_dir() else self.options.base

    async def _control(self) -> ControlState:
        from streams.registry.channel import read_control
        from streams.topology.admin import ensure_topics
        from streams.topology.topics import topic_specs

        s = self.settings
        needed = (s.topic_models, s.topic_figures, s.topic_usage)
        await ensure_topics(self.kafka, [t for t in topic_specs(s) if t.name in needed])
        return await read_control(self.kafka, s)

    def _tune_and_add(self, started: float, base: str) -> ModelRef | None:
        from streams.clients.usage import read_usage

        usage = asyncio.run(read_usage(self.kafka, self.settings.topic_usage))
        needed = self.settings.learn_min_usage
        if len(usage.examples) < needed:
            print(f"helpstream learn: {len(usage.examples)} chats with a used response so far, {needed} needed")
            return None
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        work = self.root / f"work-{stamp}"
        work.mkdir(parents=True)
        try:
            return self._learn_from(usage.examples, base, work, stamp, started)
        finally:
            # The usage holds customers' (masked) words: nothing of it outlives the run, whatever the chats' retention.
            shutil.rmtree(work, ignore_errors=True)

    def _learn_from(
        self, examples: list[UsageExample], base: str, work: Path, stamp: str, started: float
    ) -> ModelRef | None:
        from index.export import export_directory
        from index.models import resolve
        from streams.tune.run import run_tune

        usage_file = work / "usage.jsonl"
        usage_file.write_bytes(b"".join(encode(e) + b"\n" for e in examples))
        print(f"==> tuning {base} on {len(examples)} chats' usage and the content's queries", flush=True)
        code = run_tune(
            self.settings,
            base=base,
            out=work / f"learned-{stamp}",  # the directory's name becomes the model id's
            content_path=self.options.content,
            chats_path=self.options.chats,
            seed=self.options.seed,
            kept_out=0.1,
            epochs=None,
            trainings=1,
            usage_path=usage_file,
            max_steps=self.options.max_steps,
        )
        if code:
            raise RuntimeError("tune failed: the candidate was not added")
        trained = work / f"learned-{stamp}"
        report = orjson.loads((trained / "helpstream-tune.json").read_bytes())
        out = self.root / f"learned-{stamp}"
        print(f"==> exporting it to {out} (ONNX fp32, int8 for this CPU, tokenizer, manifest)", flush=True)
        export_directory(resolve(str(trained)), out, self.settings.data_dir / "models")
        (out / "helpstream-tune.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
        trained.rename(Path(str(out) + WEIGHTS))  # where the next cycle starts
        try:
            ref = asyncio.run(self._add(str(out.resolve()), tune_figures(report, time.monotonic() - started)))
        except ValueError as exc:  # a model the workers may not load, or a registry that refuses it
            raise RuntimeError(f"{out} not added: {exc}") from None
        print(f"==> {ref.model_id} added {time.monotonic() - started:.0f} s after the command", flush=True)
        return ref

    async def _add(self, setting: str, figures: dict[str, float]) -> ModelRef:
        from streams.engine.models import model_ref
        from streams.registry import state
        from streams.registry.channel import read_control
        from streams.registry.figures import answering

        self.settings.model_policy().allowed(setting)
        control = await read_control(self.kafka, self.settings)
        registry = control.registry
        if registry.active is None:
            serving = answering(control.figures.values(), datetime.now(UTC))
            registry = (
                state.seed(registry, serving or model_ref(self.settings.model, self.settings.encoder)) or registry
            )
        ref = model_ref(setting, self.settings.encoder)
        changed = state.add(registry, ref)
        await self._write(control.registry.revision, state.stamped(changed, OPERATOR, figures=figures))
        return ref

    async def _judge(self, ref: ModelRef) -> int:
        from streams.registry import state
        from streams.registry.channel import read_control
        from streams.registry.report import models_report

        deadline = time.monotonic() + self.options.decide_within_s
        shown = 0.0
        while True:
            decided_at = datetime.now(UTC)
            control = await read_control(self.kafka, self.settings)
            report = models_report(control, self.settings.budget_chat_p99_ms, decided_at)
            entry = next((m for m in report["models"] if m["model_id"] == ref.model_id), None)
            if entry is None or entry["role"] != "candidate":
                print(f"helpstream learn: {ref.model_id} is no longer a candidate (someone changed the registry)")
                return 0
            decision = decide(entry, self.settings.learn, self.settings.learn_max_interleaved)
            if decision != "wait" or time.monotonic() >= deadline:
                break
            if time.monotonic() - shown >= 30:
                quality = next((g for g in entry.get("gates", []) if g["name"] == "quality"), None)
                print(f"    waiting: {quality['detail'] if quality else 'no figures yet'}", flush=True)
                shown = time.monotonic()
            await asyncio.sleep(2)
        for gate in entry.get("gates", []):
            print(f"  {'pass' if gate['passed'] else 'FAIL'}  {gate['name']:<9} {gate['detail']}")
        if decision == "wait":
            print(f"==> not decided within {self.options.decide_within_s:.0f} s: the next run judges it again")
            return 0
        if decision == "approve":
            print(f"==> every gate passes; HELPSTREAM_LEARN=approve: `helpstream model promote {ref.model_id}`")
            return 0
        registry = control.registry
        if decision == "promote":
            changed = state.promote(registry, ref.model_id)
        else:
            changed = state.retire(registry, ref.model_id)
        await self._write(registry.revision, state.stamped(changed, OPERATOR, decided_at, verdict_figures(entry)))
        if decision == "give up":
            print(
                f"==> not shown better or worse on {entry['interleaved']} interleaved chats "
                f"(HELPSTREAM_LEARN_MAX_INTERLEAVED): retired, the next run tunes a candidate on more usage"
            )
        action = "retire" if decision == "give up" else decision
        print(f"==> registry revision {changed.revision}: {action} {ref.model_id}")
        return 0
