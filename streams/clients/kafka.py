"""How every Kafka client of helpstream connects: bootstrap servers plus TLS and SASL, from the settings.

One place builds the options, so the worker, every CLI command that talks to Kafka, the demo and the bench use
the same protocol, mechanism, credentials and certificates. The password never appears in a repr or a log.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass, field
from typing import Any, Protocol

import faust
from aiokafka.errors import KafkaConnectionError
from aiokafka.helpers import create_ssl_context

from streams.settings import Settings


@dataclass(frozen=True)
class KafkaConnection:
    bootstrap: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "PLAIN"
    username: str = ""
    password: str = field(default="", repr=False)
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    idempotent: bool = False

    @classmethod
    def of(cls, settings: Settings, bootstrap: str | None = None) -> KafkaConnection:
        """The connection the settings describe; `bootstrap` replaces theirs (the demo's embedded broker)."""
        return cls(
            bootstrap=bootstrap or settings.broker,
            security_protocol=settings.broker_security_protocol,
            sasl_mechanism=settings.broker_sasl_mechanism,
            username=settings.broker_username,
            password=settings.broker_password.get_secret_value(),
            ca_file=str(settings.broker_ca_file) if settings.broker_ca_file else None,
            cert_file=str(settings.broker_cert_file) if settings.broker_cert_file else None,
            key_file=str(settings.broker_key_file) if settings.broker_key_file else None,
            idempotent=settings.producer_idempotence,
        )

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.uses_tls:
            return None
        context: ssl.SSLContext = create_ssl_context(
            cafile=self.ca_file, certfile=self.cert_file, keyfile=self.key_file
        )
        return context

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's producer, consumer and admin client."""
        options: dict[str, Any] = {"bootstrap_servers": self.bootstrap, "security_protocol": self.security_protocol}
        if self.uses_tls:
            options["ssl_context"] = self.ssl_context()
        if self.uses_sasl:
            options.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.username,
                sasl_plain_password=self.password,
            )
        return options

    def producer_options(self) -> dict[str, Any]:
        """`client_options` plus what every producer of helpstream sends with: acknowledged by all in-sync replicas,
        and idempotent where the settings ask for it (a send retried after a leader change is written once)."""
        return {**self.client_options(), "acks": "all", "enable_idempotence": self.idempotent}

    def faust_credentials(self) -> faust.types.auth.CredentialsT | None:
        if self.uses_sasl:
            return faust.SASLCredentials(
                username=self.username,
                password=self.password,
                mechanism=self.sasl_mechanism,
                ssl_context=self.ssl_context(),
            )
        if self.uses_tls:
            return faust.SSLCredentials(self.ssl_context())
        return None


class _Startable(Protocol):
    async def start(self) -> None: ...


class _LastError(logging.Handler):
    """Keeps the last error aiokafka logged: its bootstrap error says only "Unable to bootstrap"."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.message = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.message = record.getMessage()


async def start_or_explain(client: _Startable, kafka: KafkaConnection) -> None:
    """Start an aiokafka client; when it cannot connect, raise `ConnectionError` with the reason in one line
    (wrong password, untrusted certificate, nothing listening), never the password."""
    errors = _LastError()
    aiokafka_log = logging.getLogger("aiokafka")
    aiokafka_log.addHandler(errors)
    try:
        await client.start()
    except KafkaConnectionError as exc:
        reason = " ".join((errors.message or str(exc)).split())
        if kafka.password:
            reason = reason.replace(kafka.password, "***")
        raise ConnectionError(
            f"cannot connect to Kafka at {kafka.bootstrap} ({kafka.security_protocol}): {reason}"
        ) from None
    finally:
        aiokafka_log.removeHandler(errors)
