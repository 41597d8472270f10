"""HTTP abuse of a worker while chats flow: odd requests get a 4xx saying why, never a 5xx; 1000 searches from
64 concurrent clients all answer 200; and every chat sent meanwhile is recommended."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import aiohttp

from streams.settings import Settings
from tests.fixtures import Workers
from tests.reliability.harness import Outcomes, Traffic

ODD_REQUESTS = [
    ("GET", "/search", 400),
    ("GET", "/search?q=", 400),
    ("GET", "/search?q=%20%20%20", 400),
    ("GET", "/search?q=card&k=0", 400),
    ("GET", "/search?q=card&k=-3", 400),
    ("GET", "/search?q=card&k=51", 400),
    ("GET", "/search?q=card&k=1e9", 400),
    ("GET", "/search?q=card&k=99999999999999999999999", 400),
    ("GET", "/search?q=card&kind=faq", 400),
    ("GET", "/search?q=card&kind=", 400),
    ("GET", "/search?q=" + "x" * 4001, 400),
    ("GET", "/search?q=%FF%FE", 200),  # undecodable bytes become replacement characters: still a query
    ("GET", "/search?q=card&q=lost", 200),
    ("GET", "/search?q=%00", 200),
    ("POST", "/search?q=card", 405),
    ("DELETE", "/healthz", 405),
    ("GET", "/recommendations/", 404),
    ("GET", "/recommendations/" + "c" * 3000, 404),
    ("GET", "/nothing-here", 404),
    ("GET", "/../../etc/passwd", 404),
    ("GET", "/static/..%2F..%2Fsettings.py", 404),
    ("GET", "/static/console.html", 404),
    ("POST", "/console/feedback", 415),  # no JSON body: a form could send this cross-site
    ("GET", "/console/feedback", 405),
]


async def abuse(base: str, searches: int, clients: int) -> tuple[list[tuple[str, str, int, int]], list[int], float]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        odd = []
        for method, path, expected in ODD_REQUESTS:
            async with session.request(method, base + path) as response:
                await response.read()
                odd.append((method, path[:60], expected, response.status))
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(searches):
            queue.put_nowait(i)
        statuses: list[int] = []

        async def client() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                async with session.get(base + "/search", params={"q": f"card lost {i}", "k": "5"}) as response:
                    await response.read()
                    statuses.append(response.status)

        started = time.monotonic()
        await asyncio.gather(*(client() for _ in range(clients)))
        return odd, statuses, time.monotonic() - started


def test_odd_requests_get_4xx_and_a_search_storm_gets_200s_while_chats_flow(
    make_settings: Callable[..., Settings], workers: Workers, figures: list[tuple[str, str]]
) -> None:
    settings = make_settings()
    worker = workers.start_with_demo_content(settings, "http-abuse")
    with Outcomes(settings) as outcomes:
        traffic = Traffic(settings, f"http-{uuid.uuid4().hex[:4]}", rate=20).start()
        odd, statuses, seconds = asyncio.run(abuse(worker.url, searches=1000, clients=64))
        time.sleep(max(0.0, 5 - seconds))  # chats flow before, during and after the storm
        sent = traffic.stop()
        outcomes.wait_settled(sent, 120)
        account = outcomes.account(
            f"1000 searches from 64 clients and {len(ODD_REQUESTS)} odd requests, chats at 20/s", sent
        )
    assert [(m, p, got) for m, p, expected, got in odd if got != expected] == []
    assert statuses.count(200) == len(statuses) == 1000
    assert account.lost == 0 and account.dead_lettered == 0
    assert worker.process is not None and worker.process.poll() is None
    figures.append(account.row())
    figures.append(("reliability: search storm", f"1000 searches, all 200, {1000 / seconds:.0f} req/s with 64 clients"))
