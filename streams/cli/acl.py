"""`helpstream acl plan | apply`: the least-privilege Kafka ACLs for the worker, the operator, the chat platform,
the CMS and the agent UI; `plan` prints them (a table, or `kafka-acls.sh` lines), `apply` creates them with the
connection settings of an administrator (creating a rule that exists changes nothing)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from typing import Any

from streams.settings import Settings
from streams.topology.acls import Acl, Principals, acl_plan


def add_parser(commands: Any) -> None:
    acl = commands.add_parser("acl", help="the least-privilege Kafka ACLs of helpstream's principals")
    actions = acl.add_subparsers(dest="action", required=True)
    plan = actions.add_parser("plan", help="print the ACLs")
    plan.add_argument("--format", choices=("table", "kafka-acls"), default="table")
    apply = actions.add_parser("apply", help="create the ACLs (HELPSTREAM_BROKER_* as an administrator)")
    for parser in (plan, apply):
        for field in fields(Principals):
            flag = "--" + field.name.replace("_", "-")
            what = "the agent UI's consumer group prefix" if field.name == "agent_ui_group" else "principal"
            parser.add_argument(flag, default=field.default, help=f"{what} (default: %(default)s)")


def _principals(args: argparse.Namespace) -> Principals:
    return Principals(**{f.name: getattr(args, f.name) for f in fields(Principals)})


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        plan = acl_plan(settings, _principals(args))
    except ValueError as exc:
        print(f"helpstream: {exc}", file=sys.stderr)
        return 2
    if args.action == "plan":
        if args.format == "kafka-acls":
            for rule in plan:
                print(f"kafka-acls.sh --bootstrap-server {settings.broker} --add {rule.kafka_acls_args()}")
        else:
            print("\n".join(table_lines(plan)))
        return 0
    return apply(plan, settings)


def table_lines(plan: list[Acl]) -> list[str]:
    lines = [f"{'principal':<26} {'resource':<9} {'pattern':<9} {'name':<28} operation"]
    lines += [f"{r.principal:<26} {r.resource:<9} {r.pattern:<9} {r.name:<28} {r.operation}" for r in plan]
    return lines


def apply(plan: list[Acl], settings: Settings) -> int:
    from kafka.admin import (
        ACL,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        KafkaAdminClient,
        ResourcePattern,
        ResourceType,
    )

    from streams.clients.kafka import KafkaConnection

    kafka = KafkaConnection.of(settings)
    options: dict[str, Any] = {"bootstrap_servers": kafka.bootstrap, "security_protocol": kafka.security_protocol}
    if kafka.uses_tls:
        options["ssl_context"] = kafka.ssl_context()
    if kafka.uses_sasl:
        options.update(
            sasl_mechanism=kafka.sasl_mechanism, sasl_plain_username=kafka.username, sasl_plain_password=kafka.password
        )
    admin = KafkaAdminClient(client_id="helpstream-acl", **options)
    try:
        result = admin.create_acls(
            [
                ACL(
                    rule.principal,
                    "*",
                    ACLOperation[rule.operation],
                    ACLPermissionType.ALLOW,
                    ResourcePattern(ResourceType[rule.resource], rule.name, ACLResourcePatternType[rule.pattern]),
                )
                for rule in plan
            ]
        )
    finally:
        admin.close()
    failed = result.get("failed", [])
    for acl, error in failed:
        print(f"helpstream: not created: {acl}: {error}")
    print(f"{len(result.get('succeeded', []))} ACLs in place for {len({r.principal for r in plan})} principals")
    return 1 if failed else 0
