"""The app's flow control: resuming a flow that is already flowing keeps the events in the agents' queues.

Faust's `FlowControlEvent.resume` clears every agent's queue, whether or not the flow was suspended. A rebalance
suspends the flow and clears the queues once; recovery then resumes it at each of its steps (changelogs, standbys,
stream partitions), the last time after the stream partitions were sought to their committed offsets and were
already being read. An event the consumer handed to an agent's queue between that seek and that resume was thrown
away: never handed to the agent, never acked, and never read again, since no seek followed. Commits of its
partition stopped just before it until the consumer's watchdog read the partition again. Upstream: faust-streaming
#596 (open: recovery clears the queues and leaves gaps in the acked offsets that block committing).

Here only a resume that ends a suspension clears the queues: what was queued while suspended belongs to a group
generation that is over (and the stream skips it anyway). A resume while flowing changes nothing: what is queued
then belongs to the current generation. An event queued before recovery's seek is handled, and fetched again by
the seek: a duplicate, never a gap. The tables' changelog queues keep their events the same way (recovery skips
an offset it has already applied).
"""

from __future__ import annotations

from mode.utils.queues import FlowControlEvent


class FlowControl(FlowControlEvent):
    def resume(self) -> None:
        if self.is_active():
            return
        super().resume()
