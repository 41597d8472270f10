from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from index.batcher import BatcherClosed, Lane, MicroBatcher, split_by_length
from tests.unit.index.fakes import FakeEncoder, until, vector


async def test_each_caller_gets_its_own_rows(executor: ThreadPoolExecutor) -> None:
    batcher = MicroBatcher(FakeEncoder(), executor)
    a, b = await asyncio.gather(batcher.embed(["x", "yy"]), batcher.embed(["zzz"]))
    np.testing.assert_allclose(a, np.stack([vector("x"), vector("yy")]))
    np.testing.assert_allclose(b, vector("zzz")[None, :])
    await batcher.close()


async def test_concurrent_requests_share_encoder_calls_sorted_by_length_without_duplicates(
    executor: ThreadPoolExecutor,
) -> None:
    encoder = FakeEncoder(delay_s=0.05)
    batcher = MicroBatcher(encoder, executor, max_batch=64)
    texts = [f"text number {'x' * (i % 7)} {i % 20}" for i in range(40)]
    await asyncio.gather(*(batcher.embed([t]) for t in texts))
    assert encoder.calls < 10
    assert encoder.sentences == len(set(texts))
    for batch in encoder.batches:
        assert [len(t) for t in batch] == sorted(len(t) for t in batch)
    await batcher.close()


async def test_a_lone_request_is_not_held_back(executor: ThreadPoolExecutor) -> None:
    # A batcher that lingered for stragglers would hold each of these for an hour.
    batcher = MicroBatcher(FakeEncoder(), executor, max_wait_s=3600)
    async with asyncio.timeout(30):
        await batcher.embed(["alone"])
        await batcher.embed(["alone again"])
    await batcher.close()


async def test_a_long_request_is_encoded_in_chunks_of_the_max_batch(executor: ThreadPoolExecutor) -> None:
    encoder = FakeEncoder()
    batcher = MicroBatcher(encoder, executor, max_batch=4)
    texts = [f"t{i}" for i in range(10)]
    out = await batcher.embed(texts)
    np.testing.assert_allclose(out, np.stack([vector(t) for t in texts]))
    assert max(len(batch) for batch in encoder.batches) <= 4
    await batcher.close()


async def test_an_encoder_failure_reaches_every_waiting_caller_and_the_batcher_keeps_working(
    executor: ThreadPoolExecutor,
) -> None:
    class Flaky(FakeEncoder):
        def encode(self, texts: list[str]) -> np.ndarray:
            if self.calls == 0:
                self.calls += 1
                raise RuntimeError("model fell over")
            return super().encode(texts)

    batcher = MicroBatcher(Flaky(), executor)
    with pytest.raises(RuntimeError, match="model fell over"):
        await batcher.embed(["a"])
    assert (await batcher.embed(["b"])).shape == (1, 8)
    await batcher.close()


async def test_search_is_served_before_queued_chats_and_chats_before_content(executor: ThreadPoolExecutor) -> None:
    encoder = FakeEncoder()
    batcher = MicroBatcher(encoder, executor, max_batch=2)
    encoder.hold()
    busy = asyncio.ensure_future(batcher.embed(["occupies the encoder"], Lane.CHAT))
    await until(lambda: encoder.calls == 1)
    queued = [
        asyncio.ensure_future(batcher.embed([f"content {i}" for i in range(4)], Lane.CONTENT)),
        asyncio.ensure_future(batcher.embed(["chat a", "chat b"], Lane.CHAT)),
        asyncio.ensure_future(batcher.embed(["search"], Lane.SEARCH)),
    ]
    await until(lambda: sum(batcher.queued(lane) for lane in Lane) == 4)
    encoder.release()
    await asyncio.gather(busy, *queued)
    order = [text for batch in encoder.batches for text in batch]
    assert order.index("search") < order.index("chat a") < order.index("content 0")
    await batcher.close()


async def test_a_flood_of_searches_fills_at_most_half_a_batch_while_chats_wait(executor: ThreadPoolExecutor) -> None:
    encoder = FakeEncoder()
    batcher = MicroBatcher(encoder, executor, max_batch=8, max_queued=64)
    encoder.hold()
    busy = asyncio.ensure_future(batcher.embed(["occupies the encoder"], Lane.CHAT))
    await until(lambda: encoder.calls == 1)
    searches = [asyncio.ensure_future(batcher.embed([f"search {i}"], Lane.SEARCH)) for i in range(20)]
    chats = [asyncio.ensure_future(batcher.embed([f"chat {i}"], Lane.CHAT)) for i in range(4)]
    await until(lambda: batcher.queued(Lane.SEARCH) == 20 and batcher.queued(Lane.CHAT) == 4)
    encoder.release()
    await asyncio.gather(busy, *searches, *chats)
    after = encoder.batches[1]
    assert sorted(t.split()[0] for t in after) == ["chat"] * 4 + ["search"] * 4
    await batcher.close()


class Gated(FakeEncoder):
    """Two threads; a call holding a text that starts with "slow" waits for `slow` (and says it `entered`)."""

    def __init__(self) -> None:
        super().__init__(parallel=2)
        self.slow, self.entered = threading.Event(), threading.Event()

    def encode(self, texts: list[str]) -> np.ndarray:
        if any(text.startswith("slow") for text in texts):
            self.entered.set()
            self.slow.wait(30)
        return super().encode(texts)


async def test_searches_leave_the_last_idle_thread_to_chats() -> None:
    executor = ThreadPoolExecutor(max_workers=2)
    encoder = Gated()
    slow, entered = encoder.slow, encoder.entered
    batcher = MicroBatcher(encoder, executor, max_batch=8)
    held = asyncio.ensure_future(batcher.embed(["slow search"], Lane.SEARCH))
    await until(entered.is_set)
    waiting = [asyncio.ensure_future(batcher.embed([f"search {i}"], Lane.SEARCH)) for i in range(5)]
    for _ in range(20):
        await asyncio.sleep(0.01)
    assert batcher.queued(Lane.SEARCH) == 5  # the one idle thread is kept for chats
    async with asyncio.timeout(5):
        await batcher.embed(["a chat"], Lane.CHAT)  # served while the search thread is held
    slow.set()
    await asyncio.gather(held, *waiting)
    await batcher.close()
    executor.shutdown(wait=True)


async def test_a_search_is_served_while_a_chat_holds_the_other_thread() -> None:
    executor = ThreadPoolExecutor(max_workers=2)
    encoder = Gated()
    slow, entered = encoder.slow, encoder.entered
    batcher = MicroBatcher(encoder, executor, max_batch=8)
    held = asyncio.ensure_future(batcher.embed(["slow chat"], Lane.CHAT))
    await until(entered.is_set)
    async with asyncio.timeout(5):
        await batcher.embed(["a search"], Lane.SEARCH)
    slow.set()
    await held
    await batcher.close()
    executor.shutdown(wait=True)


async def test_a_full_lane_makes_callers_wait_instead_of_queueing_without_bound(executor: ThreadPoolExecutor) -> None:
    encoder = FakeEncoder()
    batcher = MicroBatcher(encoder, executor, max_batch=1, max_queued=2)
    encoder.hold()
    calls = [asyncio.ensure_future(batcher.embed([f"t{i}"], Lane.CONTENT)) for i in range(8)]
    await until(lambda: encoder.calls == 1 and batcher.queued(Lane.CONTENT) == 2)
    for _ in range(20):  # every caller gets its turn to try to queue
        await asyncio.sleep(0)
    assert batcher.queued(Lane.CONTENT) == 2  # one in the encoder, two queued, five waiting for room
    assert not any(call.done() for call in calls)
    encoder.release()
    await asyncio.gather(*calls)
    assert encoder.sentences == 8
    await batcher.close()


async def test_an_encoder_that_runs_two_calls_at_once_gets_two_batches_at_once() -> None:
    encoder = FakeEncoder(delay_s=0.05, parallel=2)
    with ThreadPoolExecutor(max_workers=2) as pool:
        batcher = MicroBatcher(encoder, pool, max_batch=2)
        await asyncio.gather(*(batcher.embed([f"t{i}", f"u{i}"]) for i in range(4)))
        await batcher.close()
    assert encoder.most_at_once == 2


