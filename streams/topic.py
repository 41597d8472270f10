"""helpstream's Faust topic: sends without three turns of the event loop per message.

Faust's `Topic.send` asks `App.maybe_start_producer` for the producer on every message, and that call is
stampede-protected (`mode.utils.futures.stampede`): it yields to the event loop three times even when the producer
has long been running. A batch of 60 recommendations gave up the loop 180 times before its last one was queued,
and in a burst that was the largest part of the event loop's own work. Once the producer runs, this topic uses it
directly; before that (and in a transaction, which helpstream does not use) it asks Faust as before.
"""

from __future__ import annotations

import faust
from faust.types import ProducerT


class Topic(faust.Topic):
    async def _get_producer(self) -> ProducerT:
        producer = self.app.producer
        if producer.started and not self.app.in_transaction:
            return producer
        return await super()._get_producer()
