"""The Helm chart as a platform team would install it: `helm template` renders it, and every object passes a strict
check against Kubernetes' own OpenAPI schemas (kubernetes-validate) and, for KEDA's objects, against the CRDs KEDA
publishes in its Go module. A misspelt field or a wrong type fails here, not at `helm install`.

helm comes from PATH or Go's bin directory (`.ci/run` builds it from the Go module proxy); the KEDA module is
downloaded once from the Go module proxy into `.helpstream/keda/`.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from cryptography.fernet import Fernet

from streams.local.processes import ServiceMissing
from streams.registry.signing import generate
from streams.settings import Settings
from tests.services import required

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "helpstream"
KUBERNETES = "1.33.0"
KEDA = "v2.21.1"
KEDA_MODULE = "github.com/kedacore/keda/v2"
KEDA_CACHE = ROOT / ".helpstream" / "keda"
CRDS = {"ScaledObject": "keda.sh_scaledobjects.yaml", "TriggerAuthentication": "keda.sh_triggerauthentications.yaml"}


def helm() -> str:
    found = shutil.which("helm")
    if found is None:
        go = shutil.which("go")
        gopath = subprocess.run([go, "env", "GOPATH"], capture_output=True, text=True, check=False).stdout if go else ""
        candidate = Path(gopath.strip() or Path.home() / "go") / "bin" / "helm"
        found = str(candidate) if candidate.is_file() else None
    if found is None:
        raise ServiceMissing("helm is not installed (go install helm.sh/helm/v4/cmd/helm@v4.3.2)")
    return found


ISSUER = "https://id.bank.example/realms/helpstream"


def helm_template(*sets: str) -> subprocess.CompletedProcess[str]:
    with required("helm"):
        tool = helm()
    args = [arg for value in sets for arg in ("--set", value)]
    return subprocess.run([tool, "template", "hs", str(CHART), *args], capture_output=True, text=True, check=False)


def render(*sets: str) -> list[dict[str, Any]]:
    """The chart's objects, with the one value it cannot default: the sign-in's issuer."""
    done = helm_template(f"oidc.issuer={ISSUER}", *sets)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def by_kind(objects: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    kinds: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        kinds.setdefault(obj["kind"], []).append(obj)
    return kinds


def strict(schema: Any) -> Any:
    """A CRD schema that rejects unknown fields, as the API server's field validation does (it would prune them)."""
    if isinstance(schema, dict):
        schema = {key: strict(value) for key, value in schema.items()}
        open_ended = "additionalProperties" in schema or schema.get("x-kubernetes-preserve-unknown-fields")
        if "properties" in schema and not open_ended:
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [strict(value) for value in schema]
    return schema


