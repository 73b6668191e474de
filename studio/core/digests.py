"""SHA-256 digests of checkpoints, remembered in the workspace catalogue.

A result (an image, a text) records the SHA-256 of the checkpoint that made
it, so a file dropped back finds those weights again even after the checkpoint
was moved, and says so when it was trained further since. Hashing reads the
whole file, so it is done on a worker thread (the inference thread, a job),
never the GUI's, and kept in the catalogue with the file version it is of (its
modification time and size): asking again is a lookup until the file changes.

A model folder (a Hugging Face model) is hashed by its weights file; a diffusers pipeline
folder by its UNet's.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Optional, Union

#: In a model folder, the file whose hash stands for the model (the first one present).
FOLDER_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "unet/diffusion_pytorch_model.safetensors")


def file_sha256(path: Union[str, Path]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_file(checkpoint: Union[str, Path]) -> Optional[Path]:
    """The file a checkpoint's hash is of: the file itself, or a model folder's weights; None if absent."""
    path = Path(checkpoint)
    if path.is_dir():
        return next((path / name for name in FOLDER_WEIGHTS if (path / name).is_file()), None)
    return path if path.is_file() else None


def file_version(path: Path) -> str:
    """What tells one version of a file from the next: its modification time and size."""
    stat = path.stat()
    return f"{stat.st_mtime_ns}:{stat.st_size}"


def checkpoint_digest(store, checkpoint: str) -> Optional[str]:
    """The SHA-256 of ``checkpoint`` (a file or a model folder, as the catalogue names it), or None
    when it is not on disk. Remembered in ``store`` (when it catalogues the checkpoint) for as long
    as the file is unchanged. Blocking: not for the GUI thread."""
    file = weights_file(checkpoint)
    if file is None:
        return None
    version = file_version(file)
    known = store.checkpoint_hash(checkpoint) if store is not None else None
    if known is not None and known[1] == version:
        return known[0]
    sha = file_sha256(file)
    if store is not None:
        store.set_checkpoint_hash(checkpoint, sha, version)
    return sha
