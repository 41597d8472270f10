"""Who may use which route of the internal listener, checked before any handler runs: the caller's identity (a
bearer token, or the console's session cookie), the role the route needs, and, for a change (POST), that it
comes from this console's own pages (origin, JSON body, and the session's CSRF token).

Without an issuer (allowed on loopback only) every caller is the local developer, who holds every role, as long
as the request names a loopback host (a page elsewhere that rebinds its DNS name to 127.0.0.1 does not); the
origin and body checks still apply, so a web page elsewhere cannot post feedback through a developer's browser.
A route this table does not hold is refused: nothing is open by omission.
"""

from __future__ import annotations

import hmac
import logging
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from streams.settings import is_loopback
from streams.web.auth import LOCAL, Identity, IssuerUnavailable, OidcIssuer, Role, Unauthenticated
from streams.web.session import ConsoleLogin, Session

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_IDENTITY = web.RequestKey("identity", Identity)
CSRF_HEADER = "X-CSRF-Token"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    role: Role | None  # None: open (the sign-in routes, the console's static files)
    page: bool = False  # a page a person opens: without a session, send them to sign in


class Access:
    def __init__(self, issuer: OidcIssuer | None, login: ConsoleLogin | None, console_url: str) -> None:
        """`console_url`: the internal listener as browsers reach it, whose origin a change must come from."""
        self._issuer = issuer
        self._login = login
        parts = urllib.parse.urlsplit(console_url)
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._routes: dict[tuple[str, str], Route] = {}

    def add(self, app: web.Application, route: Route) -> None:
        app.router.add_route(route.method, route.path, route.handler)
        self._routes[(route.method, route.path)] = route

    async def who(self, request: web.Request) -> tuple[Identity, Session | None]:
        if self._issuer is None:
            return LOCAL, None
        header = request.headers.get("Authorization")
        if header is not None:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated("expected `Authorization: Bearer <token>`")
            return await self._issuer.verify(token.strip()), None
        session = self._login.session(request) if self._login is not None else None
        if session is None:
            raise Unauthenticated("sign in: a bearer token from the issuer, or the console's sign-in")
        return session.identity, session

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        route = self._routes.get((request.method, resource.canonical)) if resource is not None else None
        if resource is not None and route is None and request.method != "HEAD":
            return _refused(403, "no access rule for this route")
        if self._issuer is None and not is_loopback(_host(request)):
            return _refused(403, "without sign-in, this listener answers requests for a loopback host only")
        try:
            if route is not None and route.role is not None:
                refused = await self._check(request, route)
                if refused is not None:
                    return refused
            return await handler(request)  # open routes (the sign-in's own), and the router's 404 / 405
        except Unauthenticated as exc:
            if route is not None and route.page and self._login is not None and _browser(request):
                raise web.HTTPFound(f"/console/login?next={request.path}") from None
            return _refused(401, str(exc), challenge=True)
        except IssuerUnavailable as exc:
            logger.warning("the sign-in service cannot be reached: %s", exc)
            return _refused(503, "the sign-in service cannot be reached: try again shortly")

    async def _check(self, request: web.Request, route: Route) -> web.Response | None:
        """Why the caller may not use `route`, or None (and the caller's identity kept on the request)."""
        assert route.role is not None
        identity, session = await self.who(request)
        if not identity.has(route.role):
            return _refused(403, f"this needs the {route.role.value} role")
        if request.method not in _SAFE:
            refused = self._cross_site(request, session)
            if refused is not None:
                return refused
        request[_IDENTITY] = identity
        return None

    def _cross_site(self, request: web.Request, session: Session | None) -> web.Response | None:
        """Why a change is refused as possibly forged by another site, or None."""
        origin = request.headers.get("Origin")
        allowed = {self._origin}
        if is_loopback(_host(request)):
            allowed.add(f"{request.scheme}://{request.host}")
        if origin is not None and origin not in allowed:
            return _refused(403, "a change must come from this console's own pages (cross-origin request refused)")
        if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
            return _refused(403, "a change must come from this console's own pages (cross-site request refused)")
        if request.content_type != "application/json":
            return _refused(415, "send the change as application/json")
        if session is not None:
            token = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(token.encode(), session.csrf.encode()):
                return _refused(403, f"the {CSRF_HEADER} header is missing or does not match this session")
        return None


def _browser(request: web.Request) -> bool:
    """A person's browser opening a page (sent to sign in), rather than a program (told 401)."""
    return "text/html" in request.headers.get("Accept", "")


def identity_of(request: web.Request) -> Identity:
    """Who the access check found asking (a route with a role only)."""
    return request[_IDENTITY]


def _host(request: web.Request) -> str:
    return urllib.parse.urlsplit(f"//{request.host}").hostname or ""


def _refused(status: int, reason: str, *, challenge: bool = False) -> web.Response:
    headers = {"WWW-Authenticate": 'Bearer realm="helpstream"'} if challenge else None
    return web.json_response({"error": reason}, status=status, headers=headers)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer of both listeners: no framing, no sniffing, scripts and styles from this origin only."""
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("Cache-Control", "no-store")
