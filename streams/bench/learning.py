"""Learning from usage, simulated: a sparse CMS (a few example queries per saved response) serves a stream of
Banking77 training chats it has never seen; simulated agents use the right response when the model shows it in
its top three and find it by search otherwise; after each cycle `helpstream tune` learns from the example queries
and all the usage so far, and the model it writes (its weights and its usage memory) serves the next cycle. Printed
per cycle: top-1 / top-3 on the demo's held-out chats (never example queries, never in the stream), the usage it
learned from, its memory's size, the cycle's time, and the untrained model with a memory of the same usage. With
`against` (a model `helpstream tune` wrote from the full CMS: the target), each model is compared with it chat by
chat on the same held-out chats, with McNemar's exact test: is the shortfall more than the chats' sampling noise,
and, for the last cycle's model, where it lies: by how close each chat is to the full CMS's nearest example query.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson

from index.cpu import this_cpu
from index.encoder import Vectors
from index.models import model_dir
from index.usage_memory import model_memory
from schemas import ContentUpdated, UsageExample, encode
from schemas.pii import mask
from streams.bench.interleaving import rankings
from streams.clients.publish import read_content
from streams.clients.usage import first_per_chat
from streams.demo.datasets import demo_content
from streams.demo.sparse import sparse_cms
from streams.settings import Settings
from streams.tune.data import KIND, held_out_chats
from streams.tune.evaluate import Encode, Hits, hits, item_vectors, quality, torch_encode
from streams.tune.memory import usage_memory
from streams.tune.paired import Paired, paired
from streams.tune.run import CHATS, Memo, run_tune
from streams.tune.usage import usage_data

KEPT_OUT = 0.1  # of the usage, as `helpstream learn` keeps it out
MEMORY_SEEDS = 8  # k-means seeds each memory is made again with, to show how far its start moves the figures
# A held-out chat's band: the cosine of its nearest example query in the full CMS, by the untrained model.
BANDS = ((0.9, "a near-duplicate, >= 0.9"), (0.8, "alike, 0.8-0.9"), (-1.0, "phrased unlike any, < 0.8"))


@dataclass
class Cycle:
    name: str
    top1: float
    top3: float
    learned_from: int  # chats' usage the model learned from
    seconds: float  # from the cycle's first chat to the model written
    shown_right: float | None = None  # in the stream it served next: chats whose right response it showed
    memory_vectors: int = 0  # the usage memory the model carries
    frozen_memory_top1: float | None = None  # the base model, untrained, with a memory of the same usage


def served(model_path: str) -> tuple[Encode, dict[str, Vectors]]:
    """The model at `model_path` as a worker serves it: its encoder and its usage memory."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(model_path, device="cpu", local_files_only=True)
    return torch_encode(model), model_memory(Path(model_path), model.get_embedding_dimension() or 0, None)


def agents(
    model_path: str, content: list[ContentUpdated], chats: list[tuple[str, str]], start: int
) -> list[UsageExample]:
    """What simulated agents do with the model at `model_path` serving `chats`: use the right response at its rank
    when shown, else find it by search."""
    embed, memory = served(model_path)
    now = datetime.now(UTC)
    out = []
    shown_lists = rankings(embed, content, [t for t, _ in chats], memory)
    for i, ((text, item), shown) in enumerate(zip(chats, shown_lists, strict=True)):
        rank = shown.index(item) + 1 if item in shown else None
        out.append(
            UsageExample(
                chat_id=f"chat-{start + i}",
                text=text,
                content_id=item,
                source="recommended" if rank else "search",
                rank=rank,
                shown=shown,
                model=Path(model_path).name,
                candidate=None,
                at=now,
            )
        )
    return out


def learned_texts(usage: list[UsageExample], ids: set[str], seed: int) -> dict[str, list[str]]:
    """The chats' texts by saved response, as `tune` learns from them and makes its memory of them (its kept-out
    slice left out)."""
    return usage_data(first_per_chat(usage), ids, KEPT_OUT, seed).train


