"""Learning from usage, simulated: a sparse CMS (a few example queries per saved response) serves a stream of
Banking77 training chats it has never seen; simulated agents use the right response when the model shows it in
its top three and find it by search otherwise; after each cycle `helpstream tune` learns from the example queries
and all the usage so far, and the model it writes serves the next cycle. Printed per cycle: top-1 / top-3 on the
demo's held-out chats (never example queries, never in the stream), the usage it learned from, the cycle's time.
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
from schemas import ContentUpdated, UsageExample, encode
from schemas.pii import mask
from streams.bench.interleaving import rankings
from streams.demo.sparse import sparse_cms
from streams.settings import Settings
from streams.tune.run import CHATS, run_tune


@dataclass
class Cycle:
    name: str
    top1: float
    top3: float
    learned_from: int  # chats' usage the model learned from
    seconds: float  # from the cycle's first chat to the model written
    shown_right: float | None = None  # in the stream it served next: chats whose right response it showed


def agents(
    model_path: str, content: list[ContentUpdated], chats: list[tuple[str, str]], start: int
) -> list[UsageExample]:
    """What simulated agents do with the model at `model_path` serving `chats`: use the right response at its rank
    when shown, else find it by search."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(model_path, device="cpu", local_files_only=True)

    def embed(texts: list[str]) -> Vectors:
        return np.asarray(
            model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False), dtype=np.float32
        )

    now = datetime.now(UTC)
    out = []
    for i, ((text, item), shown) in enumerate(zip(chats, rankings(embed, content, [t for t, _ in chats]), strict=True)):
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


def run_learning(
    settings: Settings, *, cycles: int, per_cycle: int, max_steps: int, seed: int, out: Path, warm: bool
) -> int:
    """`warm`: each cycle tunes the model the previous one wrote (as `helpstream learn` does), else the base model."""
    cpu = this_cpu()
    base = str(model_dir(settings.model_policy().allowed("minilm-l6"), settings.data_dir / "models"))
    sparse = sparse_cms(5, seed)
    stream = [(mask(c.text), c.intent) for c in sparse.unseen if c.intent is not None]
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
    rows: list[Cycle] = []
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
            kept_out=0.1,
            epochs=None,
            precision="auto",
            trainings=1,
            usage_path=usage_file,
            max_steps=max_steps,
        )
        if code:
            return code
        report = orjson.loads((learned / "helpstream-tune.json").read_bytes())
        if cycle == 1:
            frozen = report["before"][CHATS]
            rows.append(Cycle("sparse CMS, frozen", frozen["top1"], frozen["top3"], 0, 0.0, shown_right))
        after = report["written_model"][CHATS]
        elapsed = time.monotonic() - started
        rows.append(Cycle(f"after cycle {cycle}", after["top1"], after["top3"], len(usage), elapsed))
        serving = str(learned)
    print(f"\nlearning from usage on {cpu.describe()}: the demo's held-out chats")
    print(f"  {'model':<22} {'top-1':>7} {'top-3':>7} {'usage learned':>14} {'cycle time':>11} {'shown live':>11}")
    for row in rows:
        spent = f"{row.seconds / 60:.1f} min" if row.seconds else "-"
        live = f"{row.shown_right:.1%}" if row.shown_right is not None else "-"
        print(f"  {row.name:<22} {row.top1:7.2%} {row.top3:7.2%} {row.learned_from:>14,} {spent:>11} {live:>11}")
    (out / "learning.json").write_bytes(
        orjson.dumps({"machine": cpu.as_dict(), "cycles": [r.__dict__ for r in rows]}, option=orjson.OPT_INDENT_2)
    )
    print(f"wrote {out / 'learning.json'}")
    return 0
