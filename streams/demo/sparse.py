"""A sparse CMS: the demo's content with a few example queries per saved response, as a real CMS has them. The
queries left out are Banking77 training chats a deployment would see (never the held-out demo chats)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from schemas import ContentUpdated
from streams.clients.publish import LabelledChat, read_content
from streams.demo.datasets import demo_content


@dataclass(frozen=True)
class SparseCms:
    content: list[ContentUpdated]
    unseen: list[LabelledChat]  # the example queries left out, labelled with their saved response


def sparse_cms(per_item: int, seed: int) -> SparseCms:
    """Each item keeps `per_item` of its example queries, chosen by `seed`; the same seed gives the same CMS."""
    rng = random.Random(seed)
    content: list[ContentUpdated] = []
    unseen: list[LabelledChat] = []
    for item in read_content(demo_content()):
        queries = list(item.example_queries)
        rng.shuffle(queries)
        content.append(item.model_copy(update={"example_queries": queries[:per_item]}))
        if item.kind == "saved_response":
            unseen.extend(LabelledChat(text, item.content_id) for text in queries[per_item:])
    rng.shuffle(unseen)
    return SparseCms(content, unseen)
