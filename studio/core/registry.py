"""The catalogue of everything plugins contributed, validated on the way in."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from studio.core.errors import UserError
from studio.core.specs import (
    Contributions,
    DatasetSourceSpec,
    ExporterSpec,
    ModelSpec,
    PanelSpec,
    SpecError,
)

_KINDS = {
    "models": ModelSpec,
    "panels": PanelSpec,
    "dataset_sources": DatasetSourceSpec,
    "exporters": ExporterSpec,
}
_LABELS = {"models": "model", "panels": "panel", "dataset_sources": "dataset source", "exporters": "exporter"}


class UnknownName(UserError, KeyError):
    """Asked for a model/source/... no enabled plugin registered."""


class Registry:
    """Models, panels, dataset sources and exporters by name."""

    def __init__(self) -> None:
        self.models: dict[str, ModelSpec] = {}
        self.panels: dict[str, PanelSpec] = {}
        self.dataset_sources: dict[str, DatasetSourceSpec] = {}
        self.exporters: dict[str, ExporterSpec] = {}
        #: plugins that failed to load, by name, with why: what they would have provided is missing
        self.failed_plugins: dict[str, str] = {}

    # -- filling ---------------------------------------------------------
    def check(self, kind: str, spec, pending: Contributions) -> None:
        """Raise :class:`SpecError` if ``spec`` is malformed or its name is taken."""
        expected = _KINDS[kind]
        if not isinstance(spec, expected):
            raise SpecError(f"expected a {expected.__name__}, got {type(spec).__name__}")
        spec.validate()
        taken = getattr(self, kind)
        if spec.name in taken:
            raise SpecError(
                f"{_LABELS[kind]} {spec.name!r} is already registered by plugin {taken[spec.name].plugin!r}"
            )
        if any(s.name == spec.name for s in getattr(pending, kind)):
            raise SpecError(f"{_LABELS[kind]} {spec.name!r} is registered twice")

    def commit(self, plugin: str, version: str, contributions: Contributions) -> None:
        for kind in _KINDS:
            table = getattr(self, kind)
            for spec in getattr(contributions, kind):
                fields = {"plugin": plugin}
                if kind == "models":
                    fields["plugin_version"] = version
                table[spec.name] = replace(spec, **fields)

    def withdraw(self, plugin: str) -> None:
        """Remove everything ``plugin`` contributed (it failed after registering)."""
        for kind in _KINDS:
            table = getattr(self, kind)
            for name in [n for n, s in table.items() if s.plugin == plugin]:
                del table[name]

    # -- looking up --------------------------------------------------------
    def model(self, name: str) -> ModelSpec:
        return self._get("models", name)

    def dataset_source(self, name: str) -> DatasetSourceSpec:
        return self._get("dataset_sources", name)

    def models_offering(self, capability: str) -> list[ModelSpec]:
        return sorted((m for m in self.models.values() if m.offers(capability)), key=lambda m: m.name)

    def exporters_for(self, artifact: str) -> list[ExporterSpec]:
        return sorted((e for e in self.exporters.values() if e.artifact == artifact), key=lambda e: e.name)

    def exporter_for(self, artifact: str, path) -> ExporterSpec:
        """The exporter that writes ``artifact`` files with ``path``'s ending (the first by name when
        several do); :class:`UnknownName` says which endings there are when none does."""
        suffix = Path(path).suffix.lower()
        exporters = self.exporters_for(artifact)
        chosen = next((e for e in exporters if suffix in e.extensions), None)
        if chosen is None:
            endings = ", ".join(f"{x} ({e.title})" for e in exporters for x in e.extensions) or "none"
            raise UnknownName(f"No installed exporter writes {artifact} files ending in {suffix or '(no ending)'}; "
                              f"these endings can be written: {endings}.")
        return chosen

    def ordered_panels(self) -> list[PanelSpec]:
        return sorted(self.panels.values(), key=lambda p: (p.order, p.name))

    def _get(self, kind: str, name: str):
        table = getattr(self, kind)
        if name in table:
            return table[name]
        raise UnknownName(_unknown_message(_LABELS[kind], name, table.keys(), self.failed_plugins))


def _unknown_message(label: str, name: str, known: Iterable[str], failed: dict[str, str]) -> str:
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    listing = ", ".join(known) if known else "none (are its plugins disabled?)"
    message = f"No {label} named {name!r}.{hint} Available: {listing}."
    if failed:
        which = "; ".join(f"{plugin} ({why})" for plugin, why in sorted(failed.items()))
        message += f" A plugin that failed to load may provide it: {which}. See `studio plugins list`."
    return message
