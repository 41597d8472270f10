"""Workers joining and leaving a live group under steady load, on Apache Kafka: every chat is accounted for.

One worker serves chats at a steady rate; workers are added one at a time up to the chat topic's partition count
(each join rebalances the whole group), then one leaves gracefully (SIGTERM) and one is killed (kill -9). Every chat
sent must end as a recommendation or a dead letter (duplicates are counted, not refused: at-least-once), and no
worker may exit except the ones stopped. `pytest --runs N` repeats it N times in a row, each on a group and topics
of its own.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

from streams.local.ports import listener_ports
from streams.local.worker import WorkerProcess
from streams.settings import Settings
from tests.fixtures import READY_S, Workers
from tests.reliability.harness import Account, Outcomes, Traffic

PARTITIONS = 4
RATE = 120
SETTLE_S = 5  # traffic after each change, so the next one lands mid-stream


def test_workers_joining_up_to_the_partition_count_then_leaving_lose_no_chat(
    make_settings: Callable[..., Settings], workers: Workers, runs: int, figures: list[tuple[str, str]]
) -> None:
    for run in range(1, runs + 1):
        account, exits, rereads = scale_out_then_in(make_settings(chat_partitions=PARTITIONS), workers, run)
        label = f" (run {run} of {runs})" if runs > 1 else ""
        figures.append(account.row())
        figures.append((f"reliability: worker exits while the group changed{label}", exits or "none"))
        figures.append((f"reliability: partitions read again for an event left undone{label}", str(len(rereads))))
        assert account.lost == 0, account
        assert not exits, exits
        assert not rereads, "\n".join(rereads)  # the watchdog is a safety net: each firing delays a chat by seconds


def scale_out_then_in(settings: Settings, workers: Workers, run: int) -> tuple[Account, str, list[str]]:
    """One run: 1 -> PARTITIONS workers one by one, then SIGTERM one and kill -9 another; the account, the
    workers that exited on their own, and the watchdog's warnings (a partition re-read for an event left undone)."""
    group: list[WorkerProcess] = [workers.start_with_demo_content(settings, f"r{run}-w1")]
    with Outcomes(settings) as outcomes:
        traffic = Traffic(settings, f"group-{uuid.uuid4().hex[:4]}", rate=RATE).start()
        time.sleep(SETTLE_S)
        for n in range(2, PARTITIONS + 1):
            joining = workers.start(settings.model_copy(update=listener_ports()), f"r{run}-w{n}")
            joining.wait_ready(READY_S)
            group.append(joining)
            time.sleep(SETTLE_S)
        leaving, killed = group[1], group[2]
        leaving.stop()
        time.sleep(SETTLE_S)
        killed.kill()
        time.sleep(SETTLE_S)
        sent = traffic.stop()
        outcomes.wait_settled(sent, 180)
        account = outcomes.account(
            f"{RATE} chats/s, workers 1 -> {PARTITIONS} one by one, then SIGTERM one and kill -9 one",
            sent,
            placed=traffic.placed,
        )
    exits = ", ".join(
        f"{w.log_path.stem} exited {w.process.returncode}"
        for w in group
        if w not in (leaving, killed) and w.process is not None and w.process.poll() is not None
    )
    for worker in group:
        worker.stop()
    rereads = [f"{w.log_path.stem}: {warning}" for w in group for warning in watchdog_warnings(w.log_path)]
    return account, exits, rereads


def watchdog_warnings(log_path: Path) -> list[str]:
    """Each watchdog warning in a worker's log, with the partition's recent steps logged below it."""
    warnings: list[str] = []
    inside = False
    for line in log_path.read_text(errors="replace").splitlines():
        if "reading again from it" in line:
            warnings.append(line)
            inside = True
        elif inside and not line.startswith("["):  # the warning's continuation lines, until the next log record
            warnings[-1] += "\n" + line
        else:
            inside = False
    return warnings
