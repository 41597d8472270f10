"""The ACL plan: each principal gets its job and nothing more, on the topic names and group the settings give."""

from __future__ import annotations

import pytest

from streams.cli.acl import table_lines
from streams.settings import Settings, isolated
from streams.topology.acls import Principals, acl_plan


def grants(settings: Settings) -> dict[str, set[tuple[str, str, str]]]:
    found: dict[str, set[tuple[str, str, str]]] = {}
    for rule in acl_plan(settings, Principals()):
        found.setdefault(rule.principal, set()).add((rule.resource, rule.name, rule.operation))
    return found


def test_the_platforms_write_only_their_own_topic_and_the_agent_ui_reads_only_recommendations() -> None:
    s = isolated(Settings(), "r1")  # type: ignore[call-arg]
    g = grants(s)
    assert g["User:chat-platform"] == {("TOPIC", s.topic_chat, "WRITE"), ("TOPIC", s.topic_chat, "DESCRIBE")}
    assert g["User:cms"] == {("TOPIC", s.topic_content, "WRITE"), ("TOPIC", s.topic_content, "DESCRIBE")}
    reads = {name for kind, name, op in g["User:agent-ui"] if op == "READ"}
    assert reads == {s.topic_recommendations, "agent-ui"}
    writes = {name for kind, name, op in g["User:agent-ui"] if op == "WRITE"}
    assert writes == {s.topic_feedback}


def test_only_the_operator_writes_the_registry_and_only_the_worker_writes_figures() -> None:
    s = isolated(Settings(), "r2")  # type: ignore[call-arg]
    writers = {
        topic: {p for p, rules in grants(s).items() if ("TOPIC", topic, "WRITE") in rules}
        for topic in (s.topic_models, s.topic_figures)
    }
    assert writers == {s.topic_models: {"User:helpstream-operator"}, s.topic_figures: {"User:helpstream-worker"}}


def test_nothing_is_granted_on_the_cluster_and_prefixes_cover_only_the_workers_own_names() -> None:
    s = isolated(Settings(), "r3")  # type: ignore[call-arg]
    plan = acl_plan(s, Principals(worker="User:w"))
    assert {r.resource for r in plan} == {"TOPIC", "GROUP"}
    prefixed = {(r.principal, r.resource, r.name) for r in plan if r.pattern == "PREFIXED"}
    assert prefixed == {
        ("User:w", "TOPIC", f"{s.app_id}-"),
        ("User:w", "GROUP", s.app_id),
        ("User:agent-ui", "GROUP", "agent-ui"),
    }


def test_the_plan_prints_as_kafka_acls_arguments() -> None:
    rule = acl_plan(Settings(), Principals())[0]  # type: ignore[call-arg]
    assert rule.kafka_acls_args().startswith(f"--allow-principal {rule.principal} --operation ")
    assert table_lines([rule])[1].split()[0] == rule.principal


def test_a_topic_under_the_workers_prefix_is_refused_rather_than_granted_to_it() -> None:
    s = isolated(Settings(), "r4")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="HELPSTREAM_APP_ID"):
        acl_plan(s.model_copy(update={"topic_models": f"{s.app_id}-models"}), Principals())


def test_the_default_plan_grants_exactly_these_rules() -> None:
    """A golden list: any widening (a prefixed rule over the registry, a new operation) shows up here."""
    plan = acl_plan(Settings(), Principals())  # type: ignore[call-arg]
    own = {"CREATE", "DESCRIBE", "DESCRIBE_CONFIGS"}
    expected = {
        ("User:helpstream-worker", "chat.started"): {"READ", *own},
        ("User:helpstream-worker", "content.updated"): {"READ", *own},
        ("User:helpstream-worker", "recommendations"): {"READ", "WRITE", *own},
        ("User:helpstream-worker", "helpstream.dead-letter"): {"WRITE", *own},
        ("User:helpstream-worker", "recommendation.feedback"): {"READ", "WRITE", *own},
        ("User:helpstream-worker", "helpstream.usage"): {"WRITE", *own},
        ("User:helpstream-worker", "helpstream.models"): {"READ", *own},
        ("User:helpstream-worker", "helpstream.figures"): {"READ", "WRITE", *own},
        ("User:helpstream-worker", "helpstream-"): {"READ", "WRITE", *own},
        ("User:helpstream-worker", "helpstream"): {"READ", "DESCRIBE"},
        ("User:helpstream-operator", "helpstream.models"): {"READ", "WRITE", *own},
        ("User:helpstream-operator", "helpstream.figures"): {"READ", *own},
        ("User:helpstream-operator", "helpstream.usage"): {"READ", *own},
        ("User:chat-platform", "chat.started"): {"WRITE", "DESCRIBE"},
        ("User:cms", "content.updated"): {"WRITE", "DESCRIBE"},
        ("User:agent-ui", "recommendations"): {"READ", "DESCRIBE"},
        ("User:agent-ui", "recommendation.feedback"): {"WRITE", "DESCRIBE"},
        ("User:agent-ui", "agent-ui"): {"READ", "DESCRIBE"},
    }
    found: dict[tuple[str, str], set[str]] = {}
    for rule in plan:
        found.setdefault((rule.principal, rule.name), set()).add(rule.operation)
    assert found == expected
    assert {(r.name, r.pattern) for r in plan if r.pattern == "PREFIXED"} == {
        ("helpstream-", "PREFIXED"),
        ("helpstream", "PREFIXED"),
        ("agent-ui", "PREFIXED"),
    }