@pytest.fixture(scope="module")
def keda_schemas() -> dict[str, Any]:
    """kind -> the openAPIV3Schema of KEDA's CRD for it, from KEDA's Go module on the Go module proxy."""
    archive = KEDA_CACHE / f"keda-{KEDA}.zip"
    if not archive.is_file():
        url = f"https://proxy.golang.org/{KEDA_MODULE}/@v/{KEDA}.zip"
        with required("KEDA's CRDs"):
            try:
                with urllib.request.urlopen(url, timeout=120) as response:
                    body = response.read()
            except OSError as exc:
                raise ServiceMissing(f"cannot download {url}: {exc}") from exc
        KEDA_CACHE.mkdir(parents=True, exist_ok=True)
        archive.with_suffix(".partial").write_bytes(body)
        archive.with_suffix(".partial").rename(archive)
    schemas = {}
    with zipfile.ZipFile(io.BytesIO(archive.read_bytes())) as module:
        for kind, name in CRDS.items():
            crd = yaml.safe_load(module.read(f"{KEDA_MODULE}@{KEDA}/config/crd/bases/{name}"))
            (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
            schemas[kind] = strict(version["schema"]["openAPIV3Schema"])
    return schemas


def check(obj: dict[str, Any], keda_schemas: dict[str, Any]) -> None:
    """Raises on any object Kubernetes (or KEDA's CRD) would refuse."""
    if obj["apiVersion"].startswith("keda.sh/"):
        jsonschema.Draft7Validator(keda_schemas[obj["kind"]]).validate(obj)
    else:
        kubernetes_validate.validate(obj, KUBERNETES, strict=True)


@pytest.fixture(scope="module")
def default() -> list[dict[str, Any]]:
    return render()


VARIANTS = {
    "default values": (),
    "fixed replicas, a model volume, console sign-in, extra settings": (
        "keda.enabled=false",
        "replicas=3",
        "models.claimName=helpstream-models",
        "oidc.clientId=helpstream-console",
        "oidc.consoleUrl=https://help.bank.example/console",
        "oidc.secret=helpstream-console",
        "env.HELPSTREAM_LOG_LEVEL=debug",
    ),
}


@pytest.fixture(params=list(VARIANTS), scope="module")
def rendered(request: pytest.FixtureRequest) -> Iterator[list[dict[str, Any]]]:
    yield render(*VARIANTS[request.param])


def test_every_rendered_object_passes_kubernetes_and_kedas_schemas_strictly(
    rendered: list[dict[str, Any]], keda_schemas: dict[str, Any]
) -> None:
    for obj in rendered:
        check(obj, keda_schemas)
    assert {"Deployment", "Service", "PodDisruptionBudget"} <= set(by_kind(rendered))


def misspell_the_readiness_probe(deployment: dict[str, Any]) -> None:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")


def give_a_port_as_words(service: dict[str, Any]) -> None:
    service["spec"]["ports"][0]["port"] = "six thousand"


def name_the_maximum_as_an_hpa_would(scaled: dict[str, Any]) -> None:
    scaled["spec"]["maxReplicas"] = scaled["spec"].pop("maxReplicaCount")


def drop_a_parameter(authentication: dict[str, Any]) -> None:
    del authentication["spec"]["secretTargetRef"][0]["parameter"]


@pytest.mark.parametrize(
    ("kind", "breaks"),
    [
        ("Deployment", misspell_the_readiness_probe),
        ("Service", give_a_port_as_words),
        ("ScaledObject", name_the_maximum_as_an_hpa_would),
        ("TriggerAuthentication", drop_a_parameter),
    ],
)
def test_a_misspelt_field_or_a_wrong_type_fails_the_check(kind: str, breaks: Any, keda_schemas: dict[str, Any]) -> None:
    obj = by_kind(render())[kind][0]
    check(obj, keda_schemas)
    breaks(obj)
    with pytest.raises((kubernetes_validate.ValidationError, jsonschema.ValidationError)):
        check(obj, keda_schemas)


def test_the_chart_scales_on_chat_lag_up_to_the_partition_count_and_keeps_a_worker_through_disruptions(
    default: list[dict[str, Any]],
) -> None:
    kinds = by_kind(default)
    (scaled,) = kinds["ScaledObject"]
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "kafka" and trigger["metadata"]["topic"] == "chat.started"
    assert trigger["metadata"]["consumerGroup"] == "helpstream" and trigger["metadata"]["lagThreshold"] == "60"
    assert scaled["spec"]["maxReplicaCount"] == 4  # chatPartitions
    assert by_kind(render("chatPartitions=12"))["ScaledObject"][0]["spec"]["maxReplicaCount"] == 12
    assert "replicas" not in kinds["Deployment"][0]["spec"]  # KEDA owns the count
    (pdb,) = kinds["PodDisruptionBudget"]
    assert pdb["spec"]["maxUnavailable"] == 1  # a drain proceeds even with one worker
    strategy = kinds["Deployment"][0]["spec"]["strategy"]["rollingUpdate"]
    assert strategy == {"maxUnavailable": 0, "maxSurge": 1}


def test_the_worker_is_ready_on_readyz_runs_unprivileged_and_reads_secrets_from_secrets(
    default: list[dict[str, Any]],
) -> None:
    kinds = by_kind(default)
    pod = kinds["Deployment"][0]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "public"}
    assert pod["securityContext"]["runAsNonRoot"] and container["securityContext"]["readOnlyRootFilesystem"]
    env = {item["name"]: item for item in container["env"]}
    for name in ("HELPSTREAM_BROKER_PASSWORD", "HELPSTREAM_REDIS_URL", "HELPSTREAM_BROKER_USERNAME"):
        assert "secretKeyRef" in env[name]["valueFrom"] and "value" not in env[name]
    ports = {svc["metadata"]["name"]: svc["spec"]["ports"][0]["port"] for svc in kinds["Service"]}
    assert ports == {"hs-helpstream-public": 6067, "hs-helpstream-internal": 6066}


