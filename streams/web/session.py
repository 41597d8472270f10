"""The console's sign-in: the OpenID Connect authorization-code flow (with PKCE and a state check) against the
issuer, ending in a session cookie sealed with Fernet (`cryptography`), so any worker holding the same key can
read it. The session carries the agent's identity and a CSRF token the console sends back on every change."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from cryptography.fernet import Fernet, InvalidToken

from streams.web.auth import Identity, IssuerUnavailable, OidcIssuer, Unauthenticated

logger = logging.getLogger(__name__)

SESSION_COOKIE = "helpstream_session"
LOGIN_COOKIE = "helpstream_login"
LOGIN_TTL_S = 600
_HTTP_TIMEOUT = aiohttp.ClientTimeout(total=10)


@dataclass(frozen=True)
class Session:
    identity: Identity
    csrf: str


class Seal:
    """Fernet-sealed cookie values: encrypted and authenticated, with their age checked when opened."""

    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key or Fernet.generate_key())

    def seal(self, purpose: str, value: dict[str, Any]) -> str:
        return self._fernet.encrypt(orjson.dumps({**value, "purpose": purpose})).decode()

    def open(self, purpose: str, sealed: str | None, ttl_s: int) -> dict[str, Any] | None:
        """The value sealed for `purpose` (a login cookie is no session), or None."""
        if not sealed:
            return None
        try:
            value = orjson.loads(self._fernet.decrypt(sealed.encode(), ttl=ttl_s))
        except (InvalidToken, orjson.JSONDecodeError):
            return None
        return value if isinstance(value, dict) and value.get("purpose") == purpose else None


class ConsoleLogin:
    """`/console/login`, `/console/callback` and `/console/logout`, and the session cookie they manage."""

    def __init__(
        self, issuer: OidcIssuer, *, client_id: str, client_secret: str, base_url: str, key: str, ttl_s: int
    ) -> None:
        self._issuer = issuer
        self._client_id = client_id
        self._client_secret = client_secret
        self._base_url = base_url
        self._secure = base_url.startswith("https://")
        self._seal = Seal(key)
        self._ttl_s = ttl_s

    @property
    def redirect_uri(self) -> str:
        return f"{self._base_url}/console/callback"

    def session(self, request: web.Request) -> Session | None:
        value = self._seal.open(SESSION_COOKIE, request.cookies.get(SESSION_COOKIE), self._ttl_s)
        if value is None or value["until"] <= time.time():
            return None
        identity = Identity(value["sub"], value["name"], frozenset(value["roles"]), value["until"])
        return Session(identity, value["csrf"])

    async def login(self, request: web.Request) -> web.StreamResponse:
        metadata = await self._issuer.metadata()
        state, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        query = {
            "response_type": "code",
            "client_id": self._client_id,
            "redirect_uri": self.redirect_uri,
            "scope": "openid profile",
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        response = web.HTTPFound(f"{metadata['authorization_endpoint']}?{urllib.parse.urlencode(query)}")
        after = request.query.get("next", "/console")
        sealed = self._seal.seal(LOGIN_COOKIE, {"state": state, "verifier": verifier, "next": _local_path(after)})
        self._cookie(response, LOGIN_COOKIE, sealed, LOGIN_TTL_S)
        return response

    async def callback(self, request: web.Request) -> web.StreamResponse:
        login = self._seal.open(LOGIN_COOKIE, request.cookies.get(LOGIN_COOKIE), LOGIN_TTL_S)
        state = request.query.get("state", "")
        if login is None or not hmac.compare_digest(state.encode(), str(login["state"]).encode()):
            raise Unauthenticated("the sign-in expired or did not start here: open /console/login again")
        if "error" in request.query:
            raise Unauthenticated(f"the issuer refused the sign-in: {request.query['error']}")
        tokens = await self._exchange(request.query.get("code", ""), str(login["verifier"]))
        identity = await self._issuer.verify(str(tokens.get("access_token", "")))
        # No longer than the issuer's own sign-in lasts: a person disabled there is out here by then.
        lasts = min(self._ttl_s, int(tokens.get("refresh_expires_in") or tokens.get("expires_in") or self._ttl_s))
        session = {
            "sub": identity.subject,
            "name": identity.name,
            "roles": sorted(identity.roles),
            "csrf": secrets.token_urlsafe(24),
            "until": time.time() + lasts,
        }
        response = web.HTTPFound(str(login["next"]))
        self._cookie(response, SESSION_COOKIE, self._seal.seal(SESSION_COOKIE, session), lasts)
        response.del_cookie(LOGIN_COOKIE, path="/console")
        logger.info("console sign-in of %s with roles %s", identity.subject, ",".join(sorted(identity.roles)))
        return response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        response = web.Response(text="Signed out of the helpstream console.\n", content_type="text/plain")
        response.del_cookie(SESSION_COOKIE, path="/")
        return response

    async def _exchange(self, code: str, verifier: str) -> dict[str, Any]:
        metadata = await self._issuer.metadata()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "client_id": self._client_id,
            "client_secret": self._client_secret,
            "code_verifier": verifier,
        }
        try:
            async with (
                aiohttp.ClientSession(timeout=_HTTP_TIMEOUT) as http,
                http.post(metadata["token_endpoint"], data=form) as response,
            ):
                body = await response.json(content_type=None)
                status = response.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise IssuerUnavailable(f"the issuer's token endpoint failed ({type(exc).__name__})") from None
        if status != 200 or not isinstance(body, dict):
            error = body.get("error") if isinstance(body, dict) else status
            raise Unauthenticated(f"the issuer refused the sign-in code: {error}")
        return body

    def _cookie(self, response: web.StreamResponse, name: str, value: str, max_age: int) -> None:
        path = "/console" if name == LOGIN_COOKIE else "/"
        response.set_cookie(name, value, max_age=max_age, path=path, httponly=True, samesite="Lax", secure=self._secure)


_CONSOLE_PATH = re.compile(r"/console(/[A-Za-z0-9_\-/]*)?")


def _local_path(path: str) -> str:
    """Where to go after the sign-in: a console page of this listener only (no open redirect, no header tricks)."""
    return path if _CONSOLE_PATH.fullmatch(path) else "/console"
