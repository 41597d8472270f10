"""What a worker follows from the control topics: only signed registry records when a key is set, only gated or
properly forced promotes when read live, figures only from the figures topic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import ConsumerRecord

from schemas import encode
from schemas.registry import FIGURES_PREFIX, REGISTRY_KEY, ModelRef, Registry, WorkerFigures
from streams.registry.channel import ControlState, ControlTopics
from streams.registry.figures import ModelTally
from streams.registry.signing import Signer, Verifier, generate
from streams.registry.state import add, promote, seed, stamped

TOPICS = ControlTopics("models", "figures")
ACTIVE = ModelRef(model_id="l6/onnx-fp32", model="minilm-l6", backend="onnx")
CANDIDATE = ModelRef(model_id="tuned@1/onnx-fp32", model="/models/tuned", backend="onnx")


def record(
    topic: str, key: str, value: bytes, headers: list[tuple[str, bytes]] | None = None
) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(topic, 0, 7, 0, 0, key.encode(), value, None, len(key), len(value), headers or [])


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Signer, Verifier]:
    private, public = generate(tmp_path)
    return Signer.load(private), Verifier.load(public)


def with_candidate() -> Registry:
    seeded = seed(Registry(), ACTIVE)
    assert seeded is not None
    return add(seeded, CANDIDATE)


def signed(signer: Signer, registry: Registry) -> ConsumerRecord[bytes, bytes]:
    value = encode(registry)
    return record("models", REGISTRY_KEY, value, signer.headers(REGISTRY_KEY.encode(), value))


def test_with_a_public_key_only_records_stamped_the_operators_key_are_followed(
    keys: tuple[Signer, Verifier], tmp_path: Path
) -> None:
    signer, verifier = keys
    state = ControlState(TOPICS, verifier)
    registry = with_candidate()
    assert not state.apply(record("models", REGISTRY_KEY, encode(registry)))
    other = Signer.load(generate(tmp_path / "other")[0])
    assert not state.apply(signed(other, registry))
    tampered = signed(signer, registry)
    forged = record("models", REGISTRY_KEY, encode(registry.model_copy(update={"revision": 9})), tampered.headers)
    assert not state.apply(forged)
    assert state.refused == {"unsigned": 3}
    assert state.apply(signed(signer, registry))
    assert (state.registry.revision, state.registry.candidates) == (registry.revision, [CANDIDATE])


def test_without_a_public_key_any_registry_record_is_followed() -> None:
    state = ControlState(TOPICS)
    assert state.apply(record("models", REGISTRY_KEY, encode(with_candidate())))


def figures(covered: int, at: datetime | None = None, rank: int = 1) -> WorkerFigures:
    tally = ModelTally()
    tally.answered(5, [40] * 30)
    for _ in range(12):
        tally.used(rank, 1, paired=True)
    return WorkerFigures(
        worker="w1",
        at=at or datetime.now(UTC),
        registry_revision=2,
        active=ACTIVE.model_id,
        owns_content=True,
        models={
            ACTIVE.model_id: ModelTally().figures(loaded=True, items=83, table_items=83),
            CANDIDATE.model_id: tally.figures(loaded=True, items=covered, table_items=83),
        },
    )


def test_a_live_promote_is_followed_only_past_the_gates_or_forced_with_a_reason_and_an_operator() -> None:
    state = ControlState(TOPICS)
    state.apply(record("models", REGISTRY_KEY, encode(with_candidate())))
    state.apply(record("figures", FIGURES_PREFIX + "w1", encode(figures(covered=40))))
    gated = promote(with_candidate(), CANDIDATE.model_id)
    assert not state.apply(record("models", REGISTRY_KEY, encode(gated)), live=True)
    forced_anonymously = promote(with_candidate(), CANDIDATE.model_id, "hotfix")
    assert not state.apply(record("models", REGISTRY_KEY, encode(forced_anonymously)), live=True)
    assert state.refused == {"gates": 2}
    assert state.registry.active == ACTIVE
    assert state.apply(record("models", REGISTRY_KEY, encode(stamped(forced_anonymously, "alice"))), live=True)
    assert state.registry.active == CANDIDATE


def test_figures_count_only_from_the_figures_topic_and_the_registry_only_from_its_own() -> None:
    state = ControlState(TOPICS)
    state.apply(record("models", FIGURES_PREFIX + "w1", encode(figures(covered=83))))
    assert not state.apply(record("figures", REGISTRY_KEY, encode(with_candidate())))
    assert state.figures == {} and state.registry.revision == 0
    state.apply(record("figures", FIGURES_PREFIX + "w1", encode(figures(covered=83))))
    assert list(state.figures) == ["w1"]


def test_an_unreadable_registry_record_is_counted_and_changes_nothing() -> None:
    state = ControlState(TOPICS)
    assert not state.apply(record("models", REGISTRY_KEY, b'{"revision": -1}'))
    assert state.refused == {"unreadable": 1}


def test_a_promote_is_judged_on_the_figures_of_the_moment_it_was_made_not_on_later_ones() -> None:
    state = ControlState(TOPICS)
    state.apply(record("models", REGISTRY_KEY, encode(with_candidate())))
    passing = figures(covered=83)
    state.apply(record("figures", FIGURES_PREFIX + "w1", encode(passing)))
    made = promote(with_candidate(), CANDIDATE.model_id)
    # After the operator decided, the candidate's quality dipped below the active model's in the next report.
    later = figures(covered=83, at=made.history[-1].at + timedelta(seconds=2), rank=3)
    state.apply(record("figures", FIGURES_PREFIX + "w1", encode(later)))
    assert state.apply(record("models", REGISTRY_KEY, encode(made)), live=True)
    assert state.registry.active == CANDIDATE


def test_a_forced_promote_of_a_model_workers_could_not_load_is_not_followed() -> None:
    state = ControlState(TOPICS)
    state.apply(record("models", REGISTRY_KEY, encode(with_candidate())))
    broken = figures(covered=0)
    broken.models[CANDIDATE.model_id] = broken.models[CANDIDATE.model_id].model_copy(
        update={"loaded": False, "error": "ModelRefused: /models/tuned holds pickle files"}
    )
    state.apply(record("figures", FIGURES_PREFIX + "w1", encode(broken)))
    forced = stamped(promote(with_candidate(), CANDIDATE.model_id, "we need it now"), "alice")
    assert not state.apply(record("models", REGISTRY_KEY, encode(forced)), live=True)
    assert state.refused == {"gates": 1} and state.registry.active == ACTIVE


def test_a_record_built_on_a_refused_promote_is_refused_too() -> None:
    state = ControlState(TOPICS)
    state.apply(record("models", REGISTRY_KEY, encode(with_candidate())))
    state.apply(record("figures", FIGURES_PREFIX + "w1", encode(figures(covered=40))))
    refused = promote(with_candidate(), CANDIDATE.model_id)
    assert not state.apply(record("models", REGISTRY_KEY, encode(refused)), live=True)
    other = ModelRef(model_id="l3/onnx-fp32", model="minilm-l3", backend="onnx")
    built_on_it = add(refused, other)  # the next operator change, made from the topic's newest record
    assert not state.apply(record("models", REGISTRY_KEY, encode(built_on_it)), live=True)
    assert state.registry.active == ACTIVE and state.refused == {"gates": 2}


def test_an_active_model_that_no_promote_made_active_is_refused() -> None:
    state = ControlState(TOPICS)
    state.apply(record("models", REGISTRY_KEY, encode(with_candidate())))
    swapped = with_candidate().model_copy(update={"active": CANDIDATE, "revision": 5})
    assert not state.apply(record("models", REGISTRY_KEY, encode(swapped)), live=True)
    assert state.registry.active == ACTIVE


def test_a_lower_revision_is_ignored_and_live_records_are_verified_too(keys: tuple[Signer, Verifier]) -> None:
    signer, verifier = keys
    state = ControlState(TOPICS, verifier)
    newer = with_candidate().model_copy(update={"revision": 7})
    assert state.apply(signed(signer, newer), live=True)
    assert not state.apply(signed(signer, with_candidate()), live=True)  # revision 2 after 7
    assert not state.apply(record("models", REGISTRY_KEY, encode(newer.model_copy(update={"revision": 8}))), live=True)
    assert state.registry.revision == 7 and state.refused == {"unsigned": 1}


def test_a_malformed_header_or_histogram_is_counted_never_raised(keys: tuple[Signer, Verifier]) -> None:
    state = ControlState(TOPICS, keys[1])
    value = encode(with_candidate())
    assert not state.apply(record("models", REGISTRY_KEY, value, [("helpstream-signature", None)]))  # type: ignore[list-item]
    short = encode(figures(covered=83)).replace(b'"counts":[0', b'"counts":[', 1)
    state.apply(record("figures", FIGURES_PREFIX + "w1", short))
    assert state.refused == {"unsigned": 1, "unreadable": 1} and state.figures == {}


def test_an_operator_with_only_the_signing_key_skips_records_it_did_not_sign(tmp_path: Path) -> None:
    from streams.settings import Settings

    private, _ = generate(tmp_path)
    state = ControlState.of(Settings(registry_signing_key=private))  # type: ignore[call-arg]
    assert not state.apply(record(state.topics.registry, REGISTRY_KEY, encode(with_candidate())))
    assert state.registry.revision == 0 and state.refused == {"unsigned": 1}


def interleaved(worker: str, at: datetime, wins: int, losses: int, active: str = ACTIVE.model_id) -> WorkerFigures:
    tally = ModelTally()
    tally.answered(5, [40] * 30)
    tally.interleaved = 10 * (wins + losses)
    for vote, count in (("candidate", wins), ("active", losses)):
        for _ in range(count):
            tally.voted(vote)
    return WorkerFigures(
        worker=worker,
        at=at,
        registry_revision=2,
        active=active,
        interleave_share=0.2,
        models={
            ACTIVE.model_id: ModelTally().figures(loaded=True, items=83, table_items=83),
            CANDIDATE.model_id: tally.figures(loaded=True, items=83, table_items=83),
        },
    )


def judged_five_minutes_after_the_add() -> tuple[ControlState, datetime, Registry]:
    """The registry with the candidate added, the moment it was added, and a promote made five minutes later."""
    registry = with_candidate()
    state = ControlState(TOPICS)
    state.apply(record("models", REGISTRY_KEY, encode(registry)))
    added = registry.history[-1].at
    return state, added, stamped(promote(registry, CANDIDATE.model_id), "alice", added + timedelta(minutes=5))


def test_a_promote_counts_the_votes_of_a_worker_that_left_while_the_candidate_was_judged() -> None:
    state, added, made = judged_five_minutes_after_the_add()
    # A rolling update replaced w1 by w2: w1's votes stay the verdict's evidence; w2 has too few of its own.
    state.apply(record("figures", FIGURES_PREFIX + "w1", encode(interleaved("w1", added, 70, 30))))
    state.apply(record("figures", FIGURES_PREFIX + "w2", encode(interleaved("w2", made.history[-1].at, 6, 2))))
    assert state.apply(record("models", REGISTRY_KEY, encode(made)), live=True)
    assert state.registry.active == CANDIDATE


def test_votes_a_departed_worker_cast_against_another_active_model_do_not_count() -> None:
    state, added, made = judged_five_minutes_after_the_add()
    before = interleaved("w1", added, 70, 30, active="l3/onnx-fp32")
    state.apply(record("figures", FIGURES_PREFIX + "w1", encode(before)))
    state.apply(record("figures", FIGURES_PREFIX + "w2", encode(interleaved("w2", made.history[-1].at, 6, 2))))
    assert not state.apply(record("models", REGISTRY_KEY, encode(made)), live=True)
    assert state.refused == {"gates": 1} and state.registry.active == ACTIVE


def test_a_promote_arriving_after_a_gone_workers_report_was_deleted_is_still_judged_with_its_votes() -> None:
    state, added, made = judged_five_minutes_after_the_add()
    state.apply(record("figures", FIGURES_PREFIX + "w1", encode(interleaved("w1", added, 70, 30))))
    state.apply(record("figures", FIGURES_PREFIX + "w2", encode(interleaved("w2", made.history[-1].at, 6, 2))))
    # A worker that followed the promote first deleted w1's report: for it, w1's votes no longer count.
    key = (FIGURES_PREFIX + "w1").encode()
    state.apply(ConsumerRecord("figures", 0, 8, 0, 0, key, None, None, len(key), 0, []))
    assert sorted(state.figures) == ["w2"]
    assert state.apply(record("models", REGISTRY_KEY, encode(made)), live=True)
    assert state.registry.active == CANDIDATE
    state.drop_deleted(state.silent_s(), -1)  # long after the deletion, its reports go from memory too
    assert sorted(state.recent) == ["w2"]
    assert sorted(state.arrived) == ["w2"]


def test_a_tombstone_of_a_worker_never_seen_is_forgotten_once_old() -> None:
    state = ControlState(TOPICS)
    key = (FIGURES_PREFIX + "w9").encode()
    state.apply(ConsumerRecord("figures", 0, 3, 0, 0, key, None, None, len(key), 0, []))
    state.drop_deleted(state.silent_s(), 60.0)
    assert sorted(state.arrived) == ["w9"]  # not yet silent long enough
    state.drop_deleted({"w9": 61.0}, 60.0)
    assert state.arrived == {} and state.recent == {}
