"""Who may do what on Kafka: the least-privilege ACLs of helpstream's five principals, derived from the settings'
topic names and group, as `helpstream acl plan` prints them and `helpstream acl apply` creates them."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

from streams.settings import Settings

Operation = Literal["READ", "WRITE", "CREATE", "DESCRIBE", "DESCRIBE_CONFIGS"]
# What a worker does with a topic it creates and checks: create it, see it, compare its configs.
_OWN: tuple[Operation, ...] = ("DESCRIBE", "CREATE", "DESCRIBE_CONFIGS")


@dataclass(frozen=True)
class Principals:
    """The Kafka principals (`User:NAME`, as the broker authenticates them) and the agent UI's group prefix."""

    worker: str = "User:helpstream-worker"
    operator: str = "User:helpstream-operator"
    chat_platform: str = "User:chat-platform"
    cms: str = "User:cms"
    agent_ui: str = "User:agent-ui"
    agent_ui_group: str = "agent-ui"

    def roles(self) -> dict[str, str]:
        """Role → principal, the UI's group prefix left out."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "agent_ui_group"}


@dataclass(frozen=True, order=True)
class Acl:
    """One ALLOW rule, from any host."""

    principal: str
    resource: Literal["TOPIC", "GROUP"]
    pattern: Literal["LITERAL", "PREFIXED"]
    name: str
    operation: Operation

    def kafka_acls_args(self) -> str:
        """The rule as `kafka-acls.sh --add` arguments."""
        kind = "--topic" if self.resource == "TOPIC" else "--group"
        operation = self.operation.title().replace("_", "")
        return (
            f"--allow-principal {self.principal} --operation {operation} {kind} {self.name} "
            f"--resource-pattern-type {self.pattern.lower()}"
        )


def acl_plan(settings: Settings, principals: Principals) -> list[Acl]:
    """Every rule, sorted. Nothing is granted on the cluster, and nothing beyond these is needed: the broker's
    `allow.everyone.if.no.acl.found=false` denies the rest."""
    s, p = settings, principals
    named = [
        s.topic_chat,
        s.topic_content,
        s.topic_recommendations,
        s.topic_dead_letter,
        s.topic_feedback,
        s.topic_usage,
    ]
    overlapping = [t for t in [*named, s.topic_models, s.topic_figures] if t.startswith(f"{s.app_id}-")]
    if overlapping or p.agent_ui_group.startswith(s.app_id):
        # The worker's prefixed grants would reach them: the registry, another party's topic or group.
        raise ValueError(
            f"{', '.join(overlapping) or p.agent_ui_group} starts with HELPSTREAM_APP_ID's prefix "
            f"({s.app_id}-): the worker's prefixed ACLs would cover it; rename one of them"
        )
    rules: list[Acl] = []

    def topic(principal: str, name: str, *operations: Operation, pattern: str = "LITERAL") -> None:
        rules.extend(Acl(principal, "TOPIC", pattern, name, op) for op in operations)  # type: ignore[arg-type]

    def group(principal: str, prefix: str) -> None:
        rules.extend(Acl(principal, "GROUP", "PREFIXED", prefix, op) for op in ("READ", "DESCRIBE"))

    # The worker: consumes chats, CMS changes and agents' feedback; produces recommendations, dead letters,
    # feedback from the console, usage and its figures; reads the registry but may not write it.
    topic(p.worker, s.topic_chat, "READ", *_OWN)
    topic(p.worker, s.topic_content, "READ", *_OWN)
    topic(p.worker, s.topic_recommendations, "READ", "WRITE", *_OWN)
    topic(p.worker, s.topic_dead_letter, "WRITE", *_OWN)
    topic(p.worker, s.topic_feedback, "READ", "WRITE", *_OWN)
    topic(p.worker, s.topic_usage, "WRITE", *_OWN)
    topic(p.worker, s.topic_models, "READ", *_OWN)
    topic(p.worker, s.topic_figures, "READ", "WRITE", *_OWN)
    # Faust's internal topics (the content table's changelog, the assignor's) and the console's groups.
    topic(p.worker, f"{s.app_id}-", "READ", "WRITE", *_OWN, pattern="PREFIXED")
    group(p.worker, s.app_id)
    # The operator: `helpstream model` reads the figures and writes the registry; `helpstream usage` and `learn`
    # read what agents used.
    topic(p.operator, s.topic_models, "READ", "WRITE", *_OWN)
    topic(p.operator, s.topic_figures, "READ", *_OWN)
    topic(p.operator, s.topic_usage, "READ", *_OWN)
    topic(p.chat_platform, s.topic_chat, "WRITE", "DESCRIBE")
    topic(p.cms, s.topic_content, "WRITE", "DESCRIBE")
    topic(p.agent_ui, s.topic_recommendations, "READ", "DESCRIBE")
    topic(p.agent_ui, s.topic_feedback, "WRITE", "DESCRIBE")
    group(p.agent_ui, p.agent_ui_group)
    return sorted(set(rules))
