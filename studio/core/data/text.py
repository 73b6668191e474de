"""Text datasets: one corpus string from a file, a folder, or the bundled Shakespeare.

A :class:`TextCorpus` is plain text in memory; a trainer tokenizes it. Files
are read as UTF-8 (a byte-order mark is dropped) with Windows line endings made
``\\n``, so a model never learns two spellings of a line break.

Qt-free and torch-free: the CLI, a training process and a panel all use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Optional

from studio.core.data import DataError, DataSplit

#: File endings the folder source reads.
FOLDER_EXTENSIONS = (".txt", ".md")
#: The bundled excerpt (about 250 KB of tinyshakespeare, public domain), beside this module.
SHAKESPEARE_FILE = "shakespeare.txt"


@dataclass
class TextCorpus:
    """All the text of one dataset, in reading order."""

    name: str
    text: str
    skipped: list[tuple[str, str]] = field(default_factory=list)  #: (file, reason) not read
    validation_fraction: float = 0.1

    def __len__(self) -> int:
        return len(self.text)

    def split(self, seed: int = 0, fraction: Optional[float] = None) -> DataSplit:
        """Training and validation text: the last ``fraction`` (default
        :attr:`validation_fraction`) of the characters is validation, as nanoGPT
        does. The split is contiguous, so ``seed`` changes nothing; it is accepted
        because every dataset's ``split`` takes it."""
        fraction = self.validation_fraction if fraction is None else fraction
        if not 0.0 <= fraction < 1.0:
            raise DataError(f"The validation fraction must be at least 0 and below 1, not {fraction}.")
        cut = int(len(self.text) * (1.0 - fraction))
        return DataSplit(train=self.text[:cut], validation=self.text[cut:], name=self.name)


def load_text_file(location: str) -> TextCorpus:
    """One UTF-8 text file."""
    path = _existing(location)
    if path.is_dir():
        raise DataError(f"{path} is a folder; use the text-folder source to read every text file in it.")
    text, problem = _read(path)
    if problem:
        raise DataError(f"{path} cannot be used: {problem}.")
    return TextCorpus(name=path.stem, text=text)


def load_text_folder(location: str) -> TextCorpus:
    """Every ``.txt`` and ``.md`` file under a folder (hidden ones aside), in path
    order, each ending with a line break. Unreadable files are skipped and listed."""
    root = _existing(location)
    if not root.is_dir():
        raise DataError(f"{root} is a file, not a folder; use the text-file source for a single file.")
    files = sorted(
        p for p in root.rglob("*")
        if p.suffix.lower() in FOLDER_EXTENSIONS and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    if not files:
        raise DataError(f"{root} holds no text files (looked for {', '.join(FOLDER_EXTENSIONS)}, recursively).")
    parts, skipped = [], []
    for path in files:
        text, problem = _read(path)
        name = str(path.relative_to(root))
        if problem:
            skipped.append((name, problem))
        else:
            parts.append(text if text.endswith("\n") else text + "\n")
    if not parts:
        reasons = "; ".join(f"{name}: {why}" for name, why in skipped[:5])
        raise DataError(f"None of the {len(files)} text files in {root} could be used ({reasons}).")
    return TextCorpus(name=root.name, text="".join(parts), skipped=skipped)


load_text_folder.extensions = FOLDER_EXTENSIONS  # checked before a job starts (studio.core.data)


def load_shakespeare(location: Optional[str] = None) -> TextCorpus:
    """The excerpt of Shakespeare's plays shipped inside the studio package."""
    if location:
        raise DataError("The shakespeare source is bundled with the studio and takes no location.")
    resource = resources.files("studio.core.data").joinpath(SHAKESPEARE_FILE)
    if not resource.is_file():
        raise DataError(f"The bundled Shakespeare excerpt ({SHAKESPEARE_FILE}) is missing from this "
                        "installation of the studio; reinstall it.")
    return TextCorpus(name="shakespeare", text=resource.read_text(encoding="utf-8"))


def _existing(location: Optional[str]) -> Path:
    if not location:
        raise DataError("Say which text to read: a file or a folder path.")
    path = Path(location).expanduser()
    if not path.exists():
        raise DataError(f"{path} does not exist.")
    return path


def _read(path: Path) -> tuple[str, str]:
    """(text, "") or ("", why the file cannot be used)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return "", f"cannot be read ({exc.strerror or exc})"
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return "", f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
    text = text.replace("\r\n", "\n")
    if not text.strip():
        return "", "empty"
    return text, ""
