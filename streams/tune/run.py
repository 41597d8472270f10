"""Runs `helpstream tune`: figures before; training on the example queries and agents' usage without their
kept-out slices, whose figures choose the mix with the base model (the usage slice when there is one: real
chats); where training is cheap (native bf16), training again the same way on every text and averaging the two
fine-tunes; the result mixed with the base; figures after, and a model directory `HELPSTREAM_MODEL` takes."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

from index.cpu import this_cpu
from index.encoder import Vectors
from index.models import ModelUnavailable, model_dir, resolve
from index.usage_memory import model_memory, write_memory
from schemas import ContentUpdated, UsageExample, decode
from streams.clients.publish import read_content
from streams.clients.usage import first_per_chat
from streams.demo.datasets import demo_content
from streams.settings import Settings
from streams.tune.data import KIND, held_out_chats, split, without_kept_out
from streams.tune.evaluate import Encode, Quality, item_vectors, quality, torch_encode
from streams.tune.memory import usage_memory
from streams.tune.precision import Requested, choose
from streams.tune.precision import trainings as planned_trainings
from streams.tune.train import MIXES, RECIPE, mixed, train
from streams.tune.usage import MAX_WEIGHT, merged, usage_data

SLICE = "kept-out example queries"
USAGE = "kept-out usage"
CHATS = "held-out chats"


def stage(text: str) -> None:
    print(f"==> {text}", flush=True)


class Memo:
    """Encodes each distinct text once per model state: the kept-out and held-out figures share the content."""

    def __init__(self, encode: Encode) -> None:
        self._encode = encode
        self._vectors: dict[str, np.ndarray] = {}

    def __call__(self, texts: list[str]) -> Vectors:
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            self._vectors.update(zip(missing, self._encode(missing), strict=True))
        return np.stack([self._vectors[t] for t in texts]).astype(np.float32)


@dataclass(frozen=True)
class Evaluation:
    """The query sets a model state is judged on: `reduced` is the content without the kept-out example queries."""

    content: list[ContentUpdated]
    reduced: list[ContentUpdated]
    slice: list[tuple[str, str]]
    usage: list[tuple[str, str]]
    chats: list[tuple[str, str]]

    def figures(
        self, encode: Encode, *, chats: bool = True, memory: Mapping[str, Vectors] | None = None
    ) -> dict[str, Quality]:
        """Top-1 / top-3 on each non-empty set, the model's usage memory in its index; the held-out chats (the
        largest) only when `chats`."""
        memo = Memo(encode)
        out: dict[str, Quality] = {}
        if self.slice:
            out[SLICE] = quality(memo, self.reduced, self.slice, KIND, memory)
        if self.usage:
            out[USAGE] = quality(memo, self.content, self.usage, KIND, memory)
        if chats and self.chats:
            out[CHATS] = quality(memo, self.content, self.chats, KIND, memory)
        return out

    def chooser(self) -> str | None:
        """The set the mix is chosen on: real chats kept out when there are any, else the example queries'."""
        return USAGE if self.usage else SLICE if self.slice else None


def read_usage_file(path: Path) -> list[UsageExample]:
    with path.open("rb") as f:
        return first_per_chat([decode(UsageExample, line) for line in f if line.strip()])


