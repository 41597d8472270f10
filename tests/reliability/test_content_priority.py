"""A CMS edit or delete sent right behind a bulk import is searchable within seconds, not after the import, while
chats flow; every chat is accounted for and the import ends complete."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from streams.local.redis_server import RunningRedis
from streams.local.worker import WorkerProcess
from streams.settings import Settings
from tests.fixtures import INDEXED_S, READY_S, Workers
from tests.integration.clients import demo_items, produce_json, publish_demo_content, search
from tests.reliability.harness import EditProbe, Outcomes, Traffic
from tests.services import redis_server, wait_until

# The export's last item, a help article: deleted right behind the import that brings it.
DELETED, DELETED_QUERY = "help_top_up", "Topping up your account"


@pytest.fixture
def cold_redis(tmp_path: Path) -> Iterator[RunningRedis]:
    """An empty embedding cache: the import costs the model its full work, as a first import does."""
    with redis_server(tmp_path) as running:
        yield running


def test_an_edit_and_a_delete_behind_a_bulk_import_go_ahead_of_it(
    make_settings: Callable[..., Settings],
    workers: Workers,
    cold_redis: RunningRedis,
    figures: list[tuple[str, str]],
) -> None:
    settings = make_settings(redis_url=cold_redis.url)
    worker = workers.start(settings, "bulk-import")
    worker.wait_ready(READY_S)
    with Outcomes(settings) as outcomes:
        traffic = Traffic(settings, f"bulk-{uuid.uuid4().hex[:4]}", rate=10).start()
        time.sleep(2)
        imported_at = time.monotonic()
        publish_demo_content(settings)  # the whole export, thousands of texts for the model
        probe = EditProbe(settings, "bulk", queries=110).send()  # as large as a typical item: more than a part
        produce_json(settings.broker, settings.topic_content, [(DELETED, {"content_id": DELETED, "op": "delete",
                                                                           "version": 2})])  # fmt: skip
        edit_s = probe.searchable_s(worker, 120)
        # Every item of the export but the deleted one, and the probe.
        wait_until(lambda: _index_items(worker) == demo_items(), INDEXED_S, 0.2)
        import_s = time.monotonic() - imported_at
        sent = traffic.stop()
        outcomes.wait_settled(sent, 120)
        account = outcomes.account("a bulk import with an edit and a delete behind it, 10 chats/s", sent)
    deleted_found = DELETED in [r["content_id"] for r in search(worker, DELETED_QUERY, k=10)[1]["results"]]
    figures += [
        account.row(),
        (
            "reliability: a CMS edit behind a bulk import",
            f"searchable {edit_s:.1f} s after it was sent; the import ({demo_items()} items) was complete after "
            f"{import_s:.1f} s",
        ),
    ]
    assert edit_s < 10, f"the edit waited {edit_s:.1f} s"
    assert edit_s < import_s / 2
    assert not deleted_found  # and the other items and the probe are all there (counted above)
    assert account.lost == 0 and account.dead_lettered == 0
    assert worker.metric("helpstream_partitions_read_again_total") == 0  # the queued import is never "stuck"


def _index_items(worker: WorkerProcess) -> int | None:
    status, body = worker.health()
    if status != 200:
        return None
    items: int = body["index"]["items"]
    return items
