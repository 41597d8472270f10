"""Faults under load, on Apache Kafka and redis-server: every chat sent ends as a recommendation or a dead letter.

Each test prints its account (sent, recommended, dead-lettered, lost, duplicates, time to recover) in the run's
figures. Loads are sized for 2 cores shared with the broker and the load generator.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import Callable

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from streams.local.apache_kafka import RunningKafka
from streams.local.redis_server import RunningRedis
from streams.settings import Settings
from tests.fixtures import Workers
from tests.integration.clients import chat, produce, produce_json
from tests.reliability.harness import EditProbe, Outcomes, Traffic

PAUSE_S = 10


def test_kill_9_under_100_chats_per_second_loses_nothing_and_duplicates_at_most_1_percent(
    make_settings: Callable[..., Settings], workers: Workers, figures: list[tuple[str, str]]
) -> None:
    settings = make_settings()
    worker = workers.start_with_demo_content(settings, "kill-victim")
    with Outcomes(settings) as outcomes:
        traffic = Traffic(settings, f"kill-{uuid.uuid4().hex[:4]}", rate=100).start()
        time.sleep(8)
        killed_at = time.monotonic()
        worker.kill()
        probe = EditProbe(settings, "kill").send()
        restarted = workers.start(settings, "after-kill")
        restarted.wait_ready(120)
        edit_s = probe.searchable_s(restarted, 60)
        time.sleep(8)
        sent = traffic.stop()
        outcomes.wait_settled(sent, 180)
        account = outcomes.account("kill -9 under 100 chats/s, restarted at once", sent, recover_from=killed_at)
    figures += [account.row(), ("reliability: a CMS edit sent right after a kill -9", f"searchable in {edit_s:.1f} s")]
    assert account.lost == 0
    assert account.dead_lettered == 0
    assert account.duplicates <= 0.01 * account.sent


def test_redis_hung_then_down_costs_no_chat_and_no_restart(
    make_settings: Callable[..., Settings], workers: Workers, own_redis: RunningRedis, figures: list[tuple[str, str]]
) -> None:
    settings = make_settings(redis_url=own_redis.url)
    worker = workers.start_with_demo_content(settings, "redis-faults")
    with Outcomes(settings) as outcomes:
        traffic = Traffic(settings, f"redis-{uuid.uuid4().hex[:4]}", rate=40).start()
        time.sleep(3)
        os.kill(own_redis.pid, signal.SIGSTOP)
        time.sleep(PAUSE_S)
        os.kill(own_redis.pid, signal.SIGCONT)
        time.sleep(3)
        sent_hung = list(traffic.sent)
        os.kill(own_redis.pid, signal.SIGKILL)
        time.sleep(PAUSE_S)
        assert worker.health()[1]["status"] == "degraded"
        sent = traffic.stop()
        outcomes.wait_settled(sent, 120)
        hung = outcomes.account(f"Redis hung {PAUSE_S} s under 40 chats/s", sent_hung)
        down = outcomes.account(f"Redis hung {PAUSE_S} s, then down {PAUSE_S} s, 40 chats/s", sent)
    figures += [hung.row(), down.row()]
    assert down.lost == 0 and down.dead_lettered == 0
    assert worker.process is not None and worker.process.poll() is None  # the same worker, never restarted
    assert worker.metric("helpstream_redis_errors_total") > 0


def test_broker_paused_under_load_delivers_every_chat_after_it_resumes(
    make_settings: Callable[..., Settings],
    workers: Workers,
    running_kafka: RunningKafka,
    figures: list[tuple[str, str]],
) -> None:
    settings = make_settings()
    worker = workers.start_with_demo_content(settings, "broker-paused")
    with Outcomes(settings) as outcomes:
        traffic = Traffic(settings, f"pause-{uuid.uuid4().hex[:4]}", rate=40).start()
        time.sleep(3)
        os.kill(running_kafka.pid, signal.SIGSTOP)
        try:
            time.sleep(PAUSE_S)
        finally:
            os.kill(running_kafka.pid, signal.SIGCONT)
        resumed = time.monotonic()
        edit_s = EditProbe(settings, "pause").send().searchable_s(worker, 60)
        time.sleep(5)
        sent = traffic.stop()
        outcomes.wait_settled(sent, 180)
        account = outcomes.account(f"broker paused {PAUSE_S} s under 40 chats/s", sent, recover_from=resumed)
    figures += [account.row(), ("reliability: a CMS edit sent as the broker resumed", f"searchable in {edit_s:.1f} s")]
    assert account.lost == 0 and account.dead_lettered == 0
    assert worker.process is not None and worker.process.poll() is None


def test_a_dead_letter_topic_that_refuses_crashes_the_worker_non_zero_and_unacked_then_nothing_is_lost(
    make_settings: Callable[..., Settings], workers: Workers, figures: list[tuple[str, str]]
) -> None:
    settings = make_settings()
    worker = workers.start_with_demo_content(settings, "dlt-refuses")
    set_topic_config(settings.broker, settings.topic_dead_letter, {"max.message.bytes": "64"})
    with Outcomes(settings) as outcomes:
        produce_json(settings.broker, settings.topic_chat, [chat("good-before", "my card has not arrived")])
        produce(settings.broker, settings.topic_chat, [(b"poison", b"{not json")])
        produce_json(settings.broker, settings.topic_chat, [chat("good-after", "my card has not arrived")])
        assert worker.process is not None
        code = worker.process.wait(120)
        crashed_at = time.monotonic()
        # The dead-letter topic is the system: when it refuses, the worker must not ack, so the operator can fix
        # it and a restarted worker handles the same events again.
        set_topic_config(settings.broker, settings.topic_dead_letter, {"max.message.bytes": "1048588"})
        workers.start(settings, "dlt-fixed").wait_ready(120)
        sent = ["good-before", "poison", "good-after"]
        outcomes.wait_settled(sent, 120)
        account = outcomes.account("dead-letter topic refusing, then fixed and restarted", sent, crashed_at)
    figures.append(account.row())
    figures.append(("reliability: worker exit code when the dead-letter topic refuses", str(code)))
    assert code != 0
    assert account.lost == 0
    assert outcomes.dead_lettered.keys() >= {"poison"}
    assert outcomes.recommended.keys() >= {"good-before", "good-after"}


def set_topic_config(bootstrap: str, topic: str, configs: dict[str, str]) -> None:
    async def run() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs=configs)])
        finally:
            await admin.close()

    asyncio.run(run())
