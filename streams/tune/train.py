"""The training loop: supervised contrastive learning on batches of distinct items, on the CPU, then a
weight-space mix with the base model.

Random batches put queries of the same item side by side as each other's negatives, so the loss pushes true
matches apart: every batch here holds up to `items_per_batch` distinct items (all of them, on the demo) with
`per_item` queries each, and every other query of the same item in the batch is a positive. Batches are grouped
by length, so padding stays small (random batches of short queries pad to about three times their work).
Fine-tuning alone sharpens the items it was trained on but forgets some of what made the base model general;
averaging the weights of the two (Wortsman et al. 2022, "WiSE-FT") keeps most of both.
"""

from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from streams.tune.precision import Precision

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recipe:
    """How the encoder is trained. `precision` is the encoder's (the loss is always fp32): `helpstream tune` sets it
    for the CPU it runs on (`streams.tune.precision`); fp32, which is fast everywhere, otherwise."""

    epochs: float = 4.0
    items_per_batch: int = 77
    per_item: int = 2
    learning_rate: float = 1e-4
    warmup: float = 0.1
    weight_decay: float = 0.01
    scale: float = 20.0
    max_tokens: int = 64
    precision: Precision = "fp32"
    freeze_embeddings: bool = True
    max_steps: int | None = None  # caps the epochs on large data: a learning cycle's time stays bounded

    def describe(self) -> str:
        return (
            f"supervised contrastive loss, {self.epochs:g} epochs, batches of up to {self.items_per_batch} distinct "
            f"items x {self.per_item} queries, lr {self.learning_rate:g}, encoder in {self.precision}"
            + (f", at most {self.max_steps} steps" if self.max_steps is not None else "")
        )


RECIPE = Recipe()
MIXES = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)

Batch = list[tuple[int, list[str]]]


def batches(queries: dict[str, list[str]], lengths: dict[str, int], recipe: Recipe, rng: random.Random) -> list[Batch]:
    """One epoch: groups of `per_item` queries of one item, of similar length, packed into batches of distinct
    items, in random order."""
    groups: list[tuple[int, list[str], float]] = []
    for label, item in enumerate(sorted(queries)):
        texts = sorted(queries[item], key=lambda q: lengths[q] + 3 * rng.random())
        for start in range(0, len(texts) - recipe.per_item + 1, recipe.per_item):
            group = texts[start : start + recipe.per_item]
            groups.append((label, group, max(lengths[q] for q in group) + 3 * rng.random()))
    groups.sort(key=lambda g: g[2])
    out: list[Batch] = []
    pending = groups
    while pending:
        batch: Batch = []
        used: set[int] = set()
        rest = []
        for label, group, _ in pending:
            if len(batch) < recipe.items_per_batch and label not in used:
                batch.append((label, group))
                used.add(label)
            else:
                rest.append((label, group, 0.0))
        if len(batch) < min(len(queries), recipe.items_per_batch, max(8, recipe.items_per_batch // 4)):
            break  # too few distinct items left for a useful batch
        out.append(batch)
        pending = rest
    rng.shuffle(out)
    return out


def supervised_contrastive(
    embeddings: torch.Tensor, labels: torch.Tensor, scale: float, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Khosla et al. 2020: each text against all others in the batch, every same-item text a positive; each text's
    term scaled by its weight (weights averaging 1 over the data keep the learning rate's meaning)."""
    import torch

    similarity = embeddings @ embeddings.T * scale
    eye = torch.eye(len(labels), dtype=torch.bool)
    similarity = similarity.masked_fill(eye, -1e4)
    positives = (labels[:, None] == labels[None, :]) & ~eye
    log_p = similarity - torch.logsumexp(similarity, dim=1, keepdim=True)
    has = positives.any(dim=1)
    per_text = -(log_p * positives).sum(dim=1)[has] / positives.sum(dim=1)[has]
    return (per_text * weights[has]).mean() if weights is not None else per_text.mean()


def train(
    model: SentenceTransformer,
    queries: dict[str, list[str]],
    recipe: Recipe,
    seed: int,
    weights: dict[str, float] | None = None,
) -> None:
    """Fine-tunes `model` in place, each text weighed by `weights` (1 when absent); progress every 20 steps."""
    import torch
    import torch.nn.functional as F

    random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    rng = random.Random(seed)
    tokenizer = model.tokenizer
    lengths = {
        q: len(tokenizer(q, truncation=True, max_length=recipe.max_tokens)["input_ids"])
        for texts in queries.values()
        for q in texts
    }
    schedule: list[Batch] = []
    for _ in range(math.ceil(recipe.epochs)):
        schedule += batches(queries, lengths, recipe, rng)
    per_epoch = len(schedule) // math.ceil(recipe.epochs)
    total = max(1, round(per_epoch * recipe.epochs))
    if recipe.max_steps is not None:
        total = min(total, recipe.max_steps)
    schedule = schedule[:total]
    warmup = int(recipe.warmup * total)

    if recipe.freeze_embeddings:
        transformer: Any = model[0]
        for parameter in transformer.auto_model.embeddings.parameters():
            parameter.requires_grad = False
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for _, p in named if p.ndim >= 2], "weight_decay": recipe.weight_decay},
            {"params": [p for _, p in named if p.ndim < 2], "weight_decay": 0.0},
        ],
        lr=recipe.learning_rate,
    )
    max_tokens, model.max_seq_length = model.max_seq_length, recipe.max_tokens
    model.train()
    started = time.monotonic()
    for step, batch in enumerate(schedule):
        rate = recipe.learning_rate * (
            (step + 1) / max(1, warmup) if step < warmup else max(0.0, (total - step) / max(1, total - warmup))
        )
        for group in optimizer.param_groups:
            group["lr"] = rate
        texts = [q for _, group in batch for q in group]
        labels = torch.tensor([label for label, group in batch for _ in group])
        features = model.preprocess(texts)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=recipe.precision == "bf16"):
            encoded = model(features)["sentence_embedding"]
        # The loss in fp32: in bf16 the similarities round to a few bits and the loss with them.
        weighed = torch.tensor([weights.get(q, 1.0) for q in texts]) if weights else None
        loss = supervised_contrastive(F.normalize(encoded.float(), dim=-1), labels, recipe.scale, weighed)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_([p for _, p in named], 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step % 20 == 0 or step == total - 1:
            elapsed = time.monotonic() - started
            eta = elapsed / (step + 1) * (total - step - 1)
            print(
                f"    step {step + 1:>4}/{total}  loss {loss.item():.3f}  lr {rate:.1e}  "
                f"{elapsed:5.0f} s elapsed, ~{eta:.0f} s to go",
                flush=True,
            )
    model.max_seq_length = max_tokens
    model.eval()


def mixed(base: dict[str, torch.Tensor], tuned: dict[str, torch.Tensor], share: float) -> dict[str, torch.Tensor]:
    """The weights `share` of the way from the base model's to the fine-tuned model's."""
    return {
        name: (1 - share) * base[name] + share * weight if weight.is_floating_point() else weight
        for name, weight in tuned.items()
    }
