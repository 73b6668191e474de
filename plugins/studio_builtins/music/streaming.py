"""What both music models share when they continue a prompt: the checks, the clock, the tempo."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional

import torch

from studio.core.capabilities import ModelError, Note
from studio.core.music.score import DEFAULT_BPM

#: the bar length the models count ``bars`` in (the chorales are in 4/4)
BEATS_PER_BAR = 4
CONTROLS = ("tempo",)


def check_request(bars: int, temperature: float, controls: Optional[Mapping[str, Any]]) -> float:
    """Refuse what cannot be generated; the tempo (bpm) the piece is played at."""
    if bars < 1:
        raise ModelError(f"bars must be at least 1, not {bars}.")
    if temperature < 0:
        raise ModelError(f"The temperature must be 0 (greedy) or more, not {temperature}.")
    unknown = sorted(set(controls or {}) - set(CONTROLS))
    if unknown:
        raise ModelError(f"This model understands the controls {list(CONTROLS)}, not {unknown}.")
    tempo = (controls or {}).get("tempo", DEFAULT_BPM)
    try:
        tempo = float(tempo)
    except (TypeError, ValueError):
        raise ModelError(f"The tempo must be a number of beats per minute, not {tempo!r}.") from None
    if not 10.0 <= tempo <= 400.0:
        raise ModelError(f"The tempo must be between 10 and 400 bpm, not {tempo:g}.")
    return tempo


def prompt_end(prompt: Sequence[Note]) -> float:
    """Where a continuation starts: the end of the prompt's last note (0 for an empty prompt)."""
    return max((n.start + n.duration for n in prompt), default=0.0)


def seeded(seed: int) -> torch.Generator:
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator
