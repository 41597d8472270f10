"""Registry records signed by the operators' Ed25519 key and verified by every worker and command.

The signature travels in a record header over the record's key and value, so the JSON on the topic is unchanged
and a record copied under another key does not verify. Workers hold only the public key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SIGNATURE_HEADER = "helpstream-signature"


def _signed_bytes(key: bytes, value: bytes) -> bytes:
    return len(key).to_bytes(4, "big") + key + value


@dataclass(frozen=True)
class Signer:
    """What `helpstream model` signs registry records with (`HELPSTREAM_REGISTRY_SIGNING_KEY`)."""

    private_key: Ed25519PrivateKey

    @classmethod
    def load(cls, path: Path) -> Signer:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} is not an Ed25519 private key")
        return cls(key)

    def verifier(self) -> Verifier:
        return Verifier(self.private_key.public_key())

    def headers(self, key: bytes, value: bytes) -> list[tuple[str, bytes]]:
        return [(SIGNATURE_HEADER, self.private_key.sign(_signed_bytes(key, value)))]


@dataclass(frozen=True)
class Verifier:
    """What workers check registry records with (`HELPSTREAM_REGISTRY_PUBLIC_KEY`)."""

    public_key: Ed25519PublicKey

    @classmethod
    def load(cls, path: Path) -> Verifier:
        key = serialization.load_pem_public_key(path.read_bytes())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError(f"{path} is not an Ed25519 public key")
        return cls(key)

    def verified(self, key: bytes, value: bytes, headers: object) -> bool:
        """Whether the record carries a valid signature for exactly this key and value."""
        signatures = [v for k, v in (headers or ()) if k == SIGNATURE_HEADER]  # type: ignore[attr-defined]
        if len(signatures) != 1 or not isinstance(signatures[0], bytes):
            return False
        try:
            self.public_key.verify(signatures[0], _signed_bytes(key, value))
        except InvalidSignature:
            return False
        return True


def generate(out: Path) -> tuple[Path, Path]:
    """A new key pair in `out`: `registry-signing.pem` (private, owner-only) and `registry-public.pem`."""
    out.mkdir(parents=True, exist_ok=True)
    private = Ed25519PrivateKey.generate()
    private_path, public_path = out / "registry-signing.pem", out / "registry-public.pem"
    if private_path.exists():
        raise FileExistsError(f"{private_path} exists: a new key would orphan every record it signed")
    private_path.touch(mode=0o600)
    private_path.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    public_path.write_bytes(
        private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return private_path, public_path
