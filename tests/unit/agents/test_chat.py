"""The chat handler without a broker: decode, dead letter, recommendation building, store and metrics."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiokafka.errors import MessageSizeTooLargeError
from faust.exceptions import ProducerSendError

from agents.chat import ChatHandler
from agents.dead_letters import REASON_HEADER, DeadLetters
from agents.masking import Masker
from agents.ports import DEAD_LETTERED, RECOMMENDED
from agents.sampling import interleaved
from index.batcher import Lane
from schemas import DeadLetter, Recommendation, encode
from streams.engine.tallies import Tallies
from tests.unit.agents.fakes import WATERMARK, FakeMetrics, FakeSearcher, FakeShadow, FakeSink, FakeStore, event

TOPIC = "chat.started"


class Wired:
    def __init__(
        self, top_k: int = 2, *, embed_masked: bool = True, interleave_share: float = 0.0, timeout_s: float = 0.5
    ) -> None:
        self.searcher = FakeSearcher(["card_arrival", "lost_card", "change_pin"])
        self.recommendations, self.dead, self.store, self.metrics = FakeSink(), FakeSink(), FakeStore(), FakeMetrics()
        self.shadow = FakeShadow()
        self.tallies = Tallies()
        self.handle = ChatHandler(
            topic=TOPIC,
            searcher=self.searcher,
            recommendations=self.recommendations,
            dead_letters=DeadLetters(self.dead, self.metrics),
            store=self.store,
            metrics=self.metrics,
            shadow=self.shadow,
            masker=Masker(embed_masked=embed_masked),
            top_k=top_k,
            interleave_share=interleave_share,
            interleavings=self.tallies,
            challenge_timeout_s=timeout_s,
        )


def chat(chat_id: str, text: str = "my card has not arrived", *, ago_ms: float = 20) -> bytes:
    created = datetime.now(UTC) - timedelta(milliseconds=ago_ms)
    return orjson.dumps({"chat_id": chat_id, "text": text, "created_at": created.isoformat(), "extra": "ignored"})


async def test_each_chat_gets_one_recommendation_keyed_by_chat_id_with_the_top_k_saved_responses() -> None:
    wired = Wired(top_k=2)
    await wired.handle([event(chat("c-1"), offset=0), event(chat("c-2", "lost my card"), offset=1)])

    assert wired.searcher.queries == [(["my card has not arrived", "lost my card"], 2, "saved_response", Lane.CHAT)]
    assert [sent.key for sent in wired.recommendations.sent] == [b"c-1", b"c-2"]
    recs = [Recommendation.model_validate_json(sent.value or b"") for sent in wired.recommendations.sent]
    assert [[item.content_id for item in rec.items] for rec in recs] == [["card_arrival", "lost_card"]] * 2
    assert all(item.kind == "saved_response" for rec in recs for item in rec.items)
    assert all(rec.model == "fake-model" and rec.index == WATERMARK for rec in recs)
    assert all(15 <= rec.latency_ms < 5000 for rec in recs)
    assert "__faust" not in orjson.loads(wired.recommendations.sent[0].value or b"")
    assert [encode(rec) for rec in wired.store.saved] == [sent.value for sent in wired.recommendations.sent]
    assert wired.metrics.outcomes == {(TOPIC, RECOMMENDED): 2}
    assert wired.dead.sent == []
    # After the recommendations are out, the shadow gets the batch: each chat's ranking and latency.
    ((chat_ids, model_id, rankings, latencies),) = wired.shadow.offered
    assert (chat_ids, model_id, rankings) == (["c-1", "c-2"], "fake-model", [["card_arrival", "lost_card"]] * 2)
    assert latencies == [rec.latency_ms for rec in recs]


async def test_a_malformed_chat_is_dead_lettered_with_reason_and_bytes_and_its_batch_mates_are_recommended() -> None:
    wired = Wired()
    bad = b'{"chat_id": "c-2", "created_at": "2026-11-29T09:00:00Z"}'
    await wired.handle([event(chat("c-1")), event(bad, offset=7, key=b"c-2"), event(chat("c-3"), offset=8)])

    assert [sent.key for sent in wired.recommendations.sent] == [b"c-1", b"c-3"]
    (letter_sent,) = wired.dead.sent
    letter = DeadLetter.model_validate_json(letter_sent.value or b"")
    assert (letter.source_topic, letter.offset, letter.key_b64) == (TOPIC, 7, b"c-2")
    assert orjson.loads(letter.value_b64 or b"") == orjson.loads(bad)  # JSON is masked value by value
    assert "text: Field required" in letter.reason
    assert letter_sent.key == b"c-2"
    assert letter_sent.headers == {REASON_HEADER: letter.reason.encode()}
    assert wired.metrics.outcomes == {(TOPIC, RECOMMENDED): 2, (TOPIC, DEAD_LETTERED): 1}


@pytest.mark.parametrize("embed_masked", [True, False])
async def test_the_model_embeds_a_chats_card_number_masked_unless_the_setting_says_raw(embed_masked: bool) -> None:
    wired = Wired(embed_masked=embed_masked)
    await wired.handle([event(chat("c-1", "card 4111 1111 1111 1111 was declined"))])
    ((texts, *_),) = wired.searcher.queries
    masked = "card [card ending 1111] was declined"
    assert texts == [masked if embed_masked else "card 4111 1111 1111 1111 was declined"]
    assert wired.shadow.texts == texts


async def test_a_dead_letter_carries_the_malformed_chat_with_its_card_number_masked() -> None:
    wired = Wired(embed_masked=False)  # what people see is masked whatever the model embeds
    bad = b'{"chat_id": "c-2", "text": "my card 4111-1111-1111-1111 and \xff", "created_at": "yesterday"}'
    await wired.handle([event(bad, key=b"c-2")])
    letter = DeadLetter.model_validate_json(wired.dead.sent[0].value or b"")
    assert letter.value_b64 is not None
    assert b"4111-1111-1111-1111" not in letter.value_b64 and b"[card ending 1111] and \xff" in letter.value_b64
    assert "not valid JSON" in letter.reason


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (None, "empty value"),
        (orjson.dumps({"chat_id": "c", "text": "x" * 4001, "created_at": "2026-11-29T09:00:00Z"}), "4000 characters"),
    ],
)
async def test_a_batch_of_only_bad_chats_searches_nothing_and_stores_nothing(raw: bytes | None, reason: str) -> None:
    wired = Wired()
    await wired.handle([event(raw)])
    assert wired.searcher.queries == []
    assert wired.store.saved == []
    assert reason in DeadLetter.model_validate_json(wired.dead.sent[0].value or b"").reason


async def test_a_chat_the_model_cannot_embed_is_dead_lettered_and_its_batch_mates_are_recommended() -> None:
    wired = Wired()
    wired.searcher.poison = "\u2028 poison"
    await wired.handle(
        [event(chat("c-1"), offset=0), event(chat("c-2", "\u2028 poison"), offset=1), event(chat("c-3"))]
    )

    assert [sent.key for sent in wired.recommendations.sent] == [b"c-1", b"c-3"]
    (letter,) = [DeadLetter.model_validate_json(sent.value or b"") for sent in wired.dead.sent]
    assert letter.offset == 1
    assert letter.reason.startswith("embedding and search failed: RuntimeError('tokenizer exploded')")


async def test_when_the_canary_fails_too_the_batch_fails_whole_so_it_is_retried_not_dead_lettered() -> None:
    wired = Wired()
    wired.searcher.broken = True
    with pytest.raises(RuntimeError, match="tokenizer exploded"):
        await wired.handle([event(chat("c-1")), event(chat("c-2"))])
    assert wired.dead.sent == []
    assert wired.recommendations.sent == []


async def test_a_recommendation_the_broker_refuses_dead_letters_its_chat_and_the_others_are_delivered() -> None:
    wired = Wired()

    class Refusing(FakeSink):
        async def send(self, **kwargs: Any) -> Awaitable[Any]:
            if kwargs["key"] == b"c-2":
                # What Faust raises when the client refuses a message before sending it.
                try:
                    raise MessageSizeTooLargeError("The message is 2000000 bytes when serialized")
                except MessageSizeTooLargeError as exc:
                    raise ProducerSendError(f"Error while sending: {exc!r}") from exc
            return await super().send(**kwargs)

    wired.handle._recommendations = wired.recommendations = Refusing()
    await wired.handle([event(chat("c-1")), event(chat("c-2"), offset=5)])
    assert [sent.key for sent in wired.recommendations.sent] == [b"c-1"]
    (letter,) = [DeadLetter.model_validate_json(sent.value or b"") for sent in wired.dead.sent]
    assert letter.offset == 5
    assert "its output could not be produced: MessageSizeTooLargeError" in letter.reason
    assert [rec.chat_id for rec in wired.store.saved] == ["c-1"]  # never kept as if it had been delivered
    assert wired.metrics.outcomes == {(TOPIC, RECOMMENDED): 1, (TOPIC, DEAD_LETTERED): 1}


async def test_a_one_megabyte_chat_becomes_a_dead_letter_that_fits_in_a_kafka_message() -> None:
    wired = Wired()
    huge = chat("c-big", "x" * 1_000_000)
    await wired.handle([event(chat("c-1")), event(huge, key=b"c-big"), event(chat("c-3"))])
    assert [sent.key for sent in wired.recommendations.sent] == [b"c-1", b"c-3"]
    (sent,) = wired.dead.sent
    assert len(sent.value or b"") < 100_000
    letter = DeadLetter.model_validate_json(sent.value or b"")
    assert letter.value_truncated and letter.value_size == len(huge)
    assert letter.value_b64 == huge[: len(letter.value_b64 or b"")]  # nothing in it to mask
    assert letter.value_sha256 == hashlib.sha256(letter.value_b64 or b"").hexdigest()
    assert "at most 4000 characters" in letter.reason


INTERLEAVE_SHARE = 0.5


def interleaving(top_k: int = 3) -> Wired:
    wired = Wired(top_k, interleave_share=INTERLEAVE_SHARE)
    wired.searcher.candidate = FakeSearcher(["lost_card", "card_arrival", "top_up"], model_id="candidate-model")
    wired.searcher.sink_when_challenged = wired.recommendations
    return wired


def chat_ids(count: int, *, mixed: bool) -> list[str]:
    ids = (f"c-{i}" for i in range(10_000))
    return [c for c in ids if interleaved(c, INTERLEAVE_SHARE) == mixed][:count]


async def test_an_interleaved_chat_is_shown_both_models_picks_each_credited_and_the_others_go_out_first() -> None:
    w = interleaving()
    mixed, plain = chat_ids(20, mixed=True), chat_ids(3, mixed=False)
    await w.handle([event(chat(c), offset=i) for i, c in enumerate(plain + mixed)])
    recs = {r.chat_id: r for r in (Recommendation.model_validate_json(s.value or b"") for s in w.recommendations.sent)}
    for chat_id in plain:
        rec = recs[chat_id]
        assert rec.candidate is None and [i.content_id for i in rec.items] == [
            "card_arrival",
            "lost_card",
            "change_pin",
        ]
        assert all(item.model is None for item in rec.items)
    firsts = set()
    for chat_id in mixed:
        rec = recs[chat_id]
        assert (rec.model, rec.candidate) == ("fake-model", "candidate-model")
        ids = [i.content_id for i in rec.items]
        assert len(ids) == 3 == len(set(ids)) and ids[0] in ("card_arrival", "lost_card")
        active = {"card_arrival", "lost_card", "change_pin"}
        candidate = {"lost_card", "card_arrival", "top_up"}
        assert all(i.content_id in (active if i.model == "fake-model" else candidate) for i in rec.items)
        firsts.add(rec.items[0].model)
    assert firsts == {"fake-model", "candidate-model"}  # each model leads on some chats
    assert w.searcher.published_before_challenge == [c.encode() for c in plain]  # not kept waiting for the candidate
    assert w.tallies["candidate-model"].interleaved == len(mixed)
    assert len(w.store.saved) == len(plain) + len(mixed)


async def test_a_response_both_models_rank_at_the_same_position_is_credited_to_neither() -> None:
    w = interleaving()
    w.searcher.candidate = FakeSearcher(["card_arrival", "top_up", "lost_card"], model_id="candidate-model")
    await w.handle([event(chat(c)) for c in chat_ids(6, mixed=True)])
    for sent in w.recommendations.sent:
        items = Recommendation.model_validate_json(sent.value or b"").items
        assert items[0].content_id == "card_arrival" and items[0].model is None  # both rank it first
        assert all(i.model is not None for i in items[1:])


async def test_a_retried_chat_is_shown_the_same_interleaving() -> None:
    shown = []
    for _ in range(2):
        w = interleaving()
        await w.handle([event(chat(c)) for c in chat_ids(5, mixed=True)])
        shown.append(
            [
                (i.content_id, i.model)
                for s in w.recommendations.sent
                for i in Recommendation.model_validate_json(s.value or b"").items
            ]
        )
    assert shown[0] == shown[1]


@pytest.mark.parametrize("candidate", ["none", "broken"])
async def test_without_a_working_candidate_an_interleaved_chat_gets_the_active_models_list(candidate: str) -> None:
    w = interleaving()
    if candidate == "none":
        w.searcher.candidate = None
    else:
        assert w.searcher.candidate is not None
        w.searcher.candidate.broken = True
    mixed = chat_ids(4, mixed=True)
    await w.handle([event(chat(c), offset=i) for i, c in enumerate(mixed)])
    recs = [Recommendation.model_validate_json(s.value or b"") for s in w.recommendations.sent]
    assert [r.chat_id for r in recs] == mixed and w.dead.sent == []
    assert all(r.candidate is None and r.items[0].content_id == "card_arrival" for r in recs)


async def test_a_candidate_slower_than_its_timeout_leaves_the_interleaved_chats_the_active_models_list() -> None:
    w = Wired(3, interleave_share=INTERLEAVE_SHARE, timeout_s=0.05)
    w.searcher.candidate = FakeSearcher(["lost_card", "card_arrival", "top_up"], model_id="candidate-model")
    w.searcher.candidate.delay_s = 5.0
    mixed = chat_ids(3, mixed=True)
    started = time.monotonic()
    await w.handle([event(chat(c), offset=i) for i, c in enumerate(mixed)])
    assert time.monotonic() - started < 2
    recs = [Recommendation.model_validate_json(s.value or b"") for s in w.recommendations.sent]
    assert [r.chat_id for r in recs] == mixed and all(r.candidate is None for r in recs)
    assert w.tallies["candidate-model"].interleaved == 0


@pytest.mark.parametrize("embed_masked", [True, False])
async def test_each_recommended_chat_keeps_its_text_masked_for_the_usage_it_will_make(embed_masked: bool) -> None:
    w = Wired(embed_masked=embed_masked)
    await w.handle([event(chat("c-1", "my card 4111 1111 1111 1111 was declined"))])
    assert "4111" not in w.store.texts["c-1"] and "declined" in w.store.texts["c-1"]
