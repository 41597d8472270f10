"""Who can reach what, on a running worker with Apache Kafka, Redis and Keycloak: the public listener serves the
help screen and nothing else; every internal route refuses a missing, expired, foreign, forged or unsigned token
(401) and the wrong role (403); agents' feedback cannot be forged, repeated, or sent from another site; the
issuer's keys can rotate; and checking a token costs what the last test prints."""

from __future__ import annotations

import asyncio
import http.client
import queue
import socket
import threading
import time
import urllib.parse
import urllib.request
import uuid
from typing import Any

import jwt
import orjson
import pytest

from index.cpu import this_cpu
from streams.local.worker import WorkerProcess
from streams.settings import Settings
from streams.web.auth import OidcIssuer
from tests.integration.clients import chat, consume_keys, produce_json
from tests.oidc import AUDIENCE, Oidc
from tests.services import wait_until

Response = tuple[int, dict[str, str], bytes]


def call(
    url: str, *, method: str = "GET", token: str | None = None, body: bytes | None = None, **headers: str
) -> Response:
    """(status, headers, body) of one request on a connection of its own, closed after; an event stream's body is
    not read."""
    parts = urllib.parse.urlsplit(url)
    sent = {k.replace("_", "-"): v for k, v in headers.items()}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), body, sent)
        response = connection.getresponse()
        stream = response.getheader("Content-Type", "").startswith("text/event-stream")
        return response.status, dict(response.getheaders()), b"" if stream else response.read()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def tokens(oidc: Oidc) -> dict[str, str]:
    ann = oidc.token("ann")
    unsigned = jwt.encode(jwt.decode(ann, options={"verify_signature": False}), None, algorithm="none")
    shared_secret = jwt.encode(
        jwt.decode(ann, options={"verify_signature": False}), "a-guessable-secret-of-32-bytes!!", algorithm="HS256"
    )
    return {
        "ann": ann,
        "bob": oidc.token("bob"),
        "olga": oidc.token("olga"),
        "max": oidc.token("max"),
        "nina": oidc.token("nina"),
        "expired": oidc.expired_token("ann"),
        "other audience": oidc.token("ann", "other-app"),
        "another key": oidc.forged_token(ann),
        "unsigned": unsigned,
        "shared secret": shared_secret,
    }


# (method, path, the role it needs); a body where the route takes one
INTERNAL = [
    ("GET", "/console", "agent"),
    ("GET", "/console/whoami", "agent"),
    ("GET", "/console/events", "agent"),
    ("POST", "/console/feedback", "agent"),
    ("GET", "/recommendations/c-1", "agent"),
    ("GET", "/search?q=card&kind=saved_response", "agent"),
    ("GET", "/console/models", "operator"),
    ("GET", "/models", "operator"),
    ("GET", "/healthz", "monitor"),
    ("GET", "/metrics", "monitor"),
]
HOLDER = {"agent": "ann", "operator": "olga", "monitor": "max"}
NOT_HOLDER = {"agent": "max", "operator": "ann", "monitor": "ann"}
BAD = ["expired", "other audience", "another key", "unsigned", "shared secret"]


def _json_post(token: str | None = None) -> dict[str, Any]:
    return {"method": "POST", "body": b"{}", "Content_Type": "application/json", "token": token}


@pytest.mark.parametrize(("method", "path", "role"), INTERNAL, ids=[f"{m} {p}" for m, p, _ in INTERNAL])
def test_every_internal_route_refuses_bad_tokens_and_the_wrong_role_and_admits_the_right_one(
    signed_in: tuple[Settings, WorkerProcess], tokens: dict[str, str], method: str, path: str, role: str
) -> None:
    _, worker = signed_in
    url = worker.url + path

    def ask(token: str | None) -> Response:
        return call(url, **_json_post(token)) if method == "POST" else call(url, token=token)

    status, headers, body = ask(None)
    assert status == 401, body
    assert headers["WWW-Authenticate"].startswith("Bearer")
    for bad in BAD:
        status, _, body = ask(tokens[bad])
        assert status == 401, (bad, body)
        assert orjson.loads(body)["error"]
    for other in (NOT_HOLDER[role], "nina"):
        status, _, body = ask(tokens[other])
        assert status == 403, (other, body)
        assert role in orjson.loads(body)["error"]
    status, _, body = ask(tokens[HOLDER[role]])
    assert status not in (401, 403), body


