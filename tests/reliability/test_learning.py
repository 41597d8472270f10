"""The learning loop on a live deployment, with no operator: chats flow to a worker serving a sparse CMS, simulated
agents use the right response when it is shown and find it by search otherwise, and `helpstream learn` tunes a
candidate from that usage, adds it, lets interleaving judge it and promotes or retires it, while every chat gets a
non-empty recommendation. Sized for CI: one worker, one cycle, a few training steps; `make learning-live` runs
three full cycles (the simulated deployment of `docs/learning.md`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from schemas import Recommendation, RecommendationFeedback, encode
from streams.demo.sparse import sparse_cms
from streams.settings import Settings
from tests.fixtures import READY_S, Workers
from tests.integration.clients import demo_items, index_holds, now, produce
from tests.reliability.harness import Outcomes, Traffic, helpstream, report
from tests.services import wait_until

MIN_USAGE = 500
# A candidate as good as the active model is given up on within `make learning-live`'s runs of `learn` a cycle.
MAX_INTERLEAVED = 3000


class Agents:
    """Simulated agents, in a thread: each new recommendation's chat gets the right response, used from the list at
    its rank when shown, else found by search (a miss)."""

    def __init__(self, settings: Settings, outcomes: Outcomes, intents: list[str]) -> None:
        self._settings, self._outcomes, self._intents = settings, outcomes, intents
        self._seen: set[str] = set()
        self._read = 0
        self._stop = threading.Event()
        self.used = {"recommended": 0, "search": 0}
        self.failed: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Agents:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)
        if self.failed:
            raise RuntimeError("the simulated agents failed") from self.failed[0]

    def _run(self) -> None:
        try:
            self._answer()
        except BaseException as exc:
            self.failed.append(exc)

    def _answer(self) -> None:
        while not self._stop.wait(0.5):
            events = []
            values = self._outcomes.values()
            for _, _, value in values[self._read :]:
                rec = Recommendation.model_validate_json(value)
                if rec.chat_id in self._seen:
                    continue
                self._seen.add(rec.chat_id)
                intent = self._intents[int(rec.chat_id.rsplit("-", 1)[1]) % len(self._intents)]
                shown = [item.content_id for item in rec.items]
                where = (
                    {"source": "recommended", "rank": shown.index(intent) + 1}
                    if intent in shown
                    else {"source": "search"}
                )
                self.used[str(where["source"])] += 1
                feedback = RecommendationFeedback.model_validate(
                    {"chat_id": rec.chat_id, "content_id": intent, "action": "used", "at": now(), **where}
                )
                events.append((rec.chat_id.encode(), encode(feedback)))
            self._read = len(values)
            if events:
                produce(self._settings.broker, self._settings.topic_feedback, events)


def learn(settings: Settings, content_file: Path, steps: int) -> str:
    """One run of `helpstream learn`, as its schedule starts it; what it printed."""
    learned = helpstream(
        settings,
        "learn",
        "--content",
        str(content_file),
        "--max-steps",
        str(steps),
        "--decide-within",
        "480",
        timeout_s=2400,
    )
    output = learned.stdout + learned.stderr
    assert learned.returncode == 0, output[-4000:]
    return output


def latest(history: list[dict[str, Any]], model_id: str) -> dict[str, Any]:
    """The registry's last step on one model: its add while it is undecided, then its promote or retire."""
    return next(step for step in reversed(history) if step["model_id"] == model_id)


@dataclass(frozen=True)
class Sizes:
    """The run's size (`--learning-*` options): CI's one short cycle by default."""

    cycles: int
    usage_per_cycle: int  # chats the agents used, more than the cycle before, before `learn` runs
    queries: int  # example queries per saved response in the sparse CMS
    seed: int
    steps: int
    rate: float
    rejudge: int  # more runs of `learn` a cycle may take while its candidate is undecided

    @classmethod
    def of(cls, config: pytest.Config) -> Sizes:
        option = config.getoption
        return cls(
            int(option("--learning-cycles")),
            int(option("--learning-usage")),
            int(option("--learning-queries")),
            int(option("--learning-seed")),
            int(option("--learning-steps")),
            float(option("--learning-rate")),
            int(option("--learning-rejudge")),
        )


