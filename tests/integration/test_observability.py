"""What a platform team watches: the alert rules pass their own unit tests under `promtool`, and every metric the
alert rules and the Grafana dashboard query is one a live worker really exposes (a renamed metric would leave a
panel empty and an alert silent)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.request
from collections.abc import Callable
from pathlib import Path

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from streams.local.processes import ServiceMissing
from streams.settings import Settings
from tests.fixtures import Workers
from tests.integration.clients import chat, consume_keys, produce_json
from tests.services import required, wait_until

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "helpstream.json"
SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created")


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        raise ServiceMissing("promtool is not installed (Debian: apt-get install prometheus)")
    return found


def test_the_alert_rules_pass_promtools_checks_and_their_unit_tests() -> None:
    with required("promtool"):
        tool = promtool()
    checked = subprocess.run([tool, "check", "rules", str(RULES)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        [tool, "test", "rules", "alerts.test.yml"], cwd=RULES.parent, capture_output=True, text=True, check=False
    )
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr


def queried() -> set[str]:
    """Every helpstream metric name the alert rules and the dashboard's panels use."""
    exprs = [RULES.read_text()]
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        exprs += [target["expr"] for target in panel["targets"]]
    return {name for expr in exprs for name in re.findall(r"\bhelpstream_[a-z0-9_]+", expr)}


def family(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def test_every_metric_the_dashboard_and_the_alerts_query_is_exposed_by_a_live_worker(
    make_settings: Callable[..., Settings], workers: Workers
) -> None:
    settings = make_settings()
    worker = workers.start_with_demo_content(settings, "observed")
    produce_json(settings.broker, settings.topic_chat, [chat(f"o-{i}", "my card has not arrived") for i in range(5)])
    consume_keys(settings.broker, settings.topic_recommendations, [f"o-{i}".encode() for i in range(5)], 60)

    def scrape() -> list[Metric]:
        request = urllib.request.Request(f"{worker.url}/metrics", headers=worker.headers())
        with urllib.request.urlopen(request, timeout=5) as response:
            return list(text_string_to_metric_families(response.read().decode()))

    def chat_lags() -> dict[str, float]:
        (lag,) = [f for f in scrape() if f.name == "helpstream_consumer_lag"]
        return {s.labels["partition"]: s.value for s in lag.samples if s.labels["topic"] == settings.topic_chat}

    # The lag panel and alert get a series per chat partition, back to 0 once the chats are handled and committed.
    assert len(chat_lags()) == settings.chat_partitions
    wait_until(lambda: sum(chat_lags().values()) == 0, 30, 0.5)
    families = {f.name: f.type for f in scrape()}
    names = queried()
    assert len(names) >= 10
    missing = sorted(n for n in names if family(n) not in families)
    assert not missing, f"queried but not exposed: {missing}"
    for name in names:
        if name.endswith("_bucket"):
            assert families[family(name)] == "histogram", name
        if name.endswith("_total"):
            assert families[family(name)] == "counter", name
