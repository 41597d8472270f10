"""A search flood on a worker's public listener, run as a process of its own so that its CPU does not bend the
measuring client: `python -m tests.security.flood URL SECONDS CLIENTS`. Each client has a loopback address of
its own (127.0.0.2, 127.0.0.3, …: every address in 127/8 is this machine), keeps one connection, and asks
searches as long as the help screen takes (256 characters), back to back, never waiting for `Retry-After`.
Prints one JSON line: the answers by status, timeouts, the slowest answer."""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections import Counter

import aiohttp
import orjson

CLIENT_TIMEOUT_S = 5.0


async def client(url: str, address: str, until: float, statuses: Counter[str], slowest: list[float]) -> None:
    words = ["card", "arrived", "transfer", "pending", "refund", "account", "blocked", "fee"]
    rng = random.Random(address)
    timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_S)
    connector = aiohttp.TCPConnector(local_addr=(address, 0), limit=1)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        while time.monotonic() < until:
            query = " ".join(rng.choice(words) for _ in range(60))[:256]
            started = time.monotonic()
            try:
                async with http.get(f"{url}/search", params={"q": query}) as response:
                    await response.read()
                    statuses[str(response.status)] += 1
            except TimeoutError:
                statuses["timeout"] += 1
            except aiohttp.ClientError as exc:
                statuses[type(exc).__name__] += 1
                await asyncio.sleep(0.05)
            slowest[0] = max(slowest[0], time.monotonic() - started)


async def flood(url: str, seconds: float, clients: int) -> dict[str, object]:
    statuses: Counter[str] = Counter()
    slowest = [0.0]
    until = time.monotonic() + seconds
    await asyncio.gather(
        *(client(url, f"127.0.{(i + 2) // 256}.{(i + 2) % 256}", until, statuses, slowest) for i in range(clients))
    )
    return {"statuses": dict(statuses), "slowest_s": round(slowest[0], 3), "seconds": seconds, "clients": clients}


if __name__ == "__main__":
    summary = asyncio.run(flood(sys.argv[1], float(sys.argv[2]), int(sys.argv[3])))
    sys.stdout.write(orjson.dumps(summary).decode() + "\n")
