"""What a panel records about the checkpoint that made something, and whether it still matches.

Panels stamp what they make (an image's PNG chunks, a text's sidecar) with the
checkpoint's path and SHA-256. Training rewrites a checkpoint in place, so the
path alone does not say the weights are the same: compare the digests. No Qt here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Union

from studio.core.checkpoint import checkpoint_sha256


def checkpoint_digest(checkpoint: Union[str, Path]) -> Optional[str]:
    """The SHA-256 of a checkpoint file, or of a model folder's ``model.safetensors``; None if neither
    is there. Remembered per file version, so asking again is cheap."""
    path = Path(checkpoint)
    if path.is_dir():
        path = path / "model.safetensors"
    return checkpoint_sha256(path) if path.is_file() else None


def changed_since(params: dict[str, Any], checkpoint: Union[str, Path]) -> bool:
    """Whether ``checkpoint`` (a file or a model folder) differs from the one whose SHA-256
    ``params["checkpoint_sha256"]`` recorded: retrained in place since. False when nothing was
    recorded or the checkpoint is not there (that is another problem)."""
    recorded = params.get("checkpoint_sha256")
    if not recorded:
        return False
    digest = checkpoint_digest(checkpoint)
    return digest is not None and digest != recorded