def test_why_a_token_is_refused_is_said(signed_in: tuple[Settings, WorkerProcess], tokens: dict[str, str]) -> None:
    _, worker = signed_in
    reasons = {bad: orjson.loads(call(worker.url + "/healthz", token=tokens[bad])[2])["error"] for bad in BAD}
    assert "expired" in reasons["expired"]
    assert "audience" in reasons["other audience"]
    assert "does not verify" in reasons["another key"]
    assert "not accepted" in reasons["unsigned"] and "not accepted" in reasons["shared secret"]


def test_a_browser_without_a_session_is_sent_to_sign_in(signed_in: tuple[Settings, WorkerProcess]) -> None:
    _, worker = signed_in
    status, headers, _ = call(worker.url + "/console", Accept="text/html")
    assert (status, headers["Location"]) == (302, "/console/login?next=/console")


PUBLIC_ONLY_HELP = ["/console", "/console/events", "/console/feedback", "/healthz", "/metrics", "/models",
                    "/recommendations/c-1", "/static/console.js", "/", "/table/content-vectors/card_arrival/",
                    "/router"]  # fmt: skip


def test_the_public_listener_serves_the_help_screen_and_nothing_else(
    signed_in: tuple[Settings, WorkerProcess], tokens: dict[str, str]
) -> None:
    _, worker = signed_in
    for path in ("/help", "/static/help.js", "/static/style.css", "/search?q=card%20not%20arrived"):
        assert call(worker.public_url + path)[0] == 200, path
    status, _, body = call(worker.public_url + "/readyz")
    assert (status, orjson.loads(body)) == (200, {"status": "ok"})  # no hosts, model paths or counts
    for path in PUBLIC_ONLY_HELP:
        assert call(worker.public_url + path, token=tokens["ann"])[0] == 404, path
    # Faust's own routes answer on neither listener.
    for path in ("/", "/table/content-vectors/card_arrival/", "/router"):
        assert call(worker.url + path, token=tokens["ann"])[0] == 404, path


def test_the_public_search_never_returns_saved_responses(signed_in: tuple[Settings, WorkerProcess]) -> None:
    _, worker = signed_in
    status, _, body = call(worker.public_url + "/search?q=card%20not%20arrived&k=50")
    assert status == 200
    assert {r["kind"] for r in orjson.loads(body)["results"]} == {"help_article"}
    status, _, body = call(worker.public_url + "/search?q=card%20not%20arrived&kind=saved_response")
    assert status == 400
    assert b"saved_response" not in body.replace(b"kind must be one of help_article", b"")


def test_every_answer_carries_the_security_headers(
    signed_in: tuple[Settings, WorkerProcess], tokens: dict[str, str]
) -> None:
    _, worker = signed_in
    for url, token in [
        (worker.public_url + "/help", None),
        (worker.public_url + "/nowhere", None),
        (worker.url + "/healthz", None),
        (worker.url + "/console", tokens["ann"]),
    ]:
        _, headers, _ = call(url, token=token)
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], url
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"


