from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from streams.settings import Settings, SettingsError, child_env, load_settings
from tests.unit.index.test_manifest import exported


def test_settings_come_from_helpstream_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELPSTREAM_BROKER", "kafka-1:9092,kafka-2:9092")
    monkeypatch.setenv("HELPSTREAM_TOP_K", "5")
    monkeypatch.setenv("HELPSTREAM_REQUIRE_SERVICES", "1")
    monkeypatch.setenv("HELPSTREAM_DATA_DIR", "/var/lib/helpstream")
    settings = Settings()  # type: ignore[call-arg]
    assert settings.broker == "kafka-1:9092,kafka-2:9092"
    assert settings.top_k == 5
    assert settings.require_services is True
    assert settings.data_dir == Path("/var/lib/helpstream")


def test_a_bad_value_is_refused_with_the_variable_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELPSTREAM_TOP_K", "lots")
    with pytest.raises(ValidationError, match="top_k"):
        Settings()  # type: ignore[call-arg]
    with pytest.raises(SettingsError, match=r"^invalid HELPSTREAM_TOP_K='lots': Input should be a valid integer"):
        load_settings()


def test_a_child_worker_gets_the_settings_back_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(
        broker="b:1",
        web_port=7000,
        require_services=True,
        batch_wait_ms=2.5,
        broker_security_protocol="SASL_PLAINTEXT",
        broker_username="u",
        broker_password="p@ss",
    )  # type: ignore[call-arg]
    env = child_env(settings)
    for name, value in env.items():
        if name.startswith("HELPSTREAM_"):
            monkeypatch.setenv(name, value)
    assert Settings() == settings  # type: ignore[call-arg]


def test_the_settings_page_documents_every_setting() -> None:
    page = (Path(__file__).resolve().parents[3] / "docs" / "settings.md").read_text()
    missing = [name for name in Settings.model_fields if f"`HELPSTREAM_{name.upper()}`" not in page]
    assert missing == []


@pytest.mark.parametrize(
    ("value", "bootstrap"),
    [
        ("", ""),
        ("kafka-1:9092", "kafka-1:9092"),
        ("kafka-1:9092, kafka-2:9093", "kafka-1:9092,kafka-2:9093"),
        ("kafka://127.0.0.1:9092", "127.0.0.1:9092"),
        ("kafka://a:1;kafka://b:2", "a:1,b:2"),
        ("[::1]:9092", "[::1]:9092"),
    ],
)
def test_the_broker_is_host_port_pairs_or_fausts_kafka_url(
    monkeypatch: pytest.MonkeyPatch, value: str, bootstrap: str
) -> None:
    monkeypatch.setenv("HELPSTREAM_BROKER", value)
    assert load_settings().broker == bootstrap