class FrozenWithMemory:
    """The base model, never trained, with a usage memory of the same usage: how much of a cycle's gain the memory
    alone gives, and how much the new weights add."""

    def __init__(self, base: str, content: list[ContentUpdated], seed: int) -> None:
        from sentence_transformers import SentenceTransformer

        self.embed = torch_encode(SentenceTransformer(base, device="cpu", local_files_only=True))
        self.content = content
        self.seed = seed
        self.ids = {c.content_id for c in content if c.op == "upsert" and c.kind == KIND}
        self.held_out = held_out_chats(self.ids)

    def top1(self, usage: list[UsageExample]) -> float:
        """Top-1 on the held-out chats with a memory of the usage learned from."""
        texts = learned_texts(usage, self.ids, self.seed)
        memory = usage_memory(self.embed, texts, self.seed, item_vectors(self.embed, self.content, KIND))
        return quality(self.embed, self.content, self.held_out, KIND, memory).top1


def nearest_example(embed: Encode, content: list[ContentUpdated], chats: list[tuple[str, str]]) -> list[float]:
    """Each chat's cosine to its nearest example query in `content`."""
    queries = [q for c in content if c.op == "upsert" and c.kind == KIND for q in c.example_queries]
    return [float(x) for x in (embed([t for t, _ in chats]) @ embed(queries).T).max(axis=1)]


Band = tuple[str, int, Paired | None, Paired | None]
Served = tuple[Encode, Hits]  # a model's encoder, and its hits on the held-out chats as it serves


def by_band(nearest: list[float], this: Hits, that: Hits) -> list[Band]:
    """Per band of `BANDS` (by `nearest`): its chats, and on them top-1's and top-3's chats only `this` gets right
    and only `that` does (None for a band without chats)."""
    out: list[Band] = []
    upper = np.inf
    for low, name in BANDS:
        picked = [i for i, cosine in enumerate(nearest) if low <= cosine < upper]
        upper = low
        if not picked:
            out.append((name, 0, None, None))
            continue
        first = paired([this.first[i] for i in picked], [that.first[i] for i in picked])
        three = paired([this.three[i] for i in picked], [that.three[i] for i in picked])
        out.append((name, len(picked), first, three))
    return out


def _print_bands(name: str, bands: list[Band]) -> list[dict[str, object]]:
    print(f"\n  where {name} and the full CMS differ, by each chat's nearest example query in the full CMS:")
    print(
        f"  {'nearest example query':<28} {'chats':>6} {'top-1: only this / only full CMS':>34} {'top-3: the same':>17}"
    )
    rows: list[dict[str, object]] = []
    for band, chats, first, three in bands:
        top1 = f"{first.only_this} / {first.only_that}" if first else "-"
        top3 = f"{three.only_this} / {three.only_that}" if three else "-"
        print(f"  {band:<28} {chats:>6} {top1:>34} {top3:>17}")
        rows.append(
            {
                "band": band,
                "chats": chats,
                "top1": [first.only_this, first.only_that] if first else None,
                "top3": [three.only_this, three.only_that] if three else None,
            }
        )
    return rows


def compare(
    against: Path,
    sparse: list[ContentUpdated],
    chats: list[tuple[str, str]],
    models: list[tuple[str, str]],
    untrained: Encode,
    texts: dict[str, list[str]],
    seed: int,
) -> dict[str, object]:
    """Each of `models` (name, path), serving the sparse CMS, against the model at `against` serving the full CMS,
    chat by chat on the held-out `chats`; printed as a table, then the last model's differences by band, each
    model's weights with each index, the memory's spread over k-means seeds (`texts`: the chats the last model
    learned from), and the last model against the full CMS's under the same rule for their index."""
    full = read_content(demo_content())
    # Memoised: the rows below embed the same content, chats and example queries again with the same encoders.
    full_encoder, memory = served(str(against))
    full_embed = Memo(full_encoder)
    target = hits(full_embed, full, chats, KIND, memory)
    overall = target.quality()
    print(
        f"\nagainst {against} (the full CMS), chat by chat on the same {overall.queries} held-out chats: "
        f"{overall.top1:.2%} / {overall.top3:.2%}"
    )
    header = f"{'difference (95%)':>28} {'only this / only full CMS':>26} {'p':>7}"
    print(f"  {'':<22} {'top-1':^63}   {'top-3':^63}")
    print(f"  {'model':<22} {header}   {header}")
    rows: list[dict[str, object]] = []
    last: tuple[str, Encode, Hits] | None = None
    for name, path in models:
        encoder, memory = served(path)
        embed = Memo(encoder)
        mine = hits(embed, sparse, chats, KIND, memory)
        last = (name, embed, mine)
        row: dict[str, object] = {"model": name}
        cells = []
        for figure, this, that in (("top1", mine.first, target.first), ("top3", mine.three, target.three)):
            result = paired(this, that)
            low, high = result.interval
            row[figure] = {
                "difference": result.difference,
                "interval": [low, high],
                "only_this": result.only_this,
                "only_against": result.only_that,
                "p": result.p,
            }
            interval = f"{result.difference:+.2%} ({low:+.2%}, {high:+.2%})"
            cells.append(f"{interval:>28} {f'{result.only_this} / {result.only_that}':>26} {result.p:7.3f}")
        print(f"  {name:<22} {cells[0]}   {cells[1]}")
        rows.append(row)
    print("  only this / only full CMS: held-out chats only this model gets right / only the full CMS's gets right;")
    print("  p: McNemar's exact test (two-sided), the chance of a split at least this uneven between models equally")
    print("  good on such chats; it covers the held-out chats' sampling, not a training run's spread")
    if last is None:
        raise ValueError("compare: no model to compare")
    bands = _print_bands(last[0], by_band(nearest_example(untrained, full, chats), last[2], target))
    print("  the cosine by the untrained model; the full CMS's example queries hold the sparse CMS's and the stream's")
    others = other_queries(full, sparse)
    indexes = by_index(last, (full_embed, target), full, others, sparse, chats, seed)
    starts = by_start(last[0], last[1], full_embed, texts, others, sparse, chats)
    return {"paired": rows, "by_nearest_example": bands, "weights_by_index": indexes, "memory_by_seed": starts}


