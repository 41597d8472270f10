"""One worker with sign-in on (Keycloak's realm) for the security tests, started once for the package."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from streams.local.worker import WorkerProcess
from streams.settings import Settings
from tests.fixtures import Workers, isolated_settings
from tests.oidc import AUDIENCE, CONSOLE_CLIENT, CONSOLE_SECRET, Oidc


@pytest.fixture(scope="package")
def signed_in(
    kafka: str, redis_url: str, data_dir: Path, oidc: Oidc, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, WorkerProcess]]:
    settings = isolated_settings(
        kafka,
        redis_url,
        data_dir,
        oidc_issuer=oidc.issuer,
        oidc_audience=AUDIENCE,
        oidc_client_id=CONSOLE_CLIENT,
        oidc_client_secret=SecretStr(CONSOLE_SECRET),
        oidc_leeway_s=1.0,
    )
    workers = Workers(tmp_path_factory.mktemp("signed-in"))
    try:
        yield settings, workers.start_with_demo_content(settings, "signed-in", bearer=lambda: oidc.token("max"))
    finally:
        workers.stop_all()
