"""Atomic file writes: a crash or a full disk never leaves half a file behind.

Data goes to a temporary file in the target's folder, is flushed to disk, and
only then renamed over the target; until the rename the old file is untouched.
The file gets the permissions a plain ``open()`` would give it (those of the
file it replaces, else the umask's), not the temporary file's owner-only ones.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Union

PathLike = Union[str, os.PathLike]


class SaveError(OSError):
    """Writing a file failed; the message is for the user and says nothing was lost."""

    def __str__(self) -> str:
        return self.strerror or super().__str__()


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; it replaces ``path`` when the block succeeds.

    For writers that want a file name (safetensors, PIL, SQLite backups).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, _mode_for(target))
        os.replace(tmp, target)
    except OSError as exc:
        raise _save_error(target, exc) from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_open(path: PathLike, mode: str = "wb", **kwargs) -> Iterator[IO]:
    """``open()`` for writing, made atomic."""
    if "w" not in mode:
        raise ValueError("atomic_open is for writing ('w' modes)")
    with atomic_path(path) as tmp:
        with open(tmp, mode, **kwargs) as f:
            yield f


def leftovers(path: PathLike) -> list[Path]:
    """The temporary files of writes of ``path`` that never finished (their process was killed before the
    rename): :func:`atomic_path`'s ``.NAME.*.tmp`` beside it."""
    target = Path(path)
    return sorted(p for p in target.parent.glob(f".{glob.escape(target.name)}.*.tmp") if p.is_file())


def atomic_write(path: PathLike, data: Union[bytes, str]) -> None:
    if isinstance(data, str):
        with atomic_open(path, "w", encoding="utf-8") as f:
            f.write(data)
    else:
        with atomic_open(path, "wb") as f:
            f.write(data)


def _mode_for(target: Path) -> int:
    """The permissions ``target`` has now, or those a new file gets (0o666 less the umask)."""
    try:
        return target.stat().st_mode & 0o7777
    except FileNotFoundError:
        return 0o666 & ~_UMASK


def _read_umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it; put it straight back
    os.umask(mask)
    return mask


#: read once, at import (setting it to read it is not thread-safe)
_UMASK = _read_umask()


def _save_error(target: Path, exc: OSError) -> SaveError:
    if isinstance(exc, SaveError):
        return exc
    reason = "the disk is full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
    return SaveError(
        exc.errno or 0,
        f"Could not save {target.name}: {reason}. Nothing already saved was changed.",
    )
