"""``studio doctor``: what this machine offers the studio, and what is missing.

``problems`` are what keep the studio from working (the exit status is then 1);
``warnings`` are what limits it (no audio output, no display, ...). Every JSON
object has the same keys whatever happened (``null`` when a value is unknown),
as docs/cli.md describes.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from typing import Any, Optional

from studio import __version__
from studio.core import network_guard
from studio.core.plugins import discover
from studio.core.specs import CONTRACT_VERSION, resolve
from studio.core.workspace import WORKSPACE_VARIABLE, choose_workspace
from studio.engine.rebuild import open_workspace

PACKAGES = (
    "torch", "PySide6-Essentials", "pyqtgraph", "numpy", "pillow", "safetensors", "pluggy",
    "diffusers", "transformers", "tokenizers", "mido", "sounddevice", "scikit-learn",
)


def diagnose(args) -> dict[str, Any]:
    problems: list[str] = []
    warnings: list[str] = []
    host = discover()
    display = _display(warnings)
    saved = display.pop("saved_workspace")
    report = {
        "studio": __version__,
        "contract_version": CONTRACT_VERSION,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": _packages(),
        "device": _device(args.device, problems, warnings),
        "audio": _audio(warnings),
        "sound": _sound(warnings),
        "display": display,
        "workspace": _workspace(args.workspace, problems, warnings, saved),
        "datasets": _datasets(host),
        "plugins": {
            "loaded": sorted(p.name for p in host.plugins.values() if p.status == "loaded"),
            "failed": sorted(p.name for p in host.failures),
            "skipped": sorted(p.name for p in host.plugins.values() if p.status == "skipped"),
            "not_found": sorted(p.name for p in host.plugins.values() if p.status == "not found"),
        },
    }
    for info in host.failures:  # what it would have provided is missing: the studio is not all right
        problems.append(f"plugin {info.name} failed to load ({info.summary}): see `studio plugins list`")
    for name in report["plugins"]["not_found"]:
        warnings.append(f"STUDIO_PLUGINS names {name!r}, but no installed plugin has this name")
    report["network"] = _network(problems)  # last: it counts what the checks above tried
    report["problems"] = problems
    report["warnings"] = warnings
    report["ok"] = not problems
    return report


def _packages() -> dict[str, Any]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _device(requested, problems: list, warnings: list) -> dict[str, Any]:
    try:
        import torch

        from studio.core.device import pick_device

        choice = pick_device(requested)
    except Exception as exc:  # torch missing or broken: report, don't crash the doctor
        problems.append(f"PyTorch cannot be used: {exc}")
        return {"name": None, "description": None, "cuda_available": None, "mps_available": None,
                "error": str(exc)}
    if choice.warning:
        warnings.append(choice.warning)
    return {
        "name": choice.name,
        "description": choice.description,
        "cuda_available": torch.cuda.is_available(),
        "mps_available": bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()),
        "error": None,
    }


def _audio(warnings: list) -> dict[str, Any]:
    try:
        import sounddevice
    except OSError as exc:  # PortAudio itself is missing
        warnings.append(f"no audio playback: {exc} (install libportaudio2)")
        return {"available": False, "output_devices": [], "error": str(exc)}
    outputs = [d["name"] for d in sounddevice.query_devices() if d["max_output_channels"] > 0]
    if not outputs:
        warnings.append("no audio output device: the piano roll can still export WAV and MIDI")
    return {"available": bool(outputs), "output_devices": outputs, "error": None}


def _sound(warnings: list) -> dict[str, Any]:
    """What the piano roll plays and renders with (FluidSynth and its SoundFont, or the built-in
    synthesizer) and whether live MIDI works (an ALSA sequencer on Linux)."""
    from studio.core.music.fluid import find_soundfont, fluidsynth_status
    from studio.core.music.live import midi_status
    from studio.core.music.sound import renderer

    fluid_ok, fluid_reason = fluidsynth_status()
    soundfont = find_soundfont()
    midi_ok, midi_message = midi_status()
    if not fluid_ok:
        warnings.append(f"{fluid_reason}: the piano roll uses its built-in synthesizer")
    elif soundfont is None:
        warnings.append("no General MIDI SoundFont found (install fluid-soundfont-gm or set STUDIO_SOUNDFONT): "
                        "the piano roll uses its built-in synthesizer")
    if not midi_ok:
        warnings.append(midi_message)
    return {"renderer": renderer().name, "fluidsynth": {"available": fluid_ok, "reason": fluid_reason},
            "soundfont": None if soundfont is None else str(soundfont),
            "midi": {"available": midi_ok, "message": midi_message}}


def _display(warnings: list) -> dict[str, Any]:
    """Whether Qt can open its platform here, and the workspace the app last opened (its settings):
    asked of ``python -m studio.ui.display`` in a child, so a Qt that aborts cannot hurt us and the
    command line never imports Qt."""
    import json

    entry = {"usable": False, "platform": None, "error": None, "saved_workspace": None}
    try:
        done = subprocess.run([sys.executable, "-m", "studio.ui.display"], capture_output=True, text=True,
                              timeout=30)
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if lines:
            entry.update(json.loads(lines[-1]))
        else:
            last = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
            entry["error"] = f"Qt could not be started: {last[0]}"
    except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
        entry["error"] = str(exc)
    if not entry["usable"]:
        warnings.append(f"Qt cannot open a display: {entry['error']}")
    return {
        "usable": entry["usable"],
        "platform": entry["platform"] if entry["usable"] else None,
        "error": None if entry["usable"] else entry["error"],
        "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM"),
        "DISPLAY": os.environ.get("DISPLAY"),
        "WAYLAND_DISPLAY": os.environ.get("WAYLAND_DISPLAY"),
        "saved_workspace": entry["saved_workspace"],
    }


def _workspace(cli_value, problems: list, warnings: list, saved: Optional[str] = None) -> dict[str, Any]:
    """The workspace the app would open, chosen in the same order (see studio.core.workspace);
    ``saved`` is the one its settings name."""
    path = choose_workspace(cli_value, saved)
    if cli_value:
        chosen_by = "--workspace"
    elif os.environ.get(WORKSPACE_VARIABLE):
        chosen_by = WORKSPACE_VARIABLE
    else:
        chosen_by = "settings" if saved else "default"
    entry = {"path": str(path), "chosen_by": chosen_by, "usable": False, "schema_version": None,
             "counts": None, "error": None}
    try:
        workspace = open_workspace(path)  # a damaged catalogue is rebuilt, and the warning says so
    except Exception as exc:
        problems.append(f"workspace {path} cannot be used: {exc}")
        entry["error"] = str(exc)
        return entry
    try:
        if workspace.store.recovery_message:
            warnings.append(workspace.store.recovery_message)
        entry.update(usable=True, schema_version=workspace.store.schema_version, counts=workspace.store.counts())
        return entry
    finally:
        workspace.close()


def _network(problems: list) -> dict[str, Any]:
    """The network guard of this process: whether it is installed, what it lets through, and how many
    accesses it refused while the doctor ran (loading the plugins, say)."""
    installed = network_guard.installed()
    if not installed:
        problems.append("the network guard is not installed in this process: nothing stops a plugin or a library "
                        "from using the network")
    return {"guard_installed": installed, "allows": network_guard.allowed() if installed else None,
            "blocked_attempts": network_guard.blocked_attempts()}


def _datasets(host) -> list[dict[str, Any]]:
    found = []
    for spec in sorted(host.registry.dataset_sources.values(), key=lambda s: s.name):
        entry = {"name": spec.name, "kind": spec.kind, "needs_location": spec.needs_location,
                 "available": None, "error": None}  # None: the source has no check (a folder you give)
        if spec.available is not None:
            try:
                entry["available"] = bool(resolve(spec.available)())
            except Exception as exc:
                entry["available"], entry["error"] = False, str(exc)
        found.append(entry)
    return found


def print_report(report: dict[str, Any]) -> None:
    print(f"Generative Studio {report['studio']} (contract {report['contract_version']}), "
          f"Python {report['python']} on {report['platform']}")
    print("\nPackages:")
    for name, version in report["packages"].items():
        print(f"  {name:20} {version or 'not installed'}")
    device = report["device"]
    print(f"\nDevice:    {device.get('description') or device.get('error')}")
    audio = report["audio"]
    print(f"Audio:     {', '.join(audio['output_devices']) or 'no output device'}")
    sound = report["sound"]
    print(f"Sound:     {sound['renderer']}" + (f", SoundFont {sound['soundfont']}" if sound["soundfont"] else ""))
    print(f"MIDI:      {sound['midi']['message']}")
    display = report["display"]
    print(f"Display:   {display['platform'] or display['error']}")
    workspace = report["workspace"]
    print(f"Workspace: {workspace['path']} (from {workspace['chosen_by']})"
          + ("" if workspace["usable"] else f": {workspace['error']}"))
    network = report["network"]
    if network["guard_installed"]:
        blocked = network["blocked_attempts"]
        print(f"Network:   guarded, allows only {', '.join(network['allows'])} "
              f"({blocked} {'attempt' if blocked == 1 else 'attempts'} blocked)")
    else:
        print("Network:   not guarded")
    print("Datasets:  " + (", ".join(
        f"{d['name']}{' (not installed)' if d['available'] is False else ''}" for d in report["datasets"]
    ) or "none registered"))
    plugins = report["plugins"]
    print(f"Plugins:   {len(plugins['loaded'])} loaded, {len(plugins['failed'])} failed, "
          f"{len(plugins['skipped'])} skipped" + (f", {len(plugins['not_found'])} not found"
                                                  if plugins["not_found"] else ""))
    for title, lines in (("Problems", report["problems"]), ("Warnings", report["warnings"])):
        if lines:
            print(f"\n{title}:")
            for line in lines:
                print(f"  - {line}")
    failed = report["plugins"]["failed"]
    if failed:
        print(f"\n{'Plugins' if len(failed) > 1 else 'The plugin'} {', '.join(failed)} failed to load: see "
              "`studio plugins list`.")
    elif report["ok"]:
        print("\nAll good.")
    else:
        print("\nThe studio cannot run until the problems above are fixed.")
