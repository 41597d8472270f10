"""A real OpenID Connect provider for the sign-in tests: Keycloak from Maven Central, with a realm of helpstream's
roles, people who hold them, and clients that issue the tokens an attacker might try (another audience, a short
life). Tokens come from Keycloak's own token endpoint; only the "signed by another key" token is made here."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from streams.local import keycloak as kc
from tests.services import required

KEYCLOAK_DIST = Path(__file__).resolve().parent.parent / ".helpstream" / "keycloak"
REALM = "helpstream"
AUDIENCE = "helpstream"
CONSOLE_CLIENT = "helpstream-console"
CONSOLE_SECRET = f"console-{uuid.uuid4().hex}"
PASSWORD = f"pw-{uuid.uuid4().hex[:12]}"
# user name → realm roles
PEOPLE = {"ann": ["agent"], "bob": ["agent"], "olga": ["operator"], "max": ["monitor"], "nina": []}


def _audience(name: str) -> dict[str, Any]:
    return {
        "name": f"audience-{name}",
        "protocol": "openid-connect",
        "protocolMapper": "oidc-audience-mapper",
        "config": {"included.custom.audience": name, "access.token.claim": "true", "id.token.claim": "false"},
    }


def _client(client_id: str, secret: str, audience: str, **attributes: str) -> dict[str, Any]:
    return {
        "clientId": client_id,
        "enabled": True,
        "publicClient": False,
        "secret": secret,
        "standardFlowEnabled": True,
        "directAccessGrantsEnabled": True,
        "redirectUris": ["http://127.0.0.1:*", "http://127.0.0.1/*", "*"],
        "attributes": {"pkce.code.challenge.method": "S256", **attributes},
        "protocolMappers": [_audience(audience)],
    }


def realm() -> dict[str, Any]:
    return {
        "realm": REALM,
        "enabled": True,
        "sslRequired": "none",
        "roles": {"realm": [{"name": role} for role in ("agent", "operator", "monitor")]},
        "clients": [
            _client(CONSOLE_CLIENT, CONSOLE_SECRET, AUDIENCE),
            _client("other-app", CONSOLE_SECRET, "other-app"),  # valid tokens, for someone else
            _client("short-lived", CONSOLE_SECRET, AUDIENCE, **{"access.token.lifespan": "2"}),
        ],
        "users": [
            {
                "username": name,
                "enabled": True,
                "email": f"{name}@example.test",
                "emailVerified": True,
                "firstName": name.title(),
                "lastName": "Tester",
                "credentials": [{"type": "password", "value": PASSWORD}],
                "realmRoles": roles,
            }
            for name, roles in PEOPLE.items()
        ],
    }


def _post_form(url: str, form: dict[str, str], token: str | None = None) -> dict[str, Any]:
    request = urllib.request.Request(url, data=urllib.parse.urlencode(form).encode())
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        body: dict[str, Any] = json.loads(response.read())
        return body


@dataclass(frozen=True)
class Oidc:
    running: kc.RunningKeycloak

    @property
    def issuer(self) -> str:
        return self.running.issuer(REALM)

    def token(self, user: str, client: str = CONSOLE_CLIENT) -> str:
        """An access token from Keycloak's token endpoint (the password grant, for tests only)."""
        body = _post_form(
            f"{self.issuer}/protocol/openid-connect/token",
            {
                "grant_type": "password",
                "client_id": client,
                "client_secret": CONSOLE_SECRET,
                "username": user,
                "password": PASSWORD,
                "scope": "openid",
            },
        )
        return str(body["access_token"])

    def expired_token(self, user: str) -> str:
        token = self.token(user, "short-lived")
        expires = jwt.decode(token, options={"verify_signature": False})["exp"]
        time.sleep(max(0.0, expires - time.time()) + 1.5)
        return token

    def forged_token(self, user_token: str) -> str:
        """The same claims and key id as a real token, signed by a key that is not the issuer's."""
        claims = jwt.decode(user_token, options={"verify_signature": False})
        kid = jwt.get_unverified_header(user_token)["kid"]
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})

    def _admin_token(self) -> str:
        user, password = self.running.admin
        body = _post_form(
            f"{self.running.url}/realms/master/protocol/openid-connect/token",
            {"grant_type": "password", "client_id": "admin-cli", "username": user, "password": password},
        )
        return str(body["access_token"])

    def rotate_keys(self) -> None:
        """A new RSA signing key with a higher priority than the realm's: new tokens name a new key id."""
        realm_id = self._admin_get(f"/admin/realms/{REALM}")["id"]
        component = {
            "name": f"rotated-{uuid.uuid4().hex[:6]}",
            "providerId": "rsa-generated",
            "providerType": "org.keycloak.keys.KeyProvider",
            "parentId": realm_id,
            "config": {"priority": [str(int(time.time()))], "keySize": ["2048"], "active": ["true"]},
        }
        request = urllib.request.Request(
            f"{self.running.url}/admin/realms/{REALM}/components",
            data=json.dumps(component).encode(),
            headers={"Authorization": f"Bearer {self._admin_token()}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 201

    def _admin_get(self, path: str) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.running.url}{path}", headers={"Authorization": f"Bearer {self._admin_token()}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body: dict[str, Any] = json.loads(response.read())
            return body


@contextmanager
def keycloak(workdir: Path) -> Iterator[tuple[Oidc, str]]:
    """Yields (the provider, its version)."""
    with required("Keycloak"):
        dist = kc.keycloak_dist(KEYCLOAK_DIST)
    with kc.keycloak(dist, workdir, realm(), admin_password=f"admin-{uuid.uuid4().hex[:12]}") as running:
        yield Oidc(running), kc.VERSION
