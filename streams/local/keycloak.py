"""Keycloak, the OpenID Connect provider a bank may well run, on free loopback ports for the sign-in tests: its
server distribution from Maven Central, built once for an H2 file database, run on the machine's Java 17.

Each run copies the built distribution into its own directory (its database and imported realm are its own),
imports the realm it is given, and is stopped by pid.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streams.local.ports import free_ports
from streams.local.processes import ServiceMissing, stop

VERSION = "26.5.6"
_ARTIFACT = f"org.keycloak:keycloak-quarkus-dist:{VERSION}:zip"


def keycloak_dist(cache: Path) -> Path:
    """The built distribution, resolved and built once into `cache`."""
    for tool in ("java", "mvn"):
        if shutil.which(tool) is None:
            raise ServiceMissing(f"`{tool}` is not installed: Keycloak needs Java 17 and Maven")
    cache = cache.resolve()
    home = cache / f"keycloak-{VERSION}"
    stamp = cache / ".built"
    if stamp.exists() and stamp.read_text() == VERSION:
        return home
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    done = subprocess.run(
        ["mvn", "-q", "-B", "dependency:copy", f"-Dartifact={_ARTIFACT}", f"-DoutputDirectory={cache}"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        raise ServiceMissing(f"Maven could not resolve Keycloak {VERSION}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    archive = cache / f"keycloak-quarkus-dist-{VERSION}.zip"
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(cache)
    archive.unlink()
    for script in (home / "bin").glob("*.sh"):
        script.chmod(0o755)
    # Built once for the file database, so each run starts `--optimized` instead of re-building.
    built = subprocess.run(
        [str(home / "bin" / "kc.sh"), "build", "--db=dev-file"], capture_output=True, text=True, timeout=600
    )
    if built.returncode != 0:
        raise ServiceMissing(f"Keycloak's build failed:\n{built.stdout[-2000:]}{built.stderr[-2000:]}")
    stamp.write_text(VERSION)
    return home


@dataclass(frozen=True)
class RunningKeycloak:
    pid: int
    url: str
    admin: tuple[str, str]  # the bootstrap administrator's user name and password

    def issuer(self, realm: str) -> str:
        return f"{self.url}/realms/{realm}"


@contextmanager
def keycloak(dist: Path, workdir: Path, realm: Mapping[str, Any], admin_password: str) -> Iterator[RunningKeycloak]:
    """Keycloak on a free loopback port serving `realm` (a realm representation, as Keycloak exports it)."""
    home = workdir / "keycloak"
    shutil.copytree(dist, home, symlinks=True)
    imports = home / "data" / "import"
    imports.mkdir(parents=True, exist_ok=True)
    (imports / "realm.json").write_text(json.dumps(realm))
    port, management = free_ports(2)
    command = [
        str(home / "bin" / "kc.sh"),
        "start",
        "--optimized",
        "--http-enabled=true",
        "--http-host=127.0.0.1",
        f"--http-port={port}",
        f"--http-management-port={management}",
        "--hostname-strict=false",
        "--import-realm",
        "--bootstrap-admin-username=admin",
        f"--bootstrap-admin-password={admin_password}",
    ]
    with (workdir / "keycloak.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_realm(f"{url}/realms/{realm['realm']}/.well-known/openid-configuration", 240, process)
        yield RunningKeycloak(process.pid, url, ("admin", admin_password))
    finally:
        stop(process, 30)


def _wait_for_realm(url: str, timeout_s: float, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Keycloak exited with {process.returncode} before serving {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"Keycloak did not serve {url} within {timeout_s:.0f} s")
