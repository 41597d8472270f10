"""An agent signs in to the console through Keycloak in Chromium (the authorization-code flow), sees a chat live,
uses a saved response, and the feedback carries who they are; a page on another origin that posts a form to the
console with the agent's cookie is refused. Screenshots of the sign-in and the console are left in the test's
output directory and named in the figures."""

from __future__ import annotations

import http.server
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import orjson
import pytest

from streams.local.ports import free_port
from streams.local.worker import WorkerProcess
from streams.settings import Settings
from tests.integration.clients import chat, consume_keys, produce_json
from tests.oidc import PASSWORD, Oidc
from tests.services import chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as running:
        yield running


@pytest.fixture
def attacker_site(signed_in: tuple[Settings, WorkerProcess]) -> Iterator[str]:
    """A page on another origin (same host, another port: same-site, so a Lax cookie goes along) whose form
    posts forged feedback to the console as a text/plain body, the trick that slips past CORS preflight."""
    _, worker = signed_in
    page = (
        f'<form id="f" method="POST" action="{worker.url}/console/feedback" enctype="text/plain">'
        '<input name=\'{"chat_id":"forged","content_id":"card_arrival","rank":1,"action":"used","x":"\' value=\'"}\'>'
        "</form><script>document.getElementById('f').submit()</script>"
    ).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_an_agent_signs_in_through_keycloak_uses_a_response_and_a_cross_site_form_is_refused(
    browser: Any,
    signed_in: tuple[Settings, WorkerProcess],
    attacker_site: str,
    oidc: Oidc,
    tmp_path: Path,
    figures: list[tuple[str, str]],
) -> None:
    settings, worker = signed_in
    context = browser.new_context(viewport={"width": 1000, "height": 800})
    page = context.new_page()
    try:
        page.goto(f"{worker.url}/console")
        page.wait_for_selector("#username", timeout=30_000)  # Keycloak's sign-in form
        assert page.url.startswith(settings.oidc_issuer)
        page.fill("#username", "ann")
        page.fill("#password", PASSWORD)
        page.screenshot(path=str(tmp_path / "sign-in.png"))
        page.click("#kc-login")
        page.wait_for_selector("#status.live", timeout=30_000)
        assert page.url == f"{worker.url}/console"
        assert page.locator("#agent").inner_text() == "ann"
        cookie = next(c for c in context.cookies() if c["name"] == "helpstream_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"

        chat_id = f"si-{uuid.uuid4().hex[:6]}"
        produce_json(settings.broker, settings.topic_chat, [chat(chat_id, "my card has not arrived yet")])
        first = page.locator(f'article[data-chat-id="{chat_id}"] button.response').first
        first.wait_for(timeout=10_000)
        first.click()
        page.wait_for_selector(f'article[data-chat-id="{chat_id}"] button.response.used', timeout=10_000)
        page.screenshot(path=str(tmp_path / "console.png"), full_page=True)
        (message,) = consume_keys(settings.broker, settings.topic_feedback, [chat_id.encode()], 30).values()
        ann = jwt.decode(oidc.token("ann"), options={"verify_signature": False})["sub"]
        assert orjson.loads(message.value)["agent"] == ann
        me = page.evaluate("() => fetch('/console/whoami').then((r) => r.json())")
        assert me["name"] == "ann" and me["roles"] == ["agent"] and me["csrf"]

        refused = []
        attack = context.new_page()
        attack.on("response", lambda r: refused.append(r.status) if r.url.endswith("/console/feedback") else None)
        attack.goto(attacker_site)
        attack.wait_for_load_state("networkidle")
        assert refused == [403]  # the agent's cookie went along; the origin check refused it
        assert not consume_keys(settings.broker, settings.topic_feedback, [b"forged"], 3)
    finally:
        context.close()
    figures.append(("console sign-in: Keycloak's form, then", str(tmp_path / "sign-in.png")))
    figures.append(("console after sign-in and one used response", str(tmp_path / "console.png")))
