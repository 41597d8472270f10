"""The access check and the security headers on a real aiohttp application, without an issuer (loopback): every
caller holds every role, and a change must still come from the console's own pages."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from streams.web.access import Access, Route, identity_of
from streams.web.auth import Role
from streams.web.server import application


async def echo(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"who": identity_of(request).subject})


async def open_route(request: web.Request) -> web.Response:
    return web.Response(text="open")


@pytest.fixture
async def client() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    access = Access(None, None, "http://127.0.0.1:6066")
    app = application(public=False, middlewares=[access.middleware])
    access.add(app, Route("GET", "/thing", echo, Role.AGENT))
    access.add(app, Route("POST", "/thing", echo, Role.AGENT))
    access.add(app, Route("GET", "/open", open_route, None))
    async with TestClient(TestServer(app)) as running:
        yield running


async def test_on_loopback_without_an_issuer_the_caller_is_the_local_developer(client: TestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/thing")
    assert (response.status, await response.json()) == (200, {"who": "local"})


async def test_a_same_origin_json_change_is_accepted(client: TestClient) -> None:  # type: ignore[type-arg]
    origin = str(client.make_url("")).rstrip("/")
    response = await client.post("/thing", json={}, headers={"Origin": origin, "Sec-Fetch-Site": "same-origin"})
    assert response.status == 200


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Origin": "http://evil.example", "Content-Type": "application/json"}, 403),
        ({"Sec-Fetch-Site": "cross-site", "Content-Type": "application/json"}, 403),
        ({"Sec-Fetch-Site": "same-site", "Content-Type": "application/json"}, 403),
        ({"Content-Type": "text/plain"}, 415),
        ({"Content-Type": "application/x-www-form-urlencoded"}, 415),
    ],
)
async def test_a_change_from_another_site_or_a_form_is_refused(
    client: TestClient,  # type: ignore[type-arg]
    headers: dict[str, str],
    status: int,
) -> None:
    response = await client.post("/thing", data=b"{}", headers=headers)
    assert response.status == status
    assert (await response.json())["error"]


async def test_every_answer_carries_the_security_headers_even_a_404(client: TestClient) -> None:  # type: ignore[type-arg]
    for path in ("/thing", "/open", "/nowhere"):
        response = await client.get(path)
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"


async def test_a_body_over_the_internal_limit_is_refused_with_413(client: TestClient) -> None:  # type: ignore[type-arg]
    big = b"[" + b"0," * (64 * 1024) + b"0]"
    response = await client.post("/thing", data=big, headers={"Content-Type": "application/json"})
    assert response.status == 413
