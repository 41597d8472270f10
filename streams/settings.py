"""The one settings object, read from `HELPSTREAM_*` environment variables (documented in docs/settings.md).

`load_settings()` is the only reader of the environment; a bad value stops the process with a one-line message
that names the variable and the value (`SettingsError`).
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import re
import urllib.parse
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from index.backends import Backend, available
from index.kv import redacted
from index.model_policy import ModelPolicy, ModelRefused
from index.models import DEFAULT_MODEL, LADDER, TORCH, resolve

ENV_PREFIX = "HELPSTREAM_"

_HOST_PORT = re.compile(r"^(?P<host>[A-Za-z0-9_.\-]+|\[[0-9A-Fa-f:.]+\]):(?P<port>\d{1,5})$")
_REDIS_SCHEMES = ("redis", "rediss", "unix")


class SettingsError(ValueError):
    """A setting has a value helpstream cannot use; the message names the variable and the value."""


def parse_broker(value: str) -> str:
    """`host:port[,host:port]` or Faust's `kafka://host:port[;host:port]` form, as `host:port,host:port`.

    Empty stays empty: `helpstream demo` then starts the embedded broker.
    """
    servers: list[str] = []
    for part in re.split(r"[,;]", value.strip()):
        server = part.strip()
        if not server:
            continue
        server = server.removeprefix("kafka://")
        match = _HOST_PORT.match(server)
        if match is None or not 1 <= int(match["port"]) <= 65535:
            raise ValueError(
                f"expected host:port[,host:port] or kafka://host:port, got {value!r} ({server!r} is not host:port)"
            )
        servers.append(server)
    return ",".join(servers)


def check_redis_url(value: str) -> str:
    parsed = urllib.parse.urlsplit(value)
    try:
        port = parsed.port
    except ValueError:
        raise ValueError(f"the port of {redacted(value)!r} is not a number from 1 to 65535") from None
    if parsed.scheme not in _REDIS_SCHEMES:
        raise ValueError(f"expected redis://host:port/db, rediss://… or unix://…, got {redacted(value)!r}")
    if parsed.scheme != "unix" and not parsed.hostname:
        raise ValueError(f"{redacted(value)!r} has no host")
    if port == 0:
        raise ValueError(f"the port of {redacted(value)!r} is not a number from 1 to 65535")
    db = parsed.path.strip("/")
    if parsed.scheme != "unix" and db and not db.isdigit():
        raise ValueError(f"the database of {redacted(value)!r} must be a number, got {db!r}")
    loosened = {key for key in urllib.parse.parse_qs(parsed.query) if key.lower().startswith("ssl")}
    if loosened:
        raise ValueError(
            f"{redacted(value)!r} sets {', '.join(sorted(loosened))}, which would override TLS in redis-py: helpstream "
            "always verifies Redis's certificate and host name (HELPSTREAM_REDIS_CA_FILE names the CA to trust)"
        )
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True)

    broker: str = Field(
        "",
        description="Kafka bootstrap servers `host:port[,host:port]` (or `kafka://host:port`); empty: `demo` starts "
        "the embedded broker",
    )
    broker_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="how every Kafka client connects"
    )
    broker_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "SCRAM-SHA-512", description="SASL mechanism (with SASL_PLAINTEXT or SASL_SSL)"
    )
    broker_username: str = Field("", description="SASL user name")
    broker_password: SecretStr = Field(SecretStr(""), description="SASL password (never logged or shown)")
    broker_ca_file: Path | None = Field(None, description="PEM CA bundle to trust the brokers' certificates (SSL)")
    broker_cert_file: Path | None = Field(None, description="PEM client certificate (mutual TLS), with the key file")
    broker_key_file: Path | None = Field(None, description="PEM private key of the client certificate")
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis for the embedding cache and recommendations")
    redis_ca_file: Path | None = Field(None, description="PEM CA bundle to trust Redis's certificate (`rediss://`)")
    require_services: bool = Field(
        False,
        description="fail instead of falling back or skipping when Kafka or Redis is missing (set in CI)",
    )
    web_host: str = Field(
        "127.0.0.1",
        description="address the internal listener binds to (console, feedback, recommendations, models, health, "
        "metrics); any other than loopback needs HELPSTREAM_OIDC_ISSUER",
    )
    web_port: int = Field(6066, ge=1, le=65535, description="port of the internal listener")
    public_host: str = Field(
        "127.0.0.1", description="address the public listener binds to (the help screen: `/help`, `/search`)"
    )
    public_port: int = Field(6067, ge=1, le=65535, description="port of the public listener")
    oidc_issuer: str = Field(
        "",
        description="OpenID Connect issuer URL; set, every internal route needs a bearer token or a console "
        "session from it (empty: internal routes are open, allowed on loopback only)",
    )
    oidc_audience: str = Field("helpstream", description="the `aud` a bearer token must carry")
    oidc_client_id: str = Field("", description="the console's OIDC client (authorization-code sign-in)")
    oidc_client_secret: SecretStr = Field(SecretStr(""), description="that client's secret (never logged or shown)")
    oidc_roles_claim: str = Field(
        "realm_access.roles", description="dotted path of the token claim that lists roles (agent, operator, monitor)"
    )
    oidc_leeway_s: float = Field(30.0, ge=0, le=300, description="clock skew allowed on `exp`, `nbf` and `iat`")
    console_url: str = Field(
        "",
        description="the internal listener's URL as agents' browsers reach it, for the sign-in redirect (empty: "
        "http://HELPSTREAM_WEB_HOST:HELPSTREAM_WEB_PORT)",
    )
    session_key: SecretStr = Field(
        SecretStr(""),
        description="Fernet key sealing console session cookies, shared by the workers behind one address "
        "(empty: a key per process, so a restart signs agents out)",
    )
    session_ttl_s: int = Field(8 * 3600, ge=60, description="how long a console sign-in lasts")
    search_rate: float = Field(5.0, gt=0, description="public `/search` requests per second per client")
    search_burst: int = Field(20, ge=1, description="public `/search` requests a client may make at once")
    search_model_share: float = Field(
        0.05,
        gt=0,
        le=1,
        description="share of the model's time public searches may take, all clients together (the rest stays for "
        "chats); past it 503",
    )
    search_max_chars: int = Field(
        256, ge=1, le=4000, description="longest public `/search` query (the help screen's box); longer: 400"
    )
    embed_masked: bool = Field(
        True,
        description="the model embeds chats and searches with card numbers, IBANs, sort codes and accounts, emails "
        "and phone numbers masked (what the console and dead letters always show)",
    )
    search_pending_max: int = Field(
        8, ge=1, description="public searches waiting for the model at once; more are answered 503 at once"
    )
    search_timeout_s: float = Field(1.0, gt=0, description="longest a public search waits for the model: then 503")
    console_subscribers_max: int = Field(50, ge=1, description="console feeds (SSE) open at once on a worker")
    data_dir: Path = Field(Path(".helpstream"), description="where the worker keeps local state")
    model_roots: str = Field(
        "",
        description="colon-separated directories a model directory must be under to be loaded, besides "
        "HELPSTREAM_DATA_DIR (where `tune` writes)",
    )
    model_hub: bool = Field(False, description="allow `HELPSTREAM_MODEL` or the registry to name a model hub id")
    app_id: str = Field("helpstream", description="Kafka consumer group and prefix of internal topics")
    topic_chat: str = Field("chat.started", description="chats from the chat platform")
    topic_content: str = Field("content.updated", description="CMS changes")
    topic_recommendations: str = Field("recommendations", description="recommendations for the agent UI")
    topic_dead_letter: str = Field("helpstream.dead-letter", description="malformed events, with the reason")
    topic_feedback: str = Field("recommendation.feedback", description="agents' use of recommendations (console)")
    topic_usage: str = Field(
        "helpstream.usage",
        description="each response agents used, joined with the chat's masked text and what was shown: training data",
    )
    topic_models: str = Field("helpstream.models", description="the model registry, written by operators (compacted)")
    topic_figures: str = Field(
        "helpstream.figures", description="each worker's model figures, written by workers only (compacted)"
    )
    registry_public_key: Path | None = Field(
        None,
        description="Ed25519 public key (PEM) registry records must be signed with; unset: any record is followed",
    )
    registry_signing_key: Path | None = Field(
        None, description="Ed25519 private key (PEM) `helpstream model` signs registry records with (operators only)"
    )
    retention_chat_days: float = Field(
        7, gt=0, description="how long `chat.started` and `recommendations` keep customers' chats (`retention.ms`)"
    )
    retention_dead_letter_days: float = Field(
        28, gt=0, description="how long the dead-letter topic keeps rejected events, masked, for people to look into"
    )
    retention_events_days: float = Field(
        30, gt=0, description="how long `content.updated` and `recommendation.feedback` keep their events"
    )
    shadow_share: float = Field(
        0.25, ge=0, le=1, description="share of chats a candidate model is shadow-scored on (0: none)"
    )
    interleave_share: float = Field(
        0.25,
        ge=0,
        le=1,
        description="share of chats shown a team-draft interleaving of the active model's and a candidate's "
        "rankings, once the candidate covers the table (0: none); never a shadow-scored chat, so with "
        "HELPSTREAM_SHADOW_SHARE at most 1",
    )
    learn: Literal["off", "approve", "auto"] = Field(
        "auto",
        description="what `helpstream learn` may do: off (nothing), approve (tune and add a candidate from the usage, "
        "let interleaving judge it, retire it when it loses, leave the promote to an operator), auto (promote it too "
        "when it wins and the other gates pass)",
    )
    learn_min_usage: int = Field(
        200, ge=1, description="chats with a used response `helpstream learn` needs before it tunes a candidate"
    )
    learn_max_interleaved: int = Field(
        5000,
        ge=100,
        description="interleaved chats after which `helpstream learn` retires a candidate neither model was shown "
        "better than, so the next run tunes one on more usage",
    )
    chat_partitions: int = Field(4, ge=1, description="partitions of the chat and recommendations topics")
    replication_factor: int = Field(
        1,
        ge=1,
        le=32,
        description="replicas of every topic helpstream creates (its own, the table's changelog, Faust's); 3 on a "
        "production cluster",
    )
    min_insync_replicas: int | None = Field(
        None,
        ge=1,
        le=32,
        description="`min.insync.replicas` of every topic helpstream creates (empty: the broker's default): a write "
        "is acknowledged once this many replicas hold it; 2 with a replication factor of 3",
    )
    producer_idempotence: bool = Field(
        False,
        description="idempotent producers (Apache Kafka; the embedded Tansu broker lacks them): a send retried after "
        "a leader change is written once",
    )
    model: str = Field(
        DEFAULT_MODEL,
        description=f"sentence-embedding model: {', '.join(LADDER)} (the ladder), a directory `helpstream model "
        "export` wrote, a sentence-transformers model directory (e.g. from `helpstream tune`), or a hub id where a "
        "model hub is reachable; seeds an empty model registry (after that, `helpstream model` changes the model)",
    )
    encoder: Backend = Field("onnx", description="model backend: torch, onnx (fp32) or onnx-int8")
    inference_threads: int = Field(
        2, ge=1, description="cores for the model (onnx: calls side by side; torch: threads of one call)"
    )
    batch_max: int = Field(64, ge=1, le=1024, description="most texts encoded in one model call")
    batch_wait_ms: float = Field(
        5.0,
        ge=0,
        description="while the model is busy, longest a batch waits for more events and a model call for more "
        "texts (with the model idle, neither waits)",
    )
    top_k: int = Field(3, ge=1, le=50, description="saved responses per recommendation")
    content_part_texts: int = Field(
        64,
        ge=1,
        le=100_000,
        description="most texts of content work the content agent gives the model at once (one item larger than "
        "that goes alone): an edit sent behind a bulk import waits for the part at the model, not for the import",
    )
    content_backlog_texts: int = Field(
        20_000,
        ge=1,
        le=10_000_000,
        description="texts of content work queued before the content agent takes no more events (what it holds "
        "in memory)",
    )
    recommendation_ttl_s: int = Field(86400, ge=1, description="how long `/recommendations/{chat_id}` keeps one")
    embedding_cache_days: float = Field(
        30,
        gt=0,
        le=3650,
        description="how long Redis keeps a content text's vector after it was embedded: texts edited away and "
        "retired models' vectors leave in time",
    )
    recommendation_timings: bool = Field(
        False,
        description="each recommendation and search response carries `timings`, its stages in ms (the "
        "`helpstream_stage_seconds` histograms are kept either way)",
    )
    fetch_wait_ms: int | None = Field(
        None,
        ge=1,
        le=10_000,
        description="longest a consumer's fetch waits at the broker (empty: Faust's 1500); the demo sets it on the "
        "embedded broker, which holds every fetch that long",
    )
    commit_interval_s: float = Field(
        0.1, gt=0, le=10, description="how often acked offsets are committed: bounds the replay after a crash"
    )
    log_level: str = Field("info", description="worker log level")
    budget_search_p99_ms: float = Field(50.0, gt=0, description="`budget`: a lone help-screen search's p99")
    budget_chat_p99_ms: float = Field(
        1000.0, gt=0, description="`budget`: chat → recommendation p99 at the budget chat rate"
    )
    budget_chat_rate: float = Field(50.0, gt=0, description="`budget`: chats per second a worker must keep up with")
    budget_reembed_s: float = Field(300.0, gt=0, description="`budget`: seconds to re-embed the whole CMS export")
    budget_memory_mb: float = Field(
        1024.0, gt=0, description="`budget`: a worker's peak memory holding 100k vectors (the instance's limit)"
    )

    @field_validator("broker")
    @classmethod
    def _broker_servers(cls, value: str) -> str:
        return parse_broker(value)

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        return check_redis_url(value)

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str) -> str:
        resolve(value)
        return value

    def _broker_on_loopback(self) -> bool:
        hosts = [server.rsplit(":", 1)[0] for server in self.broker.split(",") if server]
        return bool(hosts) and all(host == "localhost" or is_loopback(host) for host in hosts)

    def cautions(self) -> list[str]:
        """Settings that work but that a security review would question; a worker logs them at start."""
        found = []
        if self.broker and not self.broker_security_protocol.endswith("SSL") and not self._broker_on_loopback():
            found.append(
                f"HELPSTREAM_BROKER_SECURITY_PROTOCOL={self.broker_security_protocol}: customers' chats cross the "
                "network to Kafka unencrypted (SASL_SSL encrypts them)"
            )
        if self.broker and self.replication_factor == 1 and not self._broker_on_loopback():
            found.append(
                "HELPSTREAM_REPLICATION_FACTOR=1: the topics helpstream creates live on one broker, and losing it "
                "loses them (3, with HELPSTREAM_MIN_INSYNC_REPLICAS=2, on a production cluster)"
            )
        if self.registry_public_key is None:
            found.append(
                "HELPSTREAM_REGISTRY_PUBLIC_KEY is unset: this worker follows any registry record, signed or not "
                "(`helpstream model keygen`)"
            )
        return found

    def model_policy(self) -> ModelPolicy:
        """Which models this process may load (`HELPSTREAM_MODEL_ROOTS`, `HELPSTREAM_MODEL_HUB`)."""
        roots = [self.data_dir, *(Path(root) for root in self.model_roots.split(":") if root)]
        return ModelPolicy.of(roots, hub=self.model_hub)

    @field_validator("registry_public_key", "registry_signing_key")
    @classmethod
    def _ed25519(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return None
        from streams.registry.signing import Signer, Verifier

        try:
            (Verifier if info.field_name == "registry_public_key" else Signer).load(value)
        except (OSError, ValueError) as exc:
            raise ValueError(f"not a readable Ed25519 key ({exc})") from None
        return value

    @field_validator("broker_ca_file", "broker_cert_file", "broker_key_file", "redis_ca_file")
    @classmethod
    def _readable(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        sasl = self.broker_security_protocol.startswith("SASL_")
        if sasl and not (self.broker_username and self.broker_password.get_secret_value()):
            raise ValueError(
                f"HELPSTREAM_BROKER_SECURITY_PROTOCOL={self.broker_security_protocol} needs "
                "HELPSTREAM_BROKER_USERNAME and HELPSTREAM_BROKER_PASSWORD"
            )
        torch = importlib.util.find_spec("torch") is not None
        if self.encoder == "torch" and not torch:
            raise ValueError(f"HELPSTREAM_ENCODER=torch needs the [torch] extra: {TORCH}")
        try:
            model = self.model_policy().allowed(self.model)
        except ModelRefused as exc:
            raise ValueError(f"HELPSTREAM_MODEL={self.model}: {exc}") from None
        if not model.onnx_only and not torch:
            raise ValueError(
                f"HELPSTREAM_MODEL={self.model} is weights, not ONNX: serve a directory `helpstream model export` "
                f"wrote, or export it here with the [torch] extra: {TORCH}"
            )
        if not available(model, self.encoder):
            raise ValueError(
                f"HELPSTREAM_MODEL={self.model} ships as ONNX only: set HELPSTREAM_ENCODER to onnx or onnx-int8"
            )
        if (
            self.broker_security_protocol == "SASL_PLAINTEXT"
            and self.broker_sasl_mechanism == "PLAIN"
            and not self._broker_on_loopback()
        ):
            raise ValueError(
                "HELPSTREAM_BROKER_SASL_MECHANISM=PLAIN over HELPSTREAM_BROKER_SECURITY_PROTOCOL=SASL_PLAINTEXT sends "
                "the Kafka password in clear: use SASL_SSL, or a SCRAM mechanism"
            )
        if (self.broker_cert_file is None) != (self.broker_key_file is None):
            raise ValueError("HELPSTREAM_BROKER_CERT_FILE and HELPSTREAM_BROKER_KEY_FILE go together")
        if not self.oidc_issuer and not is_loopback(self.web_host):
            raise ValueError(
                f"HELPSTREAM_WEB_HOST={self.web_host} exposes the console, agents' feedback and customers' chats "
                "beyond this machine with no sign-in: set HELPSTREAM_OIDC_ISSUER (and HELPSTREAM_OIDC_AUDIENCE), "
                "or bind it to 127.0.0.1"
            )
        if self.oidc_client_id and not self.oidc_issuer:
            raise ValueError("HELPSTREAM_OIDC_CLIENT_ID needs HELPSTREAM_OIDC_ISSUER")
        issuer_host = urllib.parse.urlsplit(self.oidc_issuer).hostname or ""
        exposed = not is_loopback(self.web_host)
        if exposed and self.oidc_issuer.startswith("http://") and not is_loopback(issuer_host):
            raise ValueError(
                f"HELPSTREAM_OIDC_ISSUER={self.oidc_issuer} is plain http: its signing keys could be swapped on the "
                "way, so tokens could be forged; use https"
            )
        if exposed and self.oidc_client_id and not self.console_url:
            raise ValueError(
                "HELPSTREAM_OIDC_CLIENT_ID with HELPSTREAM_WEB_HOST off loopback needs HELPSTREAM_CONSOLE_URL "
                "(the address agents' browsers use, for the sign-in's redirect)"
            )
        if self.web_port == self.public_port and self.web_host == self.public_host:
            raise ValueError("HELPSTREAM_WEB_PORT and HELPSTREAM_PUBLIC_PORT must differ: two listeners, two ports")
        if self.min_insync_replicas is not None and self.min_insync_replicas > self.replication_factor:
            raise ValueError(
                f"HELPSTREAM_MIN_INSYNC_REPLICAS={self.min_insync_replicas} is more than "
                f"HELPSTREAM_REPLICATION_FACTOR={self.replication_factor}: Kafka would refuse every write"
            )
        if self.shadow_share + self.interleave_share > 1:
            raise ValueError(
                f"HELPSTREAM_INTERLEAVE_SHARE={self.interleave_share} with HELPSTREAM_SHADOW_SHARE={self.shadow_share} "
                "adds up to more than 1: a chat is shadow-scored or interleaved, never both"
            )
        return self

    @field_validator("oidc_issuer", "console_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and urllib.parse.urlsplit(value).scheme not in ("http", "https"):
            raise ValueError(f"expected an http(s):// URL, got {value!r}")
        return value.rstrip("/")

    @field_validator("session_key")
    @classmethod
    def _fernet_key(cls, value: SecretStr) -> SecretStr:
        key = value.get_secret_value()
        if key:
            from cryptography.fernet import Fernet

            try:
                Fernet(key)
            except ValueError:
                raise ValueError("expected a Fernet key (32 url-safe base64-encoded bytes)") from None
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError(f"expected debug, info, warning, error or critical, got {value!r}")
        return value.lower()

    @property
    def redis_url_redacted(self) -> str:
        return redacted(self.redis_url)

    @property
    def internal_url(self) -> str:
        """The internal listener as agents' browsers reach it."""
        return self.console_url or f"http://{self.web_host}:{self.web_port}"

    @property
    def public_url(self) -> str:
        return f"http://{self.public_host}:{self.public_port}"


