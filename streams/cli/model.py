"""`helpstream model list | add MODEL | promote MODEL | rollback | retire MODEL`: change which model the whole
group runs, live, through the registry topic (workers follow it; none restarts); records are signed with
`HELPSTREAM_REGISTRY_SIGNING_KEY` when set. `helpstream model keygen --out DIR`: the key pair.
`helpstream model export MODEL --out DIR`: a model directory that an install without torch serves."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from streams.settings import Settings

BACKENDS = ("onnx", "onnx-int8", "torch")


def add_parser(commands: Any) -> None:
    model = commands.add_parser("model", help="list, add, promote, roll back or retire the group's models")
    actions = model.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="the registry and each model's live figures across the group")
    listing.add_argument("--json", action="store_true", help="print the report as JSON")
    add = actions.add_parser("add", help="load a candidate on every worker and backfill its vectors")
    add.add_argument("model", help="a ladder name or a model directory (the same path on every worker)")
    add.add_argument("--backend", choices=BACKENDS, default=None, help="default: HELPSTREAM_ENCODER")
    promote = actions.add_parser("promote", help="make a candidate the active model, once it passes the gates")
    promote.add_argument("model", help="its model id (or the model it was added as)")
    promote.add_argument("--force", metavar="WHY", default=None, help="promote past failed gates; WHY is recorded")
    keygen = actions.add_parser(
        "keygen", help="write an Ed25519 key pair: the private key signs registry records, workers hold the public one"
    )
    keygen.add_argument("--out", type=Path, required=True, help="the directory to write both PEM files to")
    actions.add_parser("rollback", help="switch back to the previous model at once")
    retire = actions.add_parser("retire", help="stop running a model and drop its vectors")
    retire.add_argument("model")
    export = actions.add_parser(
        "export", help="write a self-contained model directory (ONNX, int8, tokenizer, manifest) to serve without torch"
    )
    export.add_argument(
        "model", help="a ladder name, a sentence-transformers directory (e.g. from `helpstream tune`) or a hub id"
    )
    export.add_argument("--out", type=Path, required=True, help="the directory to write (replaced if an export)")
    for parser in (add, promote, actions.choices["rollback"], retire):
        parser.add_argument(
            "--operator",
            default=None,
            help="who makes the change, recorded in the registry (default: HELPSTREAM_BROKER_USERNAME, else the login)",
        )
    for parser in (add, promote, actions.choices["rollback"]):
        parser.add_argument(
            "--wait", type=float, default=0, metavar="S", help="wait up to S seconds for every worker to follow"
        )


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "export":
        return export(args.model, args.out, settings)
    if args.action == "keygen":
        return keygen(args.out)
    return asyncio.run(_run(args, settings))


def keygen(out: Path) -> int:
    from streams.registry.signing import generate

    try:
        private, public = generate(out)
    except FileExistsError as exc:
        print(f"helpstream: {exc}", file=sys.stderr)
        return 1
    print(f"private key (operators only: HELPSTREAM_REGISTRY_SIGNING_KEY): {private}")
    print(f"public key (every worker and operator: HELPSTREAM_REGISTRY_PUBLIC_KEY): {public}")
    return 0


def _operator(args: argparse.Namespace, settings: Settings) -> str:
    import getpass

    if args.operator or settings.broker_username:
        return str(args.operator or settings.broker_username)
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a uid with no name (a container's): --operator says who
        return ""


def export(setting: str, out: Path, settings: Settings) -> int:
    from index.backends import model_id
    from index.export import export_directory
    from index.models import ModelUnavailable, fetched

    try:
        model = fetched(settings.model_policy().allowed(setting))  # what the workers would refuse is not exported
        print(f"exporting {model.name} to {out} (ONNX fp32, int8 for this CPU, tokenizer, manifest)", flush=True)
        manifest = export_directory(model, out, settings.data_dir / "models")
    except (ModelUnavailable, ValueError) as exc:
        print(f"helpstream: {exc}", file=sys.stderr)
        return 2
    for name in manifest.files:
        print(f"  {name:<28} {(out / name).stat().st_size / 1e6:8.1f} MB  sha256 {manifest.files[name][:16]}…")
    for backend in ("onnx", "onnx-int8"):
        print(f"  model id on {backend:<9}  {model_id(model, backend)}")
    print(f"serve it, with or without torch installed: HELPSTREAM_MODEL={out.resolve()}")
    return 0


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    from index.models import ModelUnavailable
    from streams.cli.worker import require_broker
    from streams.clients.kafka import KafkaConnection
    from streams.engine.models import model_ref
    from streams.registry import state
    from streams.registry.channel import read_control, write_registry
    from streams.registry.report import models_report, still_needed
    from streams.topology.admin import ensure_topics
    from streams.topology.topics import topic_specs

    kafka = KafkaConnection.of(settings, require_broker(settings))
    control_topics = (settings.topic_models, settings.topic_figures)
    await ensure_topics(kafka, [s for s in topic_specs(settings) if s.name in control_topics])
    decided_at = datetime.now(UTC)  # figures made by now are the ones this change is judged on, here and by workers
    control = await read_control(kafka, settings)
    registry = control.registry
    if registry.active is None and args.action not in ("list", "export", "keygen"):
        try:
            registry = state.seed(registry, _serving(control, settings)) or registry
        except state.Refused as exc:
            print(f"helpstream: {exc}", file=sys.stderr)
            return 1
    budget = settings.budget_chat_p99_ms
    try:
        if args.action == "list":
            report = models_report(control, budget)
            if args.json:
                import orjson

                print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
            else:
                print_report(report)
            return 0
        if args.action == "add":
            setting = str(Path(args.model).resolve()) if Path(args.model).is_dir() else args.model
            settings.model_policy().allowed(setting)  # what every worker checks again before loading it
            ref = model_ref(setting, args.backend or settings.encoder)
            changed = state.add(registry, ref)
            wanted = ref.model_id
        elif args.action == "promote":
            if args.force is not None and not (args.force.strip() and _operator(args, settings)):
                raise state.Refused("--force needs a reason, and --operator when this login has no name")
            wanted = _model_id(registry.candidates, args.model)
            report = models_report(control, budget, decided_at)
            entry = next(m for m in report["models"] if m["model_id"] == wanted)
            failed = [g for g in entry["gates"] if not g["passed"]]
            for gate in entry["gates"]:
                print(f"  {'pass' if gate['passed'] else 'FAIL'}  {gate['name']:<9} {gate['detail']}")
            if failed and args.force is None:
                names = ", ".join(g["name"] for g in failed)
                print(f"helpstream: not promoted: {names} failed (--force WHY overrides)", file=sys.stderr)
                return 1
            changed = state.promote(registry, wanted, args.force if failed else None)
        elif args.action == "rollback":
            changed = state.rollback(registry)
            wanted = changed.active.model_id if changed.active else ""
        else:
            wanted = _model_id(registry.live(), args.model)
            changed = state.retire(registry, wanted)
            needed = still_needed(models_report(control, budget), registry, wanted)
            if needed is not None:
                raise state.Refused(needed)
    except (state.Refused, ModelUnavailable) as exc:
        print(f"helpstream: {exc}", file=sys.stderr)
        return 1
    await write_registry(kafka, settings, state.stamped(changed, _operator(args, settings), decided_at))
    print(f"registry revision {changed.revision}: {args.action} {wanted}")
    if getattr(args, "wait", 0):
        return await _wait(args, settings, kafka, wanted, changed.revision)
    return 0


def _serving(control: Any, settings: Settings) -> Any:
    """An empty registry (workers that may not write it serve their HELPSTREAM_MODEL): the first change names the
    model the running workers answer with, which each of them reports."""
    from streams.engine.models import model_ref
    from streams.registry.figures import answering
    from streams.registry.state import Refused

    try:
        found = answering(control.figures.values(), datetime.now(UTC))
    except ValueError as exc:
        raise Refused(str(exc)) from None
    return found or model_ref(settings.model, settings.encoder)


def _model_id(refs: Any, name: str) -> str:
    """A model id from its id or from the setting it was added as (a ladder name, a directory)."""
    resolved = str(Path(name).resolve()) if Path(name).is_dir() else name
    matches = [r.model_id for r in refs if name in (r.model_id, r.model) or resolved == r.model]
    if len(matches) != 1:
        from streams.registry.state import Refused

        raise Refused(f"{name} names {len(matches)} models here: give its model id (`helpstream model list`)")
    return str(matches[0])


async def _wait(args: argparse.Namespace, settings: Settings, kafka: Any, model_id: str, revision: int) -> int:
    """Until every worker reporting has followed: the candidate covers the table (add) or answers (promote,
    rollback). Prints the seconds it took, the figure docs/changing-the-model.md quotes."""
    from streams.registry.channel import read_control
    from streams.registry.report import models_report

    started = time.monotonic()
    while time.monotonic() - started < args.wait:
        report = models_report(await read_control(kafka, settings), settings.budget_chat_p99_ms)
        workers = [w for w in report["workers"] if w["revision"] >= revision]
        entry: dict[str, Any] = next((m for m in report["models"] if m["model_id"] == model_id), {})
        if workers and len(workers) == len(report["workers"]):
            done = (
                entry.get("covered_everywhere") and entry.get("workers") == len(workers)
                if args.action == "add"
                else all(w["active"] == model_id and not w["starting"] for w in workers)
            )
            if done:
                print(f"every worker ({len(workers)}) followed in {time.monotonic() - started:.1f} s")
                return 0
        await asyncio.sleep(0.5)
    print(f"helpstream: not every worker followed within {args.wait:.0f} s", file=sys.stderr)
    return 1


def _fmt(value: Any, suffix: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}{suffix}" if value < 10 else f"{value:.0f}{suffix}"
    return f"{value}{suffix}"


def _interleaving(m: dict[str, Any]) -> str:
    if not m.get("interleaved"):
        return "-"
    interval = m.get("interleave_interval")
    shown = f"{m['interleaved']}: {m['interleave_wins']}/{m['interleave_losses']}"
    if interval:
        shown += f" ({_fmt(m.get('interleave_share'))}, {_fmt(interval[0])}-{_fmt(interval[1])})"
    if m.get("interleave_departed_workers"):
        shown += f", {m['interleave_departed_workers']} gone"
    return shown


def print_report(report: dict[str, Any]) -> None:
    starting = sum(bool(w.get("starting")) for w in report["workers"])
    print(
        f"registry revision {report['revision']}, {len(report['workers'])} workers reporting"
        + (f" ({starting} still loading their models)" if starting else "")
    )
    columns = [
        ("role", "role"),
        ("model id", "model_id"),
        ("backend", "backend"),
        ("coverage", "coverage"),
        ("answering", "answering_workers"),
        ("scored", "scored"),
        ("shed", "shed"),
        ("top-1 agree", "top1_agreement"),
        ("top-3 overlap", "top3_overlap"),
        ("encode p50/p99 ms", None),
        ("chat p50/p99 ms", None),
        ("used", "feedback"),
        ("top-1 use", "top1_use"),
        ("MRR", "mrr"),
        ("paired MRR (vs active)", None),
        ("interleaved: wins/losses (share, 95%)", None),
    ]
    rows = []
    for m in report["models"]:
        row = []
        for title, key in columns:
            if key is not None:
                row.append(_fmt(m.get(key)))
            elif title.startswith("encode"):
                row.append(f"{_fmt(m.get('encode_p50_ms'))}/{_fmt(m.get('encode_p99_ms'))}")
            elif title.startswith("chat"):
                row.append(f"{_fmt(m.get('chat_p50_ms'))}/{_fmt(m.get('chat_p99_ms'))}")
            elif title.startswith("paired"):
                row.append(f"{_fmt(m.get('paired_mrr'))} ({_fmt(m.get('paired_active_mrr'))})")
            else:
                row.append(_interleaving(m))
        rows.append(row)
    widths = [
        max(len(title), *(len(r[i]) for r in rows)) if rows else len(title) for i, (title, _) in enumerate(columns)
    ]
    print("  ".join(title.ljust(w) for (title, _), w in zip(columns, widths, strict=True)))
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    for m in report["models"]:
        for gate in m.get("gates", []):
            print(f"promote {m['model_id']}: {'pass' if gate['passed'] else 'FAIL'} {gate['name']}: {gate['detail']}")
    for change in report["history"][-5:]:
        forced = f" (forced: {change['reason']})" if change.get("forced") else ""
        by = f" by {change['operator']}" if change.get("operator") else ""
        figures = ", ".join(f"{k} {v:g}" for k, v in change.get("figures", {}).items())
        print(
            f"  {change['at']}  {change['action']:<8} {change['model_id']}{forced}{by}"
            + (f": {figures}" if figures else "")
        )