def other_queries(full: list[ContentUpdated], sparse: list[ContentUpdated]) -> dict[str, list[str]]:
    """Each saved response's example queries in the full CMS that the sparse CMS does not hold."""
    kept = {c.content_id: set(c.example_queries) for c in sparse}
    return {
        c.content_id: [q for q in c.example_queries if q not in kept.get(c.content_id, set())]
        for c in full
        if c.op == "upsert" and c.kind == KIND
    }


def by_start(
    name: str,
    embed: Encode,
    full_embed: Encode,
    texts: dict[str, list[str]],
    others: dict[str, list[str]],
    sparse: list[ContentUpdated],
    chats: list[tuple[str, str]],
) -> dict[str, object]:
    """The sparse CMS with a usage memory made again from the same texts with `MEMORY_SEEDS` k-means seeds, as `tune`
    makes it and as the means alone, unsharpened: the last model's (`texts`: the chats it learned from) and the full
    CMS tuned's (`others`). How far the memory's start alone moves the figures, what sharpening adds, and the two
    models compared chat by chat under the same rule for their index (both memories sharpened, made with the same
    k-means seed). `name`, `embed`: the last model's; both encoders memoised, as `compare` passes them."""
    seeds = list(range(1, MEMORY_SEEDS + 1))
    print(
        f"\n  each memory made again with k-means seeds {seeds[0]}-{seeds[-1]} (the last model's of the chats it "
        "learned from, the full CMS tuned's of its other example queries), top-1 / top-3:"
    )
    print(f"  {'weights':<28} {'memory':<12} {'mean':>17} {'sd':>13} {'lowest':>17} {'highest':>17}")
    rows: list[dict[str, object]] = []
    sharp_hits: dict[str, list[Hits]] = {}
    for weights, encoder, memory_texts in ((name, embed, texts), ("the full CMS tuned", full_embed, others)):
        own = item_vectors(encoder, sparse, KIND)
        for sharpen in (True, False):
            made = [
                hits(encoder, sparse, chats, KIND, usage_memory(encoder, memory_texts, seed, own if sharpen else None))
                for seed in seeds
            ]
            if sharpen:
                sharp_hits[weights] = made
            runs = np.array([[q.top1, q.top3] for q in (h.quality() for h in made)])
            mean, sd, low, high = runs.mean(axis=0), runs.std(axis=0), runs.min(axis=0), runs.max(axis=0)
            cells = [f"{a:.2%} / {b:.2%}" for a, b in (mean, low, high)]
            memory = "sharpened" if sharpen else "means only"
            print(
                f"  {weights:<28} {memory:<12} {cells[0]:>17} {f'{sd[0]:.2%} / {sd[1]:.2%}':>13} {cells[1]:>17} "
                f"{cells[2]:>17}"
            )
            rows.append(
                {
                    "weights": weights,
                    "sharpened": sharpen,
                    "seeds": seeds,
                    "top1": runs[:, 0].tolist(),
                    "top3": runs[:, 1].tolist(),
                }
            )
    print("  sd: over the seeds, how far the memory's start alone moves the figures of the same weights and texts;")
    print("  sharpened: as `tune` makes it; means only: the k-means means as they are, before sharpening")
    return {"rows": rows, "same_rule": same_rule(sharp_hits[name], sharp_hits["the full CMS tuned"])}