def is_loopback(host: str) -> bool:
    """Whether a bind address keeps a listener on this machine (`localhost` included; a name that resolves
    elsewhere, or a wildcard such as 0.0.0.0, does not)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def load_settings() -> Settings:
    """Settings from the environment, or `SettingsError` naming the first bad variable and its value."""
    try:
        return Settings()  # type: ignore[call-arg]  # pydantic-settings fills fields from the environment
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None


_SECRETS = ("broker_password", "oidc_client_secret", "session_key")


def _describe(exc: ValidationError) -> str:
    error = exc.errors()[0]
    message = str(error["msg"]).removeprefix("Value error, ")
    if not error["loc"]:  # a rule across several settings: the message names them
        return f"invalid settings: {message}"
    field = str(error["loc"][0])
    variable = f"{ENV_PREFIX}{field.upper()}"
    value = os.environ.get(variable, error.get("input"))
    shown = "***" if field in _SECRETS else redacted(str(value)) if field == "redis_url" else str(value)
    return f"invalid {variable}={shown!r}: {message}"


def child_env(settings: Settings, **overrides: object) -> dict[str, str]:
    """The environment for a child worker process: this one's, with `settings` (and overrides) as HELPSTREAM_*."""
    values = {**settings.model_dump(), **overrides}
    env = dict(os.environ)
    for name, value in values.items():
        variable = f"{ENV_PREFIX}{name.upper()}"
        if value is None:
            env.pop(variable, None)
        elif isinstance(value, SecretStr):
            env[variable] = value.get_secret_value()
        else:
            env[variable] = str(value).lower() if isinstance(value, bool) else str(value)
    return env


def isolated(settings: Settings, run: str, **overrides: Any) -> Settings:
    """A copy with a consumer group and topics of its own, for tests and benches that share one broker."""
    return settings.model_copy(
        update={
            "app_id": f"helpstream-{run}",
            "topic_chat": f"{run}.chat.started",
            "topic_content": f"{run}.content.updated",
            "topic_recommendations": f"{run}.recommendations",
            "topic_dead_letter": f"{run}.dead-letter",
            "topic_feedback": f"{run}.recommendation.feedback",
            "topic_usage": f"{run}.usage",
            "topic_models": f"{run}.models",
            "topic_figures": f"{run}.figures",
            **overrides,
        }
    )
