"""Customers' text with its personal data masked (`schemas.pii`), on a thread: the patterns cost a fraction of a
millisecond per message, which the event loop must not spend."""

from __future__ import annotations

import asyncio

from schemas.pii import mask


class Masker:
    """`shown` masks what people see (the console); `embedded` masks what the model embeds only when
    `embed_masked` (HELPSTREAM_EMBED_MASKED) is on. Dead letters are masked by `DeadLetter.of` itself."""

    def __init__(self, *, embed_masked: bool) -> None:
        self.embed_masked = embed_masked

    async def shown(self, texts: list[str]) -> list[str]:
        return await asyncio.to_thread(_mask_all, texts) if texts else texts

    async def embedded(self, texts: list[str]) -> list[str]:
        return await self.shown(texts) if self.embed_masked else texts


def _mask_all(texts: list[str]) -> list[str]:
    return [mask(text) for text in texts]
