"""The worker's Faust producer is idempotent only where the settings say so (Tansu has no idempotent producer)."""

from __future__ import annotations

from streams.app import create_app
from streams.settings import Settings, isolated


async def test_the_workers_producer_is_idempotent_only_when_the_settings_ask_for_it() -> None:
    for wanted in (True, False):
        settings = Settings(broker="kafka://127.0.0.1:9092", producer_idempotence=wanted)  # type: ignore[call-arg]
        app = create_app(isolated(settings, f"idem{wanted}")).app
        producer = app.producer._new_producer()  # type: ignore[attr-defined]
        # aiokafka keeps a transaction manager (producer ids, sequence numbers) only for an idempotent producer.
        try:
            assert (producer._txn_manager is not None) is wanted
            assert producer.client._bootstrap_servers == ["127.0.0.1:9092"]
        finally:
            await producer.stop()