@pytest.mark.parametrize("value", ["nonsense", "kafka://", "host:port", "host:99999", "http://h:1", "a:1,b"])
def test_a_broker_that_is_not_host_port_names_the_variable_and_the_value(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("HELPSTREAM_BROKER", value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert message.startswith(f"invalid HELPSTREAM_BROKER={value!r}: ")
    assert "\n" not in message


@pytest.mark.parametrize(
    "value",
    [
        "redis://127.0.0.1:6379/0",
        "redis://:pw@redis:6379/2",
        "rediss://user:pw@cache.example:6380",
        "unix:///tmp/r.sock",
    ],
)
def test_redis_urls_of_every_scheme_are_accepted(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("HELPSTREAM_REDIS_URL", value)
    assert load_settings().redis_url == value


@pytest.mark.parametrize(
    "value",
    [
        "localhost:6379",
        "http://h:1",
        "redis://h:port/0",
        "redis://h:1/zero",
        "redis://",
        "rediss://h:1/0?ssl_cert_reqs=none",
    ],
)
def test_a_malformed_redis_url_is_refused_without_showing_its_password(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    secret = value.replace("://", "://:hunter2@", 1) if "://" in value and value != "redis://" else value
    monkeypatch.setenv("HELPSTREAM_REDIS_URL", secret)
    with pytest.raises(SettingsError, match=r"^invalid HELPSTREAM_REDIS_URL=") as raised:
        load_settings()
    assert "hunter2" not in str(raised.value)


def test_the_command_exits_2_at_once_with_one_line_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {**os.environ, "HELPSTREAM_BROKER": "nonsense"}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "worker"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "helpstream: invalid HELPSTREAM_BROKER='nonsense': expected host:port[,host:port] or kafka://host:port, "
        "got 'nonsense' ('nonsense' is not host:port)"
    ]
    assert time.monotonic() - started < 5


def test_sasl_needs_a_user_and_a_password_and_the_message_names_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELPSTREAM_BROKER_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("HELPSTREAM_BROKER_USERNAME", "helpstream")
    with pytest.raises(SettingsError, match="needs HELPSTREAM_BROKER_USERNAME and HELPSTREAM_BROKER_PASSWORD"):
        load_settings()


def test_a_missing_certificate_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HELPSTREAM_BROKER_CA_FILE", str(tmp_path / "nope.pem"))
    with pytest.raises(SettingsError, match=r"^invalid HELPSTREAM_BROKER_CA_FILE=.*no such file"):
        load_settings()


def test_the_kafka_password_never_shows_in_a_repr_a_dump_or_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELPSTREAM_BROKER_PASSWORD", "hunter2")
    monkeypatch.setenv("HELPSTREAM_BROKER_SECURITY_PROTOCOL", "bogus")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert "hunter2" not in str(raised.value)
    monkeypatch.setenv("HELPSTREAM_BROKER_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("HELPSTREAM_BROKER_USERNAME", "u")
    settings = load_settings()
    assert "hunter2" not in repr(settings) + str(settings.model_dump())
    assert child_env(settings)["HELPSTREAM_BROKER_PASSWORD"] == "hunter2"


def test_a_model_that_cannot_run_is_refused_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELPSTREAM_MODEL", "gpt-9")
    with pytest.raises(SettingsError, match=r"^invalid HELPSTREAM_MODEL='gpt-9': expected one of minilm-l3"):
        load_settings()
    monkeypatch.setenv("HELPSTREAM_MODEL", "minilm-l3")
    monkeypatch.setenv("HELPSTREAM_ENCODER", "torch")
    with pytest.raises(SettingsError, match="minilm-l3 ships as ONNX only: set HELPSTREAM_ENCODER"):
        load_settings()
    monkeypatch.setenv("HELPSTREAM_ENCODER", "onnx-int8")
    assert load_settings().model == "minilm-l3"


def test_without_torch_a_model_with_weights_or_the_torch_backend_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from streams import settings as module

    real = module.importlib.util.find_spec
    monkeypatch.setattr(module.importlib.util, "find_spec", lambda name: None if name == "torch" else real(name))
    assert load_settings().model == "minilm-l6-onnx"  # the default needs none
    monkeypatch.setenv("HELPSTREAM_ENCODER", "torch")
    with pytest.raises(SettingsError, match=r"HELPSTREAM_ENCODER=torch needs the \[torch\] extra"):
        load_settings()
    monkeypatch.delenv("HELPSTREAM_ENCODER")
    monkeypatch.setenv("HELPSTREAM_MODEL", "minilm-l6")  # installed here, but its export needs torch
    with pytest.raises(SettingsError, match=r"is weights, not ONNX: .* pip install 'helpstream\[torch\]'$"):
        load_settings()


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "::", "worker.example"])
def test_the_internal_listener_off_loopback_without_sign_in_stops_the_process_naming_the_variables(
    monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    monkeypatch.setenv("HELPSTREAM_WEB_HOST", host)
    with pytest.raises(SettingsError, match=rf"HELPSTREAM_WEB_HOST={host} exposes .* set HELPSTREAM_OIDC_ISSUER"):
        load_settings()
    monkeypatch.setenv("HELPSTREAM_OIDC_ISSUER", "https://sso.bank.example/realms/support")
    assert load_settings().web_host == host


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.53", "::1", "localhost"])
def test_loopback_needs_no_sign_in(host: str) -> None:
    assert Settings(web_host=host).oidc_issuer == ""  # type: ignore[call-arg]


def test_the_public_listener_may_face_the_internet_without_sign_in() -> None:
    assert Settings(public_host="0.0.0.0").public_host == "0.0.0.0"  # type: ignore[call-arg]


def test_a_session_key_that_is_not_a_fernet_key_is_refused_and_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELPSTREAM_SESSION_KEY", "hunter2-secret")
    with pytest.raises(
        SettingsError, match=r"^invalid HELPSTREAM_SESSION_KEY='\*\*\*': expected a Fernet key"
    ) as raised:
        load_settings()
    assert "hunter2" not in str(raised.value)


def test_the_two_listeners_need_two_ports() -> None:
    with pytest.raises(ValidationError, match="must differ"):
        Settings(web_port=7000, public_port=7000)  # type: ignore[call-arg]


def test_an_exposed_console_needs_an_https_issuer_and_its_own_address() -> None:
    with pytest.raises(ValidationError, match="plain http"):
        Settings(web_host="0.0.0.0", oidc_issuer="http://sso.bank.example/realms/x")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="needs HELPSTREAM_CONSOLE_URL"):
        Settings(  # type: ignore[call-arg]
            web_host="0.0.0.0", oidc_issuer="https://sso.bank.example/realms/x", oidc_client_id="console"
        )
    assert (
        Settings(  # type: ignore[call-arg]
            web_host="0.0.0.0",
            oidc_issuer="https://sso.bank.example/realms/x",
            oidc_client_id="console",
            console_url="https://console.bank.example",
        ).internal_url
        == "https://console.bank.example"
    )


def test_a_model_directory_outside_the_allowed_roots_stops_the_worker_at_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    model = exported(tmp_path / "export")
    monkeypatch.setenv("HELPSTREAM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HELPSTREAM_MODEL", str(model))
    with pytest.raises(SettingsError, match=r"HELPSTREAM_MODEL=.*outside the allowed model roots"):
        load_settings()
    monkeypatch.setenv("HELPSTREAM_MODEL_ROOTS", f"/nowhere:{tmp_path}")
    assert load_settings().model == str(model)


def test_sasl_plain_over_plaintext_off_loopback_is_refused_and_unencrypted_kafka_is_a_caution() -> None:
    with pytest.raises(ValidationError, match="HELPSTREAM_BROKER_SASL_MECHANISM=PLAIN"):
        Settings(
            broker="kafka.internal:9092",
            broker_security_protocol="SASL_PLAINTEXT",
            broker_sasl_mechanism="PLAIN",
            broker_username="u",
            broker_password="p",
        )  # type: ignore[call-arg]
    scram = Settings(
        broker="kafka.internal:9092",
        broker_security_protocol="SASL_PLAINTEXT",
        broker_username="u",
        broker_password="p",
    )  # type: ignore[call-arg]
    assert any("unencrypted" in c for c in scram.cautions())
    local = Settings(broker="127.0.0.1:9092")  # type: ignore[call-arg]
    assert not any("unencrypted" in c for c in local.cautions())


def test_more_in_sync_replicas_than_replicas_is_refused_and_one_replica_off_loopback_is_a_caution() -> None:
    with pytest.raises(ValidationError, match="HELPSTREAM_MIN_INSYNC_REPLICAS=3 is more than HELPSTREAM_REPLICATION"):
        Settings(replication_factor=2, min_insync_replicas=3)  # type: ignore[call-arg]
    assert any("HELPSTREAM_REPLICATION_FACTOR=1" in c for c in Settings(broker="kafka-1:9092").cautions())  # type: ignore[call-arg]
    replicated = Settings(broker="kafka-1:9092", replication_factor=3, min_insync_replicas=2)  # type: ignore[call-arg]
    assert not any("REPLICATION" in c for c in replicated.cautions())
    assert not any("REPLICATION" in c for c in Settings(broker="127.0.0.1:9092").cautions())  # type: ignore[call-arg]


def test_a_registry_key_that_is_not_ed25519_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key = tmp_path / "key.pem"
    key.write_text("not a key")
    monkeypatch.setenv("HELPSTREAM_REGISTRY_PUBLIC_KEY", str(key))
    with pytest.raises(SettingsError, match="HELPSTREAM_REGISTRY_PUBLIC_KEY"):
        load_settings()
