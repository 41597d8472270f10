"""The worker's two HTTP listeners, each an aiohttp application on its own address and port:

- public (`HELPSTREAM_PUBLIC_HOST`/`_PORT`): the customer's help screen, `/help` and `/search` over help articles,
  rate-limited per client; nothing there names a chat, an agent, a model path or a host;
- internal (`HELPSTREAM_WEB_HOST`/`_PORT`): the agent console, feedback, recommendations, models, health and
  metrics, each route behind a role (`streams.web.access`).

Faust's own web server is off (`web_enabled=False`), so its routes (`/`, `/table/…`, `/router`) answer nowhere.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from mode import Service

from streams.settings import Settings
from streams.web.access import security_headers

logger = logging.getLogger(__name__)

# A search's `q` may be 4,000 characters, each up to 9 bytes percent-encoded as UTF-8.
PUBLIC_REQUEST_LINE = 40_000
INTERNAL_BODY_BYTES = 64 * 1024
PUBLIC_BODY_BYTES = 1024
HEADER_FIELD_BYTES = 8190


def application(*, public: bool, middlewares: list[Any] | None = None) -> web.Application:
    app = web.Application(
        client_max_size=PUBLIC_BODY_BYTES if public else INTERNAL_BODY_BYTES, middlewares=middlewares or []
    )
    app.on_response_prepare.append(security_headers)
    return app


class WebServer(Service):
    def __init__(self, settings: Settings, public: web.Application, internal: web.Application, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._listeners = [
            ("public", public, settings.public_host, settings.public_port, PUBLIC_REQUEST_LINE),
            ("internal", internal, settings.web_host, settings.web_port, HEADER_FIELD_BYTES),
        ]
        self._runners: list[web.AppRunner] = []

    async def on_start(self) -> None:
        for name, app, host, port, line in self._listeners:
            runner = web.AppRunner(
                app, access_log=None, handle_signals=False, max_line_size=line, max_field_size=HEADER_FIELD_BYTES
            )
            await runner.setup()
            await web.TCPSite(runner, host, port, reuse_address=True).start()
            self._runners.append(runner)
            logger.info("the %s listener is on http://%s:%s", name, host, port)

    async def on_stop(self) -> None:
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()