async def test_a_batch_that_finds_every_thread_idle_is_split_across_them() -> None:
    encoder = FakeEncoder(delay_s=0.05, parallel=2)
    texts = [f"text {'x' * i}" for i in range(8)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        batcher = MicroBatcher(encoder, pool)
        out = await batcher.embed(texts)
        await batcher.close()
    np.testing.assert_allclose(out, np.stack([vector(t) for t in texts]))
    assert encoder.most_at_once == 2
    assert sorted(len(batch) for batch in encoder.batches) == [3, 5]  # split by total length, not count


async def test_a_small_batch_is_not_split() -> None:
    encoder = FakeEncoder(parallel=2)
    with ThreadPoolExecutor(max_workers=2) as pool:
        batcher = MicroBatcher(encoder, pool)
        await batcher.embed(["a", "b", "c"])
        await batcher.close()
    assert [sorted(batch) for batch in encoder.batches] == [["a", "b", "c"]]


@pytest.mark.parametrize("parts", [1, 2, 3, 8])
def test_split_by_length_keeps_order_and_every_text(parts: int) -> None:
    texts = sorted((f"{'x' * n}" for n in (1, 2, 3, 5, 8, 13, 21)), key=len)
    split = split_by_length(texts, parts)
    assert [t for part in split for t in part] == texts
    assert len(split) == min(parts, len(texts))
    assert all(split)


async def test_a_text_the_model_fails_on_fails_only_its_own_caller_when_merged_with_others(
    executor: ThreadPoolExecutor,
) -> None:
    class Poisoned(FakeEncoder):
        def encode(self, texts: list[str]) -> np.ndarray:
            if "poison" in texts:
                super().encode(texts)  # counted like any call
                raise RuntimeError("tokenizer exploded")
            return super().encode(texts)

    encoder = Poisoned()
    batcher = MicroBatcher(encoder, executor, max_batch=64)
    encoder.hold()
    busy = asyncio.ensure_future(batcher.embed(["occupies the encoder"]))
    await until(lambda: encoder.calls == 1)
    merged = [asyncio.ensure_future(batcher.embed(texts)) for texts in (["good a"], ["poison"], ["good b", "good c"])]
    await until(lambda: batcher.queued(Lane.CHAT) == 3)
    encoder.release()
    await busy
    results = await asyncio.gather(*merged, return_exceptions=True)

    assert any(len(batch) == 4 for batch in encoder.batches)  # the three requests did share a call
    np.testing.assert_allclose(results[0], vector("good a")[None, :])  # type: ignore[arg-type]
    assert isinstance(results[1], RuntimeError)
    np.testing.assert_allclose(results[2], np.stack([vector("good b"), vector("good c")]))  # type: ignore[arg-type]
    await batcher.close()


async def test_a_batcher_that_defers_waits_while_the_active_models_batcher_has_work() -> None:
    active_encoder, shadow_encoder = FakeEncoder(), FakeEncoder()
    with ThreadPoolExecutor(2) as one, ThreadPoolExecutor(2) as two:
        active = MicroBatcher(active_encoder, one)
        shadow = MicroBatcher(shadow_encoder, two, defer_to=lambda: active)
        await shadow.embed(["while the active model is idle"])  # its runner now waits for the next request
        shadow_encoder.calls = 0
        active_encoder.hold()
        chat = asyncio.ensure_future(active.embed(["a chat"]))
        await until(lambda: active_encoder.calls == 1)
        scored = asyncio.ensure_future(shadow.embed(["the same chat, shadow-scored"]))
        await asyncio.sleep(0.1)
        assert shadow_encoder.calls == 0 and not active.idle  # the candidate takes no core from the chat
        active_encoder.release()
        await chat
        await asyncio.wait_for(scored, 10)
        assert shadow_encoder.calls == 1 and active.idle
        await active.close()
        await shadow.close()


async def test_the_model_time_of_a_request_leaves_out_its_wait_in_the_queue(executor: ThreadPoolExecutor) -> None:
    encoder = FakeEncoder(delay_s=0.05)
    batcher = MicroBatcher(encoder, executor)
    encoder.hold()
    first = asyncio.ensure_future(batcher.embed(["first"]))
    await until(lambda: encoder.calls == 1)
    timing: list[tuple[float, float]] = []
    asked = time.time()
    second = asyncio.ensure_future(batcher.embed(["second"], timing=timing))
    await asyncio.sleep(0.3)  # queued behind the held call
    encoder.release()
    await asyncio.gather(first, second)
    [(start, seconds)] = timing
    assert 0.04 <= seconds < 0.25  # its own call, not the wait behind the held one
    assert start - asked >= 0.29  # the wait is before its start
    await batcher.close()


async def busy(batcher: MicroBatcher, encoder: FakeEncoder) -> asyncio.Future[np.ndarray]:
    """A model call that holds the encoder until `encoder.release()`."""
    encoder.hold()
    call = asyncio.ensure_future(batcher.embed(["keeps the model busy"]))
    await until(lambda: encoder.calls == 1)
    return call


async def test_closing_fails_the_requests_still_waiting_so_no_caller_hangs(executor: ThreadPoolExecutor) -> None:
    encoder = FakeEncoder()
    batcher = MicroBatcher(encoder, executor)
    running = await busy(batcher, encoder)
    queued = asyncio.ensure_future(batcher.embed(["queued behind it"]))
    await asyncio.sleep(0.01)
    await batcher.close()
    encoder.release()
    for request in (running, queued):
        with pytest.raises(BatcherClosed):
            await asyncio.wait_for(request, 5)


async def test_after_close_a_request_fails_at_once_instead_of_restarting_the_batcher(
    executor: ThreadPoolExecutor,
) -> None:
    batcher = MicroBatcher(FakeEncoder(), executor)
    await batcher.close()
    with pytest.raises(BatcherClosed):
        await asyncio.wait_for(batcher.embed(["too late"]), 5)


async def test_a_request_its_caller_gave_up_on_is_not_encoded(executor: ThreadPoolExecutor) -> None:
    encoder = FakeEncoder()
    batcher = MicroBatcher(encoder, executor)
    first = await busy(batcher, encoder)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(batcher.embed(["given up"]), 0.05)  # what a content edit does after 2 s
    encoder.release()
    await first
    await batcher.embed(["next"])
    assert ["given up"] not in encoder.batches
    await batcher.close()
