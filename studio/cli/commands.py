"""The sub-commands that inspect the studio: plugins, models, doctor (and, from their own modules, train,
generate, music and dream)."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from studio.cli import dream_commands, music_commands, train_commands, workspace_commands
from studio.cli.output import print_json, print_table
from studio.core.plugins import ALLOW_LIST_VARIABLE, discover
from studio.core.specs import CONTRACT_VERSION


def add_all(sub: argparse._SubParsersAction) -> None:
    plugins = sub.add_parser("plugins", help="list plugins and why any failed")
    plugins_sub = plugins.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = plugins_sub.add_parser("list", help="every plugin found, with its status")
    listing.add_argument("--json", action="store_true", help="machine-readable output (see docs/cli.md)")
    listing.set_defaults(run=plugins_list)

    models = sub.add_parser("models", help="list the models plugins contribute")
    models_sub = models.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = models_sub.add_parser("list", help="every model, its family and capabilities")
    listing.add_argument("--json", action="store_true", help="machine-readable output (see docs/cli.md)")
    listing.set_defaults(run=models_list)

    doctor = sub.add_parser("doctor", help="check this machine: versions, device, audio, display, data")
    doctor.add_argument("--json", action="store_true", help="machine-readable output (see docs/cli.md)")
    doctor.set_defaults(run=doctor_run)

    train_commands.add_all(sub)
    music_commands.add_all(sub)
    dream_commands.add_all(sub)
    workspace_commands.add_all(sub)


def plugins_list(args: argparse.Namespace) -> int:
    host = discover()
    plugins = sorted(host.plugins.values(), key=lambda p: p.name)
    if args.json:
        print_json({"contract_version": CONTRACT_VERSION, "plugins": [p.as_json() for p in plugins]})
        return 0
    rows = [(p.name, p.version or "-", p.distribution or "-", str(p.contract), p.summary) for p in plugins]
    print_table(("plugin", "version", "package", "contract", "status"), rows)
    for p in host.failures:
        print(f"\n{p.name} failed in {p.stage}:\n{p.error.rstrip()}")
    for p in plugins:
        if p.status == "not found":
            print(f"studio: warning: {ALLOW_LIST_VARIABLE} names {p.name!r}, but no installed plugin has "
                  "this name", file=sys.stderr)
    return 0


def model_json(spec) -> dict:
    return {
        "name": spec.name,
        "title": spec.title,
        "family": spec.family,
        "capabilities": list(spec.capabilities),
        "trainable": spec.trainer is not None,
        "data_kind": spec.data_kind,
        "plugin": spec.plugin,
        "plugin_version": spec.plugin_version,
        "description": spec.description,
        "config": dataclasses.asdict(spec.config()),
        "builds_on": list(spec.builds_on),
        "imports_from": list(spec.imports_from),
        "featured": spec.featured,
    }


def models_list(args: argparse.Namespace) -> int:
    from studio.core.starters import starters

    host = discover()
    models = sorted(host.registry.models.values(), key=lambda m: m.name)
    shipped = [s for s in starters() if s.spec in host.registry.models]
    if args.json:
        print_json({"contract_version": CONTRACT_VERSION, "models": [model_json(m) for m in models],
                    "starters": [{"title": s.title, "model": s.spec, "step": s.step, "checkpoint": str(s.checkpoint),
                                  "command": s.command} for s in shipped]})
        return 0
    if not models:
        print("No models: every plugin is disabled or failed. See `studio plugins list`.")
        return 0
    rows = [(m.name, m.family, ", ".join(m.capabilities), ", ".join(m.builds_on) or "-", m.plugin) for m in models]
    print_table(("model", "family", "capabilities", "builds on", "plugin"), rows)
    if shipped:
        print("\nStarter models (trained, read-only: `studio generate MODEL --checkpoint PATH`; "
              "`studio train MODEL --start-from PATH` trains one further):")
        print_table(("starter", "model", "step", "path"),
                    [(s.title, s.spec, str(s.step), str(s.checkpoint.parent)) for s in shipped])
    return 0


def doctor_run(args: argparse.Namespace) -> int:
    from studio.cli.doctor import diagnose, print_report

    report = diagnose(args)
    if args.json:
        print_json(report)
    else:
        print_report(report)
    return 0 if report["ok"] else 1