def same_rule(learned: list[Hits], full: list[Hits]) -> dict[str, object]:
    """The last model against the full CMS tuned, both with sharpened memories of the same k-means seed: chat by
    chat, seed by seed (McNemar's exact test), printed as each figure's mean difference and its p over the seeds."""
    out: dict[str, object] = {}
    cells = []
    for figure in ("first", "three"):
        results = [paired(getattr(a, figure), getattr(b, figure)) for a, b in zip(learned, full, strict=True)]
        ps = sorted(r.p for r in results)
        out["top1" if figure == "first" else "top3"] = [
            {"only_this": r.only_this, "only_against": r.only_that, "p": r.p} for r in results
        ]
        difference = float(np.mean([r.difference for r in results]))
        cells.append(f"{difference:+.2%}, p {float(np.median(ps)):.2f} ({ps[0]:.2f}-{ps[-1]:.2f})")
    print("  the last model against the full CMS tuned under the same rule (both sharpened, the same k-means seed),")
    print(f"  chat by chat: top-1 {cells[0]}; top-3 {cells[1]}")
    print("  (mean difference over the seeds; McNemar's p: median, and lowest-highest over the seeds)")
    return out


def by_index(
    last: tuple[str, Encode, Hits],
    against: Served,
    full: list[ContentUpdated],
    others: dict[str, list[str]],
    sparse: list[ContentUpdated],
    chats: list[tuple[str, str]],
    seed: int,
) -> list[dict[str, object]]:
    """The last model's weights and the full CMS's, each with each index: the sparse CMS with a usage memory (the
    full CMS's: its other example queries held as the memory holds chats, sharpened means), and the full CMS's
    example queries as they are. Tells the weights' share of the gap from the index's. `last`: the last model's name,
    encoder and hits with the sparse CMS and its memory; `against`: the full CMS model's encoder and hits."""
    print("\n  each model's weights with each index, top-1 / top-3 on the same held-out chats:")
    print(f"  {'weights':<28} {'sparse CMS + usage memory':>28} {'full CMS example queries':>26}")
    name, embed, mine = last
    full_embed, target = against
    rows: list[dict[str, object]] = []
    for weights, figures in (
        # The learned model's memory is of chats the full CMS holds as example queries: not added to them twice.
        (name, {"sparse_memory": mine.quality(), "full": quality(embed, full, chats, KIND)}),
        (
            "the full CMS tuned",
            {
                "sparse_memory": quality(
                    full_embed,
                    sparse,
                    chats,
                    KIND,
                    usage_memory(full_embed, others, seed, item_vectors(full_embed, sparse, KIND)),
                ),
                "full": target.quality(),
            },
        ),
    ):
        cells = [f"{q.top1:.2%} / {q.top3:.2%}" for q in figures.values()]
        print(f"  {weights:<28} {cells[0]:>28} {cells[1]:>26}")
        rows.append({"weights": weights, **{k: [q.top1, q.top3] for k, q in figures.items()}})
    print("  the full CMS tuned with the sparse CMS: its other example queries as a usage memory, as tune makes one")
    return rows