@pytest.mark.timeout(2400)
def test_learn_tunes_adds_and_judges_a_candidate_from_agents_usage_while_every_chat_is_answered(
    make_settings: Callable[..., Settings],
    workers: Workers,
    tmp_path: Path,
    figures: list[tuple[str, str]],
    request: pytest.FixtureRequest,
) -> None:
    size = Sizes.of(request.config)
    settings = make_settings(
        shadow_share=0.25,
        interleave_share=0.5,
        learn="auto",
        learn_min_usage=MIN_USAGE,
        learn_max_interleaved=MAX_INTERLEAVED,
    )
    worker = workers.start(settings, "learning")
    worker.wait_ready(READY_S)
    sparse = sparse_cms(size.queries, seed=size.seed)
    content_file = tmp_path / "cms.jsonl"
    content_file.write_bytes(b"".join(encode(item) + b"\n" for item in sparse.content))
    produce(settings.broker, settings.topic_content, ((i.content_id.encode(), encode(i)) for i in sparse.content))
    wait_until(lambda: index_holds(worker, demo_items()), 240, 0.5)
    texts = [chat.text for chat in sparse.unseen]
    intents = [str(chat.intent) for chat in sparse.unseen]
    # (add, verdict, seconds, runs of `learn`) per cycle
    cycles: list[tuple[dict[str, Any], dict[str, Any], float, int]] = []

    with Outcomes(settings) as outcomes, Agents(settings, outcomes, intents) as agents:
        traffic = Traffic(settings, "learn", size.rate, texts).start()
        for cycle in range(1, size.cycles + 1):
            enough = cycle * size.usage_per_cycle
            wait_until(lambda n=enough: sum(agents.used.values()) >= n, 300 + 2 * enough / size.rate, 1)
            started = time.monotonic()
            output = learn(settings, content_file, size.steps)
            history = report(settings)["history"]
            add = next(c for c in reversed(history) if c["action"] == "add")
            assert add["model_id"] not in {a["model_id"] for a, _, _, _ in cycles}, output[-4000:]  # a new candidate
            verdict, runs = latest(history, add["model_id"]), 1
            while verdict["action"] == "add" and runs <= size.rejudge:
                # Undecided: the next scheduled run judges the same candidate again.
                output = learn(settings, content_file, size.steps)
                verdict, runs = latest(report(settings)["history"], add["model_id"]), runs + 1
            assert verdict["action"] in ("promote", "retire"), output[-4000:]
            assert verdict["figures"]["interleaved"] > 0, verdict
            cycles.append((add, verdict, time.monotonic() - started, runs))
        sent = traffic.stop()
        outcomes.wait_settled(sent, 120)
        account = outcomes.account("learning cycles", sent)
        recs = [Recommendation.model_validate_json(value) for _, _, value in outcomes.values()]

    assert (account.lost, account.dead_lettered) == (0, 0), account.row()
    assert all(rec.items for rec in recs)
    for cycle, (add, _, _, _) in enumerate(cycles, 1):
        assert add["operator"] == "helpstream-learn" and add["model_id"].startswith("learned-"), add
        assert add["figures"]["usage_chats"] >= cycle * size.usage_per_cycle * 0.8, add
        assert sum(rec.candidate == add["model_id"] for rec in recs) > 0
    assert not list((settings.data_dir / "learned").glob("work-*"))  # the usage's texts do not outlive the run
    figures.append(
        (
            "learning: chats",
            f"{account.sent} sent at {size.rate:g}/s, 0 lost, 0 empty; agents used {agents.used['recommended']} "
            f"shown, found {agents.used['search']} by search; sparse CMS of {size.queries} example queries per "
            f"saved response (seed {size.seed}), {size.steps} steps a cycle",
        )
    )
    for cycle, (add, verdict, seconds, runs) in enumerate(cycles, 1):
        f, v = add["figures"], verdict["figures"]
        figures.append(
            (
                f"learning cycle {cycle}",
                f"{add['model_id']} tuned on {f['usage_chats']:.0f} chats' usage in {f['tune_s']:.0f} s, added "
                f"{f['cycle_s']:.0f} s after the command; held-out top-1 {f['heldout_top1_before']:.1%} → "
                f"{f['heldout_top1_after']:.1%}, top-3 {f['heldout_top3_after']:.1%}; kept-out usage "
                f"top-1 {f['usage_top1_before']:.1%} → {f['usage_top1_after']:.1%}; {verdict['action']} after "
                f"{v['interleaved']:.0f} interleaved chats (its pick used {v.get('interleave_wins', 0):.0f}, the "
                f"active model's {v.get('interleave_losses', 0):.0f}), {seconds:.0f} s from the command "
                f"({runs} run{'s' if runs > 1 else ''} of `learn`)",
            )
        )
