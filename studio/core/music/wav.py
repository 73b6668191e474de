"""WAV files: 16-bit PCM stereo with the standard library's ``wave``, written atomically, and the
exporter that renders a score with the sound it was heard with (:func:`studio.core.music.sound.for_sound`)."""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Union

import numpy as np

from studio.core.atomic import atomic_path

PathLike = Union[str, Path]


def write_wav(samples: np.ndarray, path: PathLike, sample_rate: int = 44100) -> None:
    """Write float samples in [-1, 1], shaped ``(frames, 2)`` (or ``(frames,)`` for mono, written to
    both sides), as a 16-bit stereo WAV file."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim == 1:
        samples = np.stack([samples, samples], axis=1)
    if samples.ndim != 2 or samples.shape[1] != 2:
        raise ValueError(f"WAV samples must be (frames, 2) or (frames,), not {samples.shape}")
    pcm = np.round(np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
    with atomic_path(path) as tmp:
        with wave.open(str(tmp), "wb") as out:
            out.setnchannels(2)
            out.setsampwidth(2)
            out.setframerate(int(sample_rate))
            out.writeframes(pcm.tobytes())


def write_wav_artifact(artifact, path: PathLike, sample_rate: int = 44100) -> None:
    """The WAV exporter: ``artifact.score`` rendered with the artifact's sound (automatic unless the piano
    roll chose another), the release tail included."""
    from studio.core.music.sound import for_sound

    write_wav(for_sound(artifact.sound).render(artifact.score, sample_rate), path, sample_rate)
