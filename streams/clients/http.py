"""Small blocking HTTP helpers for a worker's JSON endpoints and its Prometheus `/metrics`."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families


def get_json(url: str, timeout_s: float = 5, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """(status, decoded body); an HTTP error status is returned, not raised."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=timeout_s) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def metric(base_url: str, name: str, headers: dict[str, str] | None = None, **labels: str) -> float:
    """Sum of the samples called `name` (with these labels) in `base_url/metrics`."""
    request = urllib.request.Request(f"{base_url}/metrics", headers=headers or {})
    with urllib.request.urlopen(request, timeout=5) as response:
        text = response.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )
