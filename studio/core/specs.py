"""What plugins hand the studio: cheap, declarative specs.

A spec names things; it never holds a live model. Heavy objects are reached
through *references*: either a callable or a ``"package.module:attribute"``
string that is imported only when the model, panel, source or exporter is first
used. A plugin module that registers specs must therefore not import torch,
transformers, diffusers or Qt at its top level.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from studio.core.errors import UserError

#: The version of the contract below. It grows by one when a hook, a spec field or a
#: capability changes incompatibly; new optional fields and hooks keep it. A plugin says
#: which version it was written for with a module attribute ``STUDIO_CONTRACT_VERSION``
#: (one that says nothing was written for version 1).
CONTRACT_VERSION = 2
#: The versions this studio loads: a version-1 plugin whose specs fit version 2 loads too.
SUPPORTED_CONTRACTS = (1, 2)

#: Capability protocols a model can offer (see :mod:`studio.core.capabilities`).
CAPABILITIES = (
    "ImageSampler",
    "LatentCodec",
    "ImageClassifier",
    "PromptScorer",
    "SequenceGenerator",
    "MusicGenerator",
    "WorldModel",
    "Trainer",
)

#: Kinds of data a dataset source yields and a trainer consumes.
DATA_KINDS = ("images", "text", "music", "rollouts")
#: The config fields a model trained on each kind of data must have: the data is loaded to fit them
#: (images at ``image_size`` x ``image_size`` with ``channels`` channels, 1 or 3).
DATA_KIND_FIELDS = {"images": ("image_size", "channels"), "text": (), "music": (), "rollouts": ()}

#: Kinds of artifact an exporter writes (see :mod:`studio.core.artifacts`).
ARTIFACT_KINDS = ("image", "image-sequence", "notes", "audio", "text")

Ref = Union[str, Callable[..., Any]]

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


class SpecError(UserError, ValueError):
    """A spec a plugin handed over is malformed; the message says what to fix."""


def resolve(ref: Ref) -> Any:
    """Import a ``"module:attribute"`` reference (or return a callable as is)."""
    if callable(ref):
        return ref
    module_name, _, attr = ref.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        target = getattr(target, part)
    return target


def _check_name(kind: str, name: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise SpecError(
            f"{kind} name {name!r} must be lowercase letters, digits, '.', '_' or '-'"
        )


def _check_ref(owner: str, what: str, ref: Any, optional: bool = False) -> None:
    if ref is None and optional:
        return
    if callable(ref):
        return
    if not isinstance(ref, str) or not _REF.match(ref):
        raise SpecError(
            f"{owner}: {what} must be a callable or a 'package.module:attribute' string, got {ref!r}"
        )


def _check_choices(owner: str, what: str, values: tuple, allowed: tuple) -> None:
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise SpecError(f"{owner}: unknown {what} {unknown}; expected some of {list(allowed)}")


@dataclass(frozen=True)
class ModelSpec:
    """A model a plugin contributes.

    ``factory(config)`` builds the model object, which offers every capability in
    ``capabilities`` (except ``Trainer``, which ``trainer`` provides) and has
    ``state_dict()`` / ``load_state_dict()`` so checkpoints can be saved and loaded.
    ``trainer(config, data, device=..., seed=...)`` returns a
    :class:`studio.core.capabilities.Trainer` (with ``upstream=`` when the model
    ``builds_on`` others). ``loader(path, device)``, if given, replaces the
    studio's checkpoint loading for models whose weights come from elsewhere (a
    Hugging Face model folder, say); ``imports_from`` then says what a panel may
    offer to import.
    """

    name: str  #: unique id, used on the CLI (``studio train vae``)
    title: str  #: shown in the UI
    family: str  #: the book's model family, e.g. "autoencoder"
    capabilities: tuple[str, ...]
    config: type  #: a dataclass; its defaults make a working model
    factory: Ref
    trainer: Ref | None = None
    data_kind: str | None = None  #: what the trainer consumes (one of DATA_KINDS)
    loader: Ref | None = None
    description: str = ""
    #: the trained models this one is built on, by spec name, in the order they are trained
    #: (World Models: the VAE, then the MDN-RNN on its latents). Its trainer receives them as
    #: ``upstream={name: model}``; a job names their checkpoints (``studio train --from``).
    builds_on: tuple[str, ...] = ()
    #: what its ``loader`` imports from disk: "folder" (a model folder) and/or file suffixes
    #: (".safetensors"); a panel offers Import… for these. Needs a loader.
    imports_from: tuple[str, ...] = ()
    #: offered first where a panel suggests a model to train (the composer's "Train on your text…")
    featured: bool = False
    plugin: str = ""  #: filled in by the host
    plugin_version: str = ""  #: filled in by the host

    def validate(self) -> None:
        _check_name("model", self.name)
        owner = f"model {self.name!r}"
        if not self.title or not self.family:
            raise SpecError(f"{owner}: title and family must not be empty")
        _check_choices(owner, "capabilities", tuple(self.capabilities), CAPABILITIES)
        if not self.capabilities:
            raise SpecError(f"{owner}: offers no capability")
        if not (isinstance(self.config, type) and dataclasses.is_dataclass(self.config)):
            raise SpecError(f"{owner}: config must be a dataclass class")
        required = [f.name for f in dataclasses.fields(self.config)
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        if required:
            raise SpecError(f"{owner}: every config field needs a default (the defaults make a working "
                            f"model); {', '.join(required)} {'has' if len(required) == 1 else 'have'} none")
        _check_ref(owner, "factory", self.factory)
        _check_ref(owner, "trainer", self.trainer, optional=True)
        _check_ref(owner, "loader", self.loader, optional=True)
        if "Trainer" in self.capabilities and self.trainer is None:
            raise SpecError(f"{owner}: offers Trainer but names no trainer")
        if self.trainer is not None and self.data_kind not in DATA_KINDS:
            raise SpecError(f"{owner}: a trainable model needs data_kind, one of {list(DATA_KINDS)}")
        if self.trainer is not None:
            names = {f.name for f in dataclasses.fields(self.config)}
            missing = [n for n in DATA_KIND_FIELDS[self.data_kind] if n not in names]
            if missing:
                raise SpecError(f"{owner}: a model trained on {self.data_kind} needs the config fields "
                                f"{', '.join(DATA_KIND_FIELDS[self.data_kind])} (the data is loaded to fit them); "
                                f"{self.config.__name__} has no {', '.join(missing)}")
        for name in self.builds_on:
            _check_name(f"{owner}: builds_on", name)
        if self.name in self.builds_on:
            raise SpecError(f"{owner}: a model cannot be built on itself")
        if self.builds_on and self.trainer is None:
            raise SpecError(f"{owner}: builds_on names the models its trainer starts from, but it has no trainer")
        bad = [i for i in self.imports_from if i != "folder" and not (isinstance(i, str) and i.startswith("."))]
        if bad:
            raise SpecError(f"{owner}: imports_from takes 'folder' or file suffixes like '.safetensors', not {bad}")
        if self.imports_from and self.loader is None:
            raise SpecError(f"{owner}: imports_from needs a loader to import with")

    def offers(self, capability: str) -> bool:
        return capability in self.capabilities

    def imports(self, path: str) -> bool:
        """Whether ``imports_from`` covers ``path`` (a folder, or a file by its suffix)."""
        target = Path(path)
        if target.is_dir():
            return "folder" in self.imports_from
        return target.suffix.lower() in self.imports_from


@dataclass(frozen=True)
class PanelSpec:
    """A tool panel: ``widget`` is a Qt widget class taking a ``PanelContext``.

    ``capabilities`` names the model capabilities the panel works with, so the
    studio can tell an artist which models each panel will list.
    """

    name: str
    title: str
    widget: Ref
    capabilities: tuple[str, ...] = ()
    order: int = 100  #: panels are shown in ascending order
    description: str = ""
    plugin: str = ""

    def validate(self) -> None:
        _check_name("panel", self.name)
        owner = f"panel {self.name!r}"
        if not self.title:
            raise SpecError(f"{owner}: title must not be empty")
        _check_ref(owner, "widget", self.widget)
        _check_choices(owner, "capabilities", tuple(self.capabilities), CAPABILITIES)


@dataclass(frozen=True)
class DatasetSourceSpec:
    """Where training data comes from.

    ``loader(location, **options)`` returns the data (for images an
    :class:`studio.core.data.images.ImageSet`). ``location`` is a path given by
    the user when ``needs_location`` is true, otherwise None. ``available()``, if
    given, cheaply says whether a built-in source is present on this machine.
    """

    name: str
    title: str
    kind: str
    loader: Ref
    needs_location: bool = False
    available: Ref | None = None
    description: str = ""
    plugin: str = ""

    def validate(self) -> None:
        _check_name("dataset source", self.name)
        owner = f"dataset source {self.name!r}"
        _check_choices(owner, "kind", (self.kind,), DATA_KINDS)
        _check_ref(owner, "loader", self.loader)
        _check_ref(owner, "available", self.available, optional=True)


@dataclass(frozen=True)
class ExporterSpec:
    """Writes an artifact to a file: ``writer(artifact, path)``."""

    name: str
    title: str
    artifact: str  #: one of ARTIFACT_KINDS
    extensions: tuple[str, ...]
    writer: Ref
    description: str = ""
    plugin: str = ""

    def validate(self) -> None:
        _check_name("exporter", self.name)
        owner = f"exporter {self.name!r}"
        _check_choices(owner, "artifact", (self.artifact,), ARTIFACT_KINDS)
        if not self.extensions or not all(e.startswith(".") for e in self.extensions):
            raise SpecError(f"{owner}: extensions must be like ('.png',)")
        _check_ref(owner, "writer", self.writer)


@dataclass
class Contributions:
    """Everything one plugin registered, kept apart until all its hooks succeed."""

    models: list[ModelSpec] = field(default_factory=list)
    panels: list[PanelSpec] = field(default_factory=list)
    dataset_sources: list[DatasetSourceSpec] = field(default_factory=list)
    exporters: list[ExporterSpec] = field(default_factory=list)
