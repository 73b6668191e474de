"""Training data: what dataset sources load, and how a ``--data`` argument finds one.

Every loaded dataset (an :class:`~studio.core.data.images.ImageSet`, a
:class:`~studio.core.data.text.TextCorpus`, a :class:`~studio.core.data.music.MusicSet`) has ``name``, ``skipped`` (the
``(file, reason)`` pairs it could not read) and ``split(seed) -> DataSplit``.
Image loaders take ``(location, *, size, channels)``; text and music loaders ``(location)``.
A loader that reads a folder may say which files it reads with an
``extensions`` attribute (``(".png", ".jpg")``): a folder with none of them is
refused before a job starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from studio.core.errors import UserError


class DataError(UserError):
    """The data cannot be used (missing, empty, unreadable); the message says what to do."""


@dataclass
class DataSplit:
    """What a trainer receives: training and validation parts of one dataset."""

    train: Any
    validation: Any
    name: str = ""


#: For a bare path, the source to use by the model's data kind and whether it is a folder.
_PATH_SOURCES = {
    ("images", True): "image-folder",
    ("images", False): "idx",
    ("text", True): "text-folder",
    ("text", False): "text-file",
    ("music", True): "midi-folder",
    ("music", False): "midi-file",
    ("rollouts", True): "carracing-rollouts",
}


def resolve_data_argument(registry, data_kind: str, argument: str) -> tuple[Any, Optional[str]]:
    """Turn ``--data`` into (source spec, location).

    Accepts a source name (``fashion-mnist``), ``source:location``
    (``image-folder:~/art``), or a bare path (the source is chosen by the
    model's data kind and whether the path is a folder).
    """
    name, sep, location = argument.partition(":")
    if sep and name in registry.dataset_sources:
        spec = registry.dataset_source(name)
    elif argument in registry.dataset_sources:
        spec, location = registry.dataset_source(argument), None
    else:
        path = Path(argument).expanduser()
        if not path.exists():
            known = ", ".join(sorted(n for n, s in registry.dataset_sources.items() if s.kind == data_kind))
            raise DataError(f"{argument!r} is neither a dataset source nor an existing path. "
                            f"Sources for {data_kind}: {known or 'none installed'}.")
        source = _PATH_SOURCES.get((data_kind, path.is_dir()))
        if source is None or source not in registry.dataset_sources:
            raise DataError(f"No dataset source reads {data_kind} from {path}.")
        spec, location = registry.dataset_source(source), str(path)
    if spec.kind != data_kind:
        raise DataError(f"The source {spec.name!r} gives {spec.kind}, but this model trains on {data_kind}.")
    if spec.needs_location:
        _check_location(spec, location)
    return spec, location


def _check_location(spec, location: Optional[str]) -> None:
    """Cheap checks before a job starts; the loader itself reports unreadable contents."""
    if not location:
        raise DataError(f"The source {spec.name!r} needs a location: --data {spec.name}:PATH")
    path = Path(location).expanduser()
    if not path.exists():
        raise DataError(f"{path} does not exist.")
    if path.is_dir():
        _check_folder(spec, path)
    if path.is_file() and path.stat().st_size == 0:
        raise DataError(f"The file {path} is empty.")


def _check_folder(spec, path: Path) -> None:
    """The folder holds at least one file of a kind the source's loader reads."""
    extensions = _loader_extensions(spec)
    found: set[str] = set()
    for p in path.rglob("*"):
        if p.name.startswith(".") or not p.is_file():
            continue
        if extensions is None or p.suffix.lower() in extensions:
            return
        found.add(p.suffix.lower() or "(no ending)")
    if not found:
        raise DataError(f"The folder {path} is empty: put some files in it first.")
    raise DataError(f"The folder {path} has no files the {spec.title} source reads: it reads "
                    f"{', '.join(extensions)} files and found only {', '.join(sorted(found)[:8])} files.")


def _loader_extensions(spec) -> Optional[tuple[str, ...]]:
    """The file endings the source's loader reads, when it says (its ``extensions`` attribute)."""
    from studio.core.specs import resolve

    try:
        extensions = getattr(resolve(spec.loader), "extensions", None)
    except Exception:  # a broken loader is reported when the job loads the data
        return None
    return tuple(e.lower() for e in extensions) if extensions else None


def load_data(registry, data_kind: str, argument: str, config: Any) -> Any:
    """Load the dataset ``argument`` names, shaped for ``config`` (image size and channels)."""
    from studio.core.specs import resolve

    spec, location = resolve_data_argument(registry, data_kind, argument)
    loader = resolve(spec.loader)
    if data_kind == "images":
        return loader(location, size=config.image_size, channels=config.channels)
    return loader(location)


def held_out_images(registry, argument: str, image_shape: tuple[int, int, int], *, seed: int = 0,
                    cap: Optional[int] = None) -> Any:
    """The validation part of an image dataset (a ``--data`` argument) at ``image_shape``, as a run
    with ``seed`` split it (the images it did not train on), at most ``cap`` of them chosen with the
    seed; a dataset of one image is its own validation part. What the latent explorer maps and the
    canvas measures samples against."""
    from types import SimpleNamespace

    from studio.core.latent import subsample

    source, _location = resolve_data_argument(registry, "images", argument)
    height, _, channels = image_shape
    dataset = load_data(registry, "images", argument, SimpleNamespace(image_size=height, channels=channels))
    validation = dataset.split(seed=seed).validation if len(dataset) > 1 else dataset
    if cap is None:
        return validation
    return validation.subset(subsample(len(validation), cap, seed), dataset.name or source.title)