def run_learning(
    settings: Settings,
    *,
    cycles: int,
    per_cycle: int,
    max_steps: int,
    seed: int,
    out: Path,
    warm: bool,
    against: Path | None = None,
) -> int:
    """`warm`: each cycle tunes the model the previous one wrote (as `helpstream learn` does), else the base model.
    `against`: a model tuned on the full CMS, each cycle's model compared with it chat by chat."""
    cpu = this_cpu()
    base = str(model_dir(settings.model_policy().allowed("minilm-l6"), settings.data_dir / "models"))
    sparse = sparse_cms(5, seed)
    stream = [(mask(c.text), c.intent) for c in sparse.unseen if c.intent is not None]
    if against is not None and not (against / "modules.json").is_file():
        print(f"helpstream bench: --against {against} is not a model directory `helpstream tune` wrote")
        return 2
    if len(stream) < cycles * per_cycle:
        print(f"helpstream bench: {len(stream)} unseen chats, fewer than {cycles} cycles of {per_cycle}")
        return 2
    print(f"machine: {cpu.describe()}")
    print(
        f"sparse CMS: {len(sparse.content)} items, 5 example queries per saved response (seed {seed}); "
        f"{cycles} cycles of {per_cycle:,} unseen Banking77 training chats; tune capped at {max_steps} steps, "
        f"from {'the model the cycle before wrote' if warm else 'the base model'} every cycle",
        flush=True,
    )
    out.mkdir(parents=True, exist_ok=True)
    # Under the data directory: the models each cycle writes are ones this process may load.
    (settings.data_dir / "bench").mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="learning-", dir=settings.data_dir / "bench"))
    content_file = work / "content.jsonl"
    content_file.write_bytes(b"".join(encode(c) + b"\n" for c in sparse.content))
    usage: list[UsageExample] = []
    serving = base
    untrained = FrozenWithMemory(base, sparse.content, seed)
    rows: list[Cycle] = []
    models = [("sparse CMS, frozen", base)]
    for cycle in range(1, cycles + 1):
        started = time.monotonic()
        chats = stream[(cycle - 1) * per_cycle : cycle * per_cycle]
        print(f"==> cycle {cycle}: {Path(serving).name} serves {len(chats):,} chats; simulated agents", flush=True)
        seen = agents(serving, sparse.content, chats, len(usage))
        usage += seen
        shown_right = sum(e.source == "recommended" for e in seen) / len(seen)
        print(f"    the right response shown on {shown_right:.1%}; the rest found by search", flush=True)
        if rows:
            rows[-1].shown_right = shown_right
        usage_file = work / f"usage-{cycle}.jsonl"
        usage_file.write_bytes(b"".join(encode(e) + b"\n" for e in usage))
        learned = work / f"learned-{cycle}"
        code = run_tune(
            settings,
            base=serving if warm and cycle > 1 else "minilm-l6",
            out=learned,
            content_path=content_file,
            chats_path=None,
            seed=seed,
            kept_out=KEPT_OUT,
            epochs=None,
            precision="auto",
            trainings=1,
            usage_path=usage_file,
            max_steps=max_steps,
        )
        if code:
            return code
        report = orjson.loads((learned / "helpstream-tune.json").read_bytes())
        elapsed = time.monotonic() - started
        print("    the base model, untrained, with a usage memory of the same chats", flush=True)
        frozen_memory = untrained.top1(usage)
        if cycle == 1:
            frozen = report["before"][CHATS]
            rows.append(Cycle("sparse CMS, frozen", frozen["top1"], frozen["top3"], 0, 0.0, shown_right))
        after = report["written_model"][CHATS]
        rows.append(
            Cycle(
                f"after cycle {cycle}",
                after["top1"],
                after["top3"],
                len(usage),
                elapsed,
                memory_vectors=report["memory"]["vectors"],
                frozen_memory_top1=frozen_memory,
            )
        )
        serving = str(learned)
        models.append((f"after cycle {cycle}", serving))
    print(f"\nlearning from usage on {cpu.describe()}: the demo's held-out chats")
    print(
        f"  {'model':<22} {'top-1':>7} {'top-3':>7} {'usage learned':>14} {'memory':>7} {'cycle time':>11} "
        f"{'shown live':>11} {'untrained + memory':>19}"
    )
    for row in rows:
        spent = f"{row.seconds / 60:.1f} min" if row.seconds else "-"
        live = f"{row.shown_right:.1%}" if row.shown_right is not None else "-"
        ablation = f"{row.frozen_memory_top1:.2%}" if row.frozen_memory_top1 is not None else "-"
        print(
            f"  {row.name:<22} {row.top1:7.2%} {row.top3:7.2%} {row.learned_from:>14,} {row.memory_vectors:>7,} "
            f"{spent:>11} {live:>11} {ablation:>19}"
        )
    print("  memory: the usage memory's vectors; untrained + memory: top-1 of the base model with a memory of the same")
    print("  usage, no training (what the memory alone gives)")
    result: dict[str, object] = {"machine": cpu.as_dict(), "cycles": [r.__dict__ for r in rows]}
    if against is not None:
        result["against"] = {
            "model": str(against),
            **compare(
                against,
                sparse.content,
                untrained.held_out,
                models,
                untrained.embed,
                learned_texts(usage, untrained.ids, seed),
                seed,
            ),
        }
    (out / "learning.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print(f"wrote {out / 'learning.json'}")
    return 0
