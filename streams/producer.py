"""helpstream's Faust producer: idempotent where the settings ask for it.

faust-streaming turns on aiokafka's idempotence only inside a transaction (exactly-once processing), which
helpstream does not use; on a replicated cluster a send retried after a leader change could then be written
twice. This producer adds `enable_idempotence` from `App.producer_idempotence` and changes nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faust.transport.drivers import aiokafka as faust_aiokafka


class Producer(faust_aiokafka.Producer):
    def _settings_extra(self) -> Mapping[str, Any]:
        extra = dict(super()._settings_extra())
        if getattr(self.app, "producer_idempotence", False):
            extra.setdefault("enable_idempotence", True)
        return extra
