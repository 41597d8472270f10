"""Customers' text with its personal data masked (`schemas.pii`): short texts at once, longer ones on a thread.

A chat's first message costs the patterns a fraction of a millisecond, less than a hop to a thread and back, which
under a flood of requests waits for a busy event loop; a long text can cost tens of milliseconds, which the loop
must not spend."""

from __future__ import annotations

import asyncio

from schemas.pii import mask

INLINE_CHARS = 500  # masked without a thread up to this many characters: a few milliseconds at the very worst


class Masker:
    """`shown` masks what people see (the console); `embedded` masks what the model embeds only when
    `embed_masked` (HELPSTREAM_EMBED_MASKED) is on. Dead letters are masked by `DeadLetter.of` itself."""

    def __init__(self, *, embed_masked: bool) -> None:
        self.embed_masked = embed_masked

    async def shown(self, texts: list[str]) -> list[str]:
        if sum(map(len, texts)) <= INLINE_CHARS:
            return _mask_all(texts)
        return await asyncio.to_thread(_mask_all, texts)

    async def embedded(self, texts: list[str]) -> list[str]:
        return await self.shown(texts) if self.embed_masked else texts


def _mask_all(texts: list[str]) -> list[str]:
    return [mask(text) for text in texts]
