"""A three-broker Apache Kafka cluster (KRaft, replication factor 3, `min.insync.replicas=2`, idempotent producers)
losing a broker under chats: a rolling restart of every broker, the leader of the chat partitions killed with
kill -9, the controller killed, a broker paused longer than the session timeouts.

After each fault: every chat accounted for, the content table's changelog and the registry read back intact (from
whichever broker leads them now), a CMS edit sent right after the fault searchable, and the longest stall printed.
At the end a second worker joins and rebuilds its index from the changelog. `--runs N` repeats the faults N times.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import orjson

from streams.clients.kafka import KafkaConnection
from streams.local.kafka_cluster import KafkaCluster
from streams.settings import Settings
from streams.topology.admin import ensure_topics
from streams.topology.topics import content_changelog, topic_specs
from tests.fixtures import READY_S, Workers, isolated_settings
from tests.integration.clients import demo_items, index_holds
from tests.reliability.harness import Account, EditProbe, Outcomes, Traffic, read_compacted, report
from tests.services import wait_until

RATE = 10  # chats per second: three brokers, a worker and the load share two cores
PAUSE_S = 15  # longer than the worker's group session (6 s) and a broker's session with the controller (9 s)


@dataclass(frozen=True)
class Fault:
    name: str
    inject: Callable[[], None]
    recover: Callable[[], None]


def faults(cluster: KafkaCluster, chat_topic: str) -> list[Fault]:
    def rolling_restart() -> None:
        for node in cluster.nodes:
            cluster.stop(node)
            cluster.start(node)
            cluster.wait_in_sync()

    def chat_leader() -> int:
        leaders = Counter(p.leader for p in cluster.partitions([chat_topic]))
        return leaders.most_common(1)[0][0]

    victim: dict[str, int] = {}

    def kill_chat_leader() -> None:
        victim["killed"] = chat_leader()
        cluster.kill(victim["killed"])

    def kill_controller() -> None:
        victim["killed"] = cluster.wait_controller()
        cluster.kill(victim["killed"])

    def restart_killed() -> None:
        cluster.start(victim["killed"])
        cluster.wait_in_sync()

    def pause_chat_leader() -> None:
        victim["paused"] = chat_leader()
        victim["paused_at"] = int(time.monotonic())
        cluster.pause(victim["paused"])

    def resume_paused() -> None:
        time.sleep(max(0.0, victim["paused_at"] + PAUSE_S - time.monotonic()))
        cluster.resume(victim["paused"])
        cluster.wait_in_sync()

    return [
        Fault("rolling restart of the 3 brokers", rolling_restart, lambda: None),
        Fault("leader of the chat partitions killed (kill -9), restarted", kill_chat_leader, restart_killed),
        Fault("active controller killed (kill -9), restarted", kill_controller, restart_killed),
        Fault(f"leader of the chat partitions paused {PAUSE_S} s (SIGSTOP)", pause_chat_leader, resume_paused),
    ]


def test_a_three_broker_cluster_losing_a_broker_loses_no_chat_and_keeps_the_table_and_the_registry(
    cluster: KafkaCluster,
    redis_url: str,
    data_dir: Path,
    workers: Workers,
    runs: int,
    figures: list[tuple[str, str]],
) -> None:
    settings = isolated_settings(
        cluster.bootstrap,
        redis_url,
        data_dir,
        replication_factor=3,
        min_insync_replicas=2,
        producer_idempotence=True,
    )
    worker = workers.start_with_demo_content(settings, "cluster")
    assert_replicated(cluster, settings)
    changelog = content_changelog(settings)
    # The index follows the table at once; the table's changelog records follow when the producer has sent them.
    wait_until(lambda: len(read_compacted(settings, changelog)) == demo_items(), 60, 1)
    table = read_compacted(settings, changelog)
    registry = read_compacted(settings, settings.topic_models)
    assert registry
    rows: list[tuple[Account, float, float, float, tuple[float, str], tuple[float, str]]] = []
    probes: list[EditProbe] = []
    with Outcomes(settings) as outcomes:
        traffic = Traffic(settings, f"cluster-{uuid.uuid4().hex[:4]}", rate=RATE).start()
        time.sleep(5)
        phases: list[tuple[str, list[str], float, float, float]] = []
        for run in range(runs):
            for fault in faults(cluster, settings.topic_chat):
                mark, began = len(traffic.sent), time.monotonic()
                fault.inject()
                probes.append(EditProbe(settings, f"cluster{run}").send())
                with ThreadPoolExecutor(1) as watch:
                    # Searched for while the broker restarts and catches up: the edit need not wait for that.
                    searchable = watch.submit(probes[-1].searchable_s, worker, 120)
                    fault.recover()
                    edit_s = searchable.result()
                time.sleep(3)
                # Intact: every item and every registry record still there, read from the leaders of now.
                expected = table.keys() | {orjson.dumps(p.content_id) for p in probes}  # the table's JSON keys
                wait_until(lambda keys=expected: keys <= read_compacted(settings, changelog).keys(), 60, 1)
                assert read_compacted(settings, settings.topic_models) == registry
                name = fault.name if runs == 1 else f"{fault.name} (run {run + 1})"
                phases.append((name, traffic.sent[mark:], time.monotonic() - began, edit_s, probes[-1].accepted_s))
        joined = workers.start(settings, "cluster-joins")
        joined.wait_ready(READY_S)
        wait_until(lambda: index_holds(joined, demo_items() + len(probes)), 120, 0.5)
        sent = traffic.stop()
        outcomes.wait_settled(sent, 180)
        for name, keys, took_s, edit_s, accepted_s in phases:
            waited = outcomes.longest_wait(keys, traffic.sent_at)
            after_ack = outcomes.longest_wait(keys, traffic.acked_at)
            rows.append((outcomes.account(name, keys), took_s, edit_s, accepted_s, waited, after_ack))
        everything = outcomes.account("every chat of the cluster test", sent, placed=traffic.placed)
        waited_most = outcomes.longest_wait(sent, traffic.sent_at)
    listing = report(settings)
    assert [m["role"] for m in listing["models"]] == ["active"]
    figures.extend(
        (
            f"cluster: {account.fault}",
            f"{account.sent} chats sent, {account.recommended} recommended, {account.lost} lost, "
            f"{account.duplicates} duplicates; longest stall (a chat's wait for its recommendation) "
            f"{waited[0]:.1f} s from its send, {after_ack[0]:.1f} s from Kafka's acknowledgement; fault and recovery "
            f"{took_s:.0f} s; a CMS edit sent right after it searchable in {edit_s:.1f} s (Kafka acknowledged its "
            f"send in {accepted_s:.1f} s)",
        )
        for account, took_s, edit_s, accepted_s, waited, after_ack in rows
    )
    figures.append(everything.row())
    placed = traffic.placed.get(waited_most[1])
    figures.append(("cluster: the chat that waited longest", f"{waited_most[1]} at {placed}: {waited_most[0]:.1f} s"))
    figures.append(("cluster: chats the chat platform sent again (not acknowledged in time)", str(len(traffic.resent))))
    figures.append(
        ("cluster: CMS edits the CMS sent again (not acknowledged in time)", str(sum(p.resent for p in probes)))
    )
    assert everything.lost == 0, everything.lost_keys
    assert everything.dead_lettered == 0
    assert worker.process is not None and worker.process.poll() is None  # the same worker throughout


def assert_replicated(cluster: KafkaCluster, settings: Settings) -> None:
    """Every topic helpstream created has three replicas and the configs of its spec (`min.insync.replicas=2`)."""
    names = [spec.name for spec in topic_specs(settings)]
    described = cluster.partitions(names)
    assert {p.topic for p in described} == set(names)
    assert {len(p.replicas) for p in described} == {3}
    # Every topic exists: ensure_topics only compares each one's configs (min.insync.replicas among them).
    assert asyncio.run(ensure_topics(KafkaConnection.of(settings), topic_specs(settings))) == []