def test_a_model_volume_is_mounted_read_only_and_becomes_a_model_root() -> None:
    kinds = by_kind(render("models.claimName=helpstream-models"))
    pod = kinds["Deployment"][0]["spec"]["template"]["spec"]
    (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "models"]
    assert mount == {"name": "models", "mountPath": "/models", "readOnly": True}
    (volume,) = [v for v in pod["volumes"] if v["name"] == "models"]
    assert volume["persistentVolumeClaim"] == {"claimName": "helpstream-models", "readOnly": True}
    env = {item["name"]: item.get("value") for item in pod["containers"][0]["env"]}
    # The volume is a model root beside the image's own, so the model baked into the image stays allowed.
    assert env["HELPSTREAM_MODEL_ROOTS"] == "/models:/opt/helpstream"


def test_without_an_issuer_the_chart_refuses_to_render() -> None:
    done = helm_template()
    assert done.returncode != 0 and "oidc.issuer" in done.stderr


SECRETS = {
    ("helpstream-kafka", "username"): "helpstream-worker",
    ("helpstream-kafka", "password"): "kafka-password",
    ("helpstream-redis", "url"): "rediss://:redis-password@redis:6380/0",
    ("helpstream-console", "client-secret"): "client-secret",
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_the_rendered_environment_is_settings_a_worker_starts_with(variant: str, tmp_path: Path) -> None:
    """What `helpstream worker` would read in the pod, with the Secrets filled in and their files written: valid
    settings (an invalid one stops the worker at start, and the pod would restart forever)."""
    (deployment,) = by_kind(render(*VARIANTS[variant]))["Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    files = {
        "/run/secrets/registry/public.pem": generate(tmp_path)[1],
        "/run/secrets/kafka/ca.crt": tmp_path / "ca.crt",
    }
    (tmp_path / "ca.crt").write_text("a CA bundle")
    secrets = {**SECRETS, ("helpstream-console", "session-key"): Fernet.generate_key().decode()}
    values: dict[str, Any] = {"model_roots": "/opt/helpstream"}  # the image's ENV, which the pod's env overrides
    for item in container["env"]:
        field = item["name"].removeprefix("HELPSTREAM_").lower()
        assert field in Settings.model_fields, item["name"]
        if "valueFrom" in item:
            ref = item["valueFrom"]["secretKeyRef"]
            values[field] = secrets[(ref["name"], ref["key"])]
        else:
            values[field] = files.get(item["value"], item["value"])
    settings = Settings(**values)
    assert settings.oidc_issuer == ISSUER
    assert settings.cautions() == []  # nothing a security review would question
    mounted = {mount["mountPath"] for mount in container["volumeMounts"]}
    assert {"/run/secrets/kafka", "/run/secrets/registry", "/data"} <= mounted
    roots = [Path(root) for root in settings.model_roots.split(":")]
    assert any(Path("/opt/helpstream/model").is_relative_to(root) for root in roots)
