"""Who is asking: an OpenID Connect access token verified against the issuer's published keys (JWKS) with PyJWT,
turned into an `Identity` with the roles of one claim. Keys are fetched again when a token names a key the worker
has not seen (the issuer rotated its keys), at most once per `REFETCH_S` (a failed fetch counts too), and once they
are `KEYS_MAX_AGE_S` old (a key the issuer withdrew stops being trusted)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import aiohttp
import jwt

logger = logging.getLogger(__name__)

# Asymmetric algorithms only: a token signed with a shared secret (HS256) or none is refused whatever its key.
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
REFETCH_S = 10.0
KEYS_MAX_AGE_S = 3600.0
_HTTP_TIMEOUT = aiohttp.ClientTimeout(total=10)


class Role(StrEnum):
    AGENT = "agent"  # the console, feedback, recommendations, search over saved responses
    OPERATOR = "operator"  # the models page and the registry's figures
    MONITOR = "monitor"  # health and metrics


@dataclass(frozen=True)
class Identity:
    subject: str
    name: str
    roles: frozenset[str]
    expires_at: float | None = None  # epoch seconds: the token's `exp`, or the end of a console session

    def has(self, role: Role) -> bool:
        return role.value in self.roles


# On loopback without an issuer (a developer's laptop) every route is open: the one person there holds every role.
LOCAL = Identity("local", "local developer", frozenset(Role))


class Unauthenticated(Exception):
    """No credentials, or credentials that do not verify: 401, with the reason."""


class IssuerUnavailable(Exception):
    """The issuer's keys cannot be fetched, so no token can be checked: 503, not a verdict on the token."""


def roles_of(claims: Mapping[str, Any], path: str) -> frozenset[str]:
    """The roles listed under a dotted claim path (Keycloak: `realm_access.roles`); none where it is absent."""
    found: Any = claims
    for part in path.split("."):
        found = found.get(part) if isinstance(found, Mapping) else None
    if isinstance(found, str):
        return frozenset(found.split())
    if isinstance(found, list):
        return frozenset(role for role in found if isinstance(role, str))
    return frozenset()


class OidcIssuer:
    """An issuer's endpoints (from its discovery document) and keys, and the check of its tokens."""

    def __init__(self, issuer: str, *, audience: str, roles_claim: str, leeway_s: float) -> None:
        self.issuer = issuer
        self.audience = audience
        self.roles_claim = roles_claim
        self.leeway_s = leeway_s
        self._metadata: dict[str, Any] | None = None
        self._keys: jwt.PyJWKSet | None = None
        self._fetched_at = -REFETCH_S
        self._lock = asyncio.Lock()

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            url = f"{self.issuer}/.well-known/openid-configuration"
            document = await _get_json(url)
            if document.get("issuer") != self.issuer:
                raise IssuerUnavailable(f"the discovery document at {url} names another issuer")
            self._metadata = document
        return self._metadata

    async def _signing_key(self, kid: str | None) -> jwt.PyJWK:
        async with self._lock:
            key = self._find(kid)
            age = time.monotonic() - self._fetched_at
            if (key is None and age >= REFETCH_S) or age >= KEYS_MAX_AGE_S:
                self._fetched_at = time.monotonic()  # a failed fetch waits its turn as well
                self._keys = await self._fetch_keys()
                key = self._find(kid)
        if key is None:
            raise Unauthenticated("the token is signed by a key the issuer does not publish")
        return key

    async def _fetch_keys(self) -> jwt.PyJWKSet:
        uri = (await self.metadata()).get("jwks_uri")
        if not isinstance(uri, str):
            raise IssuerUnavailable(f"{self.issuer} publishes no jwks_uri")
        try:
            keys = jwt.PyJWKSet.from_dict(await _get_json(uri))
        except jwt.PyJWKSetError as exc:
            raise IssuerUnavailable(f"{uri} holds no usable key: {exc}") from None
        logger.info("fetched %s signing keys from %s", len(keys.keys), self.issuer)
        return keys

    def _find(self, kid: str | None) -> jwt.PyJWK | None:
        if self._keys is None:
            return None
        for key in self._keys.keys:
            if key.key_id == kid and key.public_key_use in (None, "sig"):
                return key
        return None

    async def verify(self, token: str) -> Identity:
        """The token's identity, or `Unauthenticated` saying why (expired, wrong audience, unknown key...)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("the bearer token is not a JWT") from None
        if header.get("alg") not in ALGORITHMS:
            raise Unauthenticated(f"the token's algorithm {header.get('alg')!r} is not accepted")
        key = await self._signing_key(header.get("kid"))
        if key.algorithm_name not in ALGORITHMS:
            raise Unauthenticated(f"the key's algorithm {key.algorithm_name!r} is not accepted")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm_name],  # the key's own: a token cannot pick another for it
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_s,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated(f"the token is not for audience {self.audience!r}") from None
        except (jwt.PyJWTError, TypeError, ValueError) as exc:
            raise Unauthenticated(f"the token does not verify: {exc}") from None
        if str(claims.get("typ", "Bearer")).lower() not in ("bearer", "at+jwt"):
            raise Unauthenticated(f"a {claims['typ']} token is not an access token")
        name = claims.get("preferred_username") or claims.get("name") or claims["sub"]
        return Identity(str(claims["sub"]), str(name), roles_of(claims, self.roles_claim), float(claims["exp"]))


async def _get_json(url: str) -> dict[str, Any]:
    try:
        async with aiohttp.ClientSession(timeout=_HTTP_TIMEOUT) as http, http.get(url) as response:
            response.raise_for_status()
            body = await response.json()
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise IssuerUnavailable(f"the issuer cannot be reached at {url} ({type(exc).__name__})") from None
    if not isinstance(body, dict):
        raise IssuerUnavailable(f"{url} did not answer a JSON object")
    return body