def run_tune(
    settings: Settings,
    *,
    base: str,
    out: Path,
    content_path: Path | None,
    chats_path: Path | None,
    seed: int,
    kept_out: float,
    epochs: float | None,
    precision: Requested = "auto",
    trainings: int | None = None,
    usage_path: Path | None = None,
    max_steps: int | None = None,
) -> int:
    import torch
    from sentence_transformers import SentenceTransformer

    try:
        source = model_dir(settings.model_policy().allowed(base), settings.data_dir / "models")
    except ModelUnavailable as exc:
        print(f"helpstream tune: {base}: {exc}")
        return 2
    cpu = this_cpu()
    choice = choose(cpu, precision)
    print(f"machine: {cpu.describe()}; flags: {' '.join(cpu.flags) or 'unknown'}")
    print(f"precision {choice.describe()}", flush=True)
    runs = planned_trainings(choice.precision, trainings)
    second = "and again on every query, the two averaged" if runs == 2 else "once (--trainings 2 to train again)"
    print(f"trainings: {runs}: on the texts outside the kept-out slices, {second}", flush=True)
    run_started = time.monotonic()
    torch.set_num_threads(settings.inference_threads)
    content = read_content(content_path or demo_content())
    ids = {c.content_id for c in content if c.op == "upsert" and c.kind == KIND}
    chats = held_out_chats(ids, chats_path)
    data = split(content, kept_out, seed)
    used = usage_data(read_usage_file(usage_path) if usage_path else [], ids, kept_out, seed)
    queries, weights = merged(data.train, used)
    judged = Evaluation(content, without_kept_out(content, data), data.kept_out_queries(), used.kept_out, chats)
    recipe = dataclasses.replace(
        RECIPE,
        precision=choice.precision,
        epochs=RECIPE.epochs if epochs is None else epochs,
        max_steps=max_steps,
    )
    n_train = sum(map(len, data.train.values()))
    stage(
        f"{base}: {len(data.train)} saved responses, {n_train:,} example queries to learn from, "
        f"{len(data.kept_out_queries()):,} kept out (seed {seed}); {len(chats)} held-out chats to report on"
    )
    if usage_path is not None:
        looked = ", ".join(f"{rank}: {share:.2f}" for rank, share in used.examination.items()) or "none used"
        stage(
            f"usage: {used.texts():,} chats' texts to learn from, {len(used.kept_out):,} kept out; agents look as far "
            f"as rank r (relative to rank 1): {looked}; a response found by search weighs {MAX_WEIGHT:g}"
        )
    model = SentenceTransformer(str(source), device="cpu", local_files_only=True)

    encode = torch_encode(model)
    # A learned model tuned again brings the memory it learned with: "before" is that model as it serves.
    base_memory = model_memory(source, model.get_embedding_dimension() or 0, None)
    stage("quality before" + (f" (with its usage memory of {len(base_memory)} saved responses)" if base_memory else ""))
    before = judged.figures(encode, memory=base_memory)
    for name, q in before.items():
        print(f"    {name:<26} {q}")
    stage(f"training: {recipe.describe()}")
    base_weights = {name: weight.clone() for name, weight in model.state_dict().items()}
    started = time.monotonic()
    train(model, queries, recipe, seed, weights)
    train_s = time.monotonic() - started
    tuned_weights = {name: weight.clone() for name, weight in model.state_dict().items()}
    chooser = judged.chooser()
    by_share: dict[float, dict[str, Quality]] = {}
    if chooser is None:
        chosen = 1.0
        stage(f"trained in {train_s:.0f} s; nothing kept out to choose a mix on: the fine-tune as it is")
    else:
        stage(f"trained in {train_s:.0f} s; mixing with the base weights, chosen on the {chooser}' top-3, top-1")
        for share in MIXES:
            model.load_state_dict(mixed(base_weights, tuned_weights, share))
            by_share[share] = judged.figures(encode, chats=False)
            shown = "   ".join(f"{name}: {q.top1:.2%} / {q.top3:.2%}" for name, q in by_share[share].items())
            print(f"    {share:.0%} fine-tuned   {shown}", flush=True)
        chosen = max(MIXES, key=lambda share: (by_share[share][chooser].top3, by_share[share][chooser].top1))
    refit_s = 0.0
    if runs == 2:
        stage(f"{chosen:.0%} fine-tuned chosen; training again, the same way, on every text (the slices too)")
        model.load_state_dict(base_weights)
        started = time.monotonic()
        every_text, every_weight = merged(data.every_query(), dataclasses.replace(used, train=used.every_text()))
        train(model, every_text, recipe, seed, every_weight)
        refit_s = time.monotonic() - started
        # Two fine-tunes from one start, on different data and batch orders: their average (a "model soup")
        # varies less than either, and the run has trained both anyway.
        tuned_weights = mixed(tuned_weights, model.state_dict(), 0.5)
        stage(f"the model written: the two fine-tunes averaged, {chosen:.0%} of the way from the base weights")
    else:
        stage(f"the model written: the fine-tune, {chosen:.0%} of the way from the base weights")
    model.load_state_dict(mixed(base_weights, tuned_weights, chosen))
    # The memory and the figures below embed the content with the written weights: once.
    written = Memo(encode)
    # The mix is chosen without it: a memory per share would embed every chat once per share.
    memory = usage_memory(written, used.train, seed, item_vectors(written, content, KIND))
    if memory:
        vectors = sum(len(rows) for rows in memory.values())
        stage(
            f"usage memory: {vectors:,} vectors for {len(memory)} saved responses, "
            "each a mean of chats agents answered with it, sharpened against the other responses"
        )
    elif base_memory:
        stage("the base's usage memory is not carried over (the base's weights made it): --usage makes one for these")
    final = judged.figures(written, memory=memory)
    out.mkdir(parents=True, exist_ok=True)
    model.save(str(out))
    if memory:
        write_memory(out, memory)
    report = {
        "base": base,
        "seed": seed,
        "kept_out": kept_out,
        "recipe": recipe.__dict__,
        "precision": choice.precision,
        "precision_reason": choice.reason,
        "trainings": runs,
        "machine": cpu.as_dict(),
        "usage": {
            "chats": used.texts(),
            "kept_out": len(used.kept_out),
            "examination": {str(rank): share for rank, share in used.examination.items()},
        },
        "memory": {"items": len(memory), "vectors": sum(len(rows) for rows in memory.values())},
        "train_seconds": round(train_s + refit_s, 1),
        "fine_tuned_share": chosen,
        "before": {k: q.__dict__ for k, q in before.items()},
        "written_model": {k: q.__dict__ for k, q in final.items()},
        "by_share": {str(share): {k: q.__dict__ for k, q in f.items()} for share, f in by_share.items()},
        "seconds": round(time.monotonic() - run_started, 1),
    }
    (out / "helpstream-tune.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    stage(f"summary: {chosen:.0%} fine-tuned, {1 - chosen:.0%} base")
    label = {SLICE: f"{SLICE}, trained without them"}
    rows = [(label.get(name, name), before[name], q) for name, q in final.items() if name in before]
    width = max([len(name) for name, _, _ in rows] + [13])
    print(f"    {'':<{width}} {'top-1 before → after':<24} top-3 before → after")
    for name, b, a in rows:
        print(
            f"    {name:<{width}} {b.top1:6.2%} → {a.top1:6.2%}{'':8} {b.top3:6.2%} → {a.top3:6.2%}"
            f"   ({a.queries} queries)"
        )
    trained = f"{train_s + refit_s:.0f} s" + (f" ({train_s:.0f} s + {refit_s:.0f} s)" if runs == 2 else "")
    threads = f"{settings.inference_threads} threads, encoder in {recipe.precision}"
    print(f"    {'training time':<{width}} {trained} on {threads}")
    print(f"    {'whole run':<{width}} {time.monotonic() - run_started:.0f} s")
    print(f"wrote {out} (use it: HELPSTREAM_MODEL={out}; id {resolve(str(out)).name})")
    print(f"to serve it without torch: helpstream model export {out} --out DIR, then HELPSTREAM_MODEL=DIR")
    return 0