class ConsoleFeed:
    """An agent's console feed (`/console/events`) read on a thread: the chat ids it was shown with
    recommendations."""

    def __init__(self, worker: WorkerProcess, token: str) -> None:
        parts = urllib.parse.urlsplit(worker.url)
        self._connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
        self._connection.request("GET", "/console/events", headers={"Authorization": f"Bearer {token}"})
        self._response = self._connection.getresponse()
        assert self._response.status == 200
        self.shown: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            while line := self._response.readline():
                if line.startswith(b"data: "):
                    view = orjson.loads(line[6:])
                    if view.get("items"):
                        self.shown.put(view["chat_id"])
        except Exception:
            return  # closed by the test

    def wait_for(self, chat_id: str, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if self.shown.get(timeout=1) == chat_id:
                    return
            except queue.Empty:
                pass
        raise AssertionError(f"chat {chat_id} was not shown in {timeout_s} s")

    def close(self) -> None:
        if self._connection.sock is not None:
            self._connection.sock.shutdown(socket.SHUT_RDWR)
        self._reader.join(10)
        self._connection.close()


def feedback(worker: WorkerProcess, token: str | None, chat_id: str, **headers: str) -> tuple[int, Any]:
    body = orjson.dumps({"chat_id": chat_id, "content_id": "card_arrival", "rank": 1, "action": "used"})
    headers.setdefault("Content_Type", "application/json")
    status, _, answer = call(worker.url + "/console/feedback", method="POST", token=token, body=body, **headers)
    return status, orjson.loads(answer)


def test_feedback_counts_once_per_chat_only_from_an_agent_it_was_shown_to(
    signed_in: tuple[Settings, WorkerProcess], tokens: dict[str, str], oidc: Oidc, figures: list[tuple[str, str]]
) -> None:
    settings, worker = signed_in
    counted_before = worker.metric("helpstream_model_feedback_total")
    ann_console = ConsoleFeed(worker, tokens["ann"])
    first, second = f"fb-{uuid.uuid4().hex[:6]}", f"fb-{uuid.uuid4().hex[:6]}"
    try:
        produce_json(settings.broker, settings.topic_chat, [chat(first, "my card has not arrived")])
        ann_console.wait_for(first)
        # Forged or out of place: nothing is published, nothing counts.
        assert feedback(worker, None, first)[0] == 401
        assert feedback(worker, tokens["bob"], first)[0] == 403  # bob's console never showed it
        assert feedback(worker, tokens["max"], first)[0] == 403  # not an agent
        status, answer = feedback(worker, tokens["ann"], first, Origin="http://evil.example")
        assert (status, "cross-origin" in answer["error"]) == (403, True)
        assert feedback(worker, tokens["ann"], first, Content_Type="text/plain")[0] == 415  # a cross-site form
        assert feedback(worker, tokens["ann"], first, Sec_Fetch_Site="cross-site")[0] == 403
        # The agent it was shown to: once.
        status, answer = feedback(worker, tokens["ann"], first)
        assert (
            status == 202 and answer["agent"] == jwt.decode(tokens["ann"], options={"verify_signature": False})["sub"]
        )
        assert feedback(worker, tokens["ann"], first)[0] == 409
        # Two agents shown the same chat each vote once; the chat counts once.
        bob_console = ConsoleFeed(worker, tokens["bob"])
        try:
            produce_json(settings.broker, settings.topic_chat, [chat(second, "card still not here")])
            ann_console.wait_for(second)
            bob_console.wait_for(second)
            assert feedback(worker, tokens["ann"], second)[0] == 202
            assert feedback(worker, tokens["bob"], second)[0] == 202
        finally:
            bob_console.close()
    finally:
        ann_console.close()

    events = consume_keys(settings.broker, settings.topic_feedback, {first.encode(), second.encode()}, 30)
    assert set(events) == {first.encode(), second.encode()}
    wait_until(lambda: worker.metric("helpstream_model_feedback_total") == counted_before + 2, 30, 0.5)
    time.sleep(2)  # anything forged or repeated would have been counted by now
    assert worker.metric("helpstream_model_feedback_total") == counted_before + 2
    assert worker.metric("helpstream_feedback_refused_total", reason="not shown") >= 1
    assert worker.metric("helpstream_feedback_refused_total", reason="second vote") >= 1
    figures.append(("forged feedback: 6 attempts refused; 3 votes on 2 chats", "counted 2 (one per chat)"))


def test_a_rotated_signing_key_is_picked_up_without_a_restart(
    signed_in: tuple[Settings, WorkerProcess], oidc: Oidc, figures: list[tuple[str, str]]
) -> None:
    _, worker = signed_in
    before = oidc.token("max")
    assert call(worker.url + "/healthz", token=before)[0] == 200
    oidc.rotate_keys()
    after = oidc.token("max")
    assert jwt.get_unverified_header(after)["kid"] != jwt.get_unverified_header(before)["kid"]
    took = wait_until(lambda: call(worker.url + "/healthz", token=after)[0] == 200, 30, 0.5)
    figures.append(("a rotated OIDC signing key accepted after", f"{took:.1f} s"))


def test_the_cost_of_checking_a_token(oidc: Oidc, tokens: dict[str, str], figures: list[tuple[str, str]]) -> None:
    issuer = OidcIssuer(oidc.issuer, audience=AUDIENCE, roles_claim="realm_access.roles", leeway_s=1)
    rounds = 2000

    async def measure() -> tuple[float, frozenset[str]]:
        identity = await issuer.verify(tokens["ann"])  # the discovery document and the keys, fetched once
        started = time.perf_counter()
        for _ in range(rounds):
            await issuer.verify(tokens["ann"])
        return (time.perf_counter() - started) / rounds, identity.roles

    seconds, roles = asyncio.run(measure())
    cpu = this_cpu()
    assert roles == {"agent"}
    figures.append((f"OIDC token check (RS256, PyJWT) on {cpu.model} ({cpu.level})", f"{seconds * 1e6:.0f} µs"))
