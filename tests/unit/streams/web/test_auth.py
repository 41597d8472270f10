"""`OidcIssuer` against an issuer served on loopback by aiohttp: its discovery document and JWKS, with tokens
signed here by PyJWT (the unit tests' stand-in for the provider; the integration tests use Keycloak)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric import rsa

from streams.web import auth
from streams.web.auth import IssuerUnavailable, OidcIssuer, Unauthenticated, roles_of


class Provider:
    def __init__(self) -> None:
        self.keys = {"k1": rsa.generate_private_key(public_exponent=65537, key_size=2048)}
        self.jwks_fetches = 0
        self.issuer = ""

    def jwks(self) -> dict[str, Any]:
        return {
            "keys": [
                {**jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "use": "sig"}
                for kid, key in self.keys.items()
            ]
        }

    def token(self, kid: str = "k1", header_kid: str | None = None, **claims: Any) -> str:
        """Signed by key `kid`; a claim given as None is left out."""
        now = int(time.time())
        body = {"iss": self.issuer, "aud": "helpstream", "sub": "u-1", "iat": now, "exp": now + 300,
                "preferred_username": "ann", "realm_access": {"roles": ["agent"]}, **claims}  # fmt: skip
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, self.keys[kid], algorithm="RS256", headers={"kid": header_kid or kid})


@pytest.fixture
async def provider() -> AsyncIterator[Provider]:
    provider = Provider()
    app = web.Application()

    async def discovery(request: web.Request) -> web.Response:
        return web.json_response({"issuer": provider.issuer, "jwks_uri": f"{provider.issuer}/jwks"})

    async def jwks(request: web.Request) -> web.Response:
        provider.jwks_fetches += 1
        return web.json_response(provider.jwks())

    app.router.add_get("/.well-known/openid-configuration", discovery)
    app.router.add_get("/jwks", jwks)
    async with TestServer(app, host="127.0.0.1") as server:
        provider.issuer = str(server.make_url("")).rstrip("/")
        yield provider


def issuer_of(provider: Provider) -> OidcIssuer:
    return OidcIssuer(provider.issuer, audience="helpstream", roles_claim="realm_access.roles", leeway_s=5)


async def test_a_valid_token_gives_the_identity_and_its_roles(provider: Provider) -> None:
    identity = await issuer_of(provider).verify(provider.token())
    assert (identity.subject, identity.name, identity.roles) == ("u-1", "ann", {"agent"})


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": int(time.time()) - 60}, "expired"),
        ({"aud": "other-app"}, "not for audience 'helpstream'"),
        ({"iss": "https://elsewhere.example"}, "does not verify"),
        ({"sub": None}, "does not verify"),
    ],
)
async def test_a_token_that_is_not_good_here_is_refused_saying_why(
    provider: Provider, claims: dict[str, Any], reason: str
) -> None:
    with pytest.raises(Unauthenticated, match=reason):
        await issuer_of(provider).verify(provider.token(**claims))


async def test_clock_skew_within_the_leeway_is_accepted(provider: Provider) -> None:
    assert await issuer_of(provider).verify(provider.token(exp=int(time.time()) - 2))


async def test_a_token_signed_by_a_key_the_issuer_does_not_publish_is_refused(provider: Provider) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = jwt.decode(provider.token(), options={"verify_signature": False})
    with pytest.raises(Unauthenticated, match="does not verify"):
        await issuer_of(provider).verify(jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": "k1"}))


@pytest.mark.parametrize("algorithm", ["none", "HS256"])
async def test_unsigned_and_shared_secret_tokens_are_refused_before_any_key_is_looked_up(
    provider: Provider, algorithm: str
) -> None:
    claims = jwt.decode(provider.token(), options={"verify_signature": False})
    key = None if algorithm == "none" else "a-guessable-secret-of-32-bytes!!"
    with pytest.raises(Unauthenticated, match="not accepted"):
        await issuer_of(provider).verify(jwt.encode(claims, key, algorithm=algorithm, headers={"kid": "k1"}))
    assert provider.jwks_fetches == 0


async def test_a_rotated_key_is_fetched_once_and_unknown_keys_do_not_hammer_the_issuer(
    provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    issuer = issuer_of(provider)
    await issuer.verify(provider.token())
    provider.keys["k2"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    monkeypatch.setattr(auth, "REFETCH_S", 0.0)
    assert (await issuer.verify(provider.token("k2"))).subject == "u-1"
    assert provider.jwks_fetches == 2
    monkeypatch.setattr(auth, "REFETCH_S", 3600.0)
    for _ in range(5):
        with pytest.raises(Unauthenticated, match="does not publish"):
            await issuer.verify(provider.token("k1", header_kid="k9"))
    assert provider.jwks_fetches == 2


async def test_an_unreachable_issuer_is_not_a_verdict_on_the_token() -> None:
    issuer = OidcIssuer("http://127.0.0.1:9", audience="a", roles_claim="roles", leeway_s=0)
    with pytest.raises(IssuerUnavailable):
        await issuer.verify(jwt.encode({"sub": "x"}, rsa.generate_private_key(65537, 2048), algorithm="RS256"))


@pytest.mark.parametrize(
    ("claims", "path", "roles"),
    [
        ({"realm_access": {"roles": ["agent", "x"]}}, "realm_access.roles", {"agent", "x"}),
        ({"roles": "agent operator"}, "roles", {"agent", "operator"}),
        ({"roles": [1, "agent"]}, "roles", {"agent"}),
        ({}, "realm_access.roles", set()),
        ({"realm_access": "agent"}, "realm_access.roles", set()),
    ],
)
def test_roles_come_from_the_configured_claim(claims: dict[str, Any], path: str, roles: set[str]) -> None:
    assert roles_of(claims, path) == roles
