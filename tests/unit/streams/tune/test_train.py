"""Training batches: distinct items only (no false negatives), grouped by length, deterministic per seed."""

from __future__ import annotations

import random

import torch

from streams.tune.train import Recipe, batches, mixed

QUERIES = {f"item{i}": [f"{'word ' * (j % 7 + 1)}{i}-{j}" for j in range(10)] for i in range(12)}
LENGTHS = {q: len(q.split()) for texts in QUERIES.values() for q in texts}


def test_every_batch_holds_distinct_items_with_the_same_number_of_queries_each() -> None:
    recipe = Recipe(items_per_batch=5, per_item=2)
    epoch = batches(QUERIES, LENGTHS, recipe, random.Random(1))
    assert epoch
    for batch in epoch:
        labels = [label for label, _ in batch]
        assert len(labels) == len(set(labels)) <= 5
        assert all(len(group) == 2 for _, group in batch)
    seen = [q for batch in epoch for _, group in batch for q in group]
    assert len(seen) == len(set(seen))  # no query twice in one epoch
    assert len(seen) >= 0.8 * sum(map(len, QUERIES.values()))


def test_batches_group_similar_lengths_and_repeat_with_the_seed() -> None:
    recipe = Recipe(items_per_batch=4, per_item=2)
    epoch = batches(QUERIES, LENGTHS, recipe, random.Random(3))
    spread = [max(LENGTHS[q] for _, g in b for q in g) - min(LENGTHS[q] for _, g in b for q in g) for b in epoch]
    assert sum(spread) / len(spread) < 3  # random batches of these would spread over about 6 words
    assert epoch == batches(QUERIES, LENGTHS, recipe, random.Random(3))


def test_the_mix_lies_between_the_base_and_the_fine_tuned_weights() -> None:
    base = {"w": torch.zeros(2), "steps": torch.tensor([1])}
    tuned = {"w": torch.ones(2), "steps": torch.tensor([5])}
    out = mixed(base, tuned, 0.7)
    assert torch.allclose(out["w"], torch.full((2,), 0.7)) and out["steps"].item() == 5


def test_a_heavier_text_counts_for_more_of_the_loss() -> None:
    from streams.tune.train import supervised_contrastive

    # Texts 1-3 sit by their positives; text 0 sits by text 1, of another item, and far from its positive.
    embeddings = torch.nn.functional.normalize(torch.tensor([[0.0, 1.0], [0.1, 1.0], [0.0, 1.1], [1.0, 0.0]]), dim=-1)
    labels = torch.tensor([0, 1, 1, 0])
    plain = supervised_contrastive(embeddings, labels, 20.0)
    assert torch.allclose(supervised_contrastive(embeddings, labels, 20.0, torch.ones(4)), plain)
    wrong_heavier = supervised_contrastive(embeddings, labels, 20.0, torch.tensor([2.5, 0.5, 0.5, 0.5]))
    right_heavier = supervised_contrastive(embeddings, labels, 20.0, torch.tensor([0.5, 2.5, 0.5, 0.5]))
    assert wrong_heavier > plain > right_heavier
