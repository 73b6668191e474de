"""Capability protocols: what a panel may ask of a model.

A model object (built by its spec's factory) offers the protocols its spec
lists. Panels and the engine talk to models only through these. Conventions:

- Images cross the boundary as ``numpy.float32`` arrays in ``[0, 1]`` shaped
  ``(n, height, width, channels)``; latents as ``float32`` ``(n, latent_dim)``.
- Long work reports each step through ``on_step(step, total, preview)``; the
  callback raises :class:`Cancelled` when the user cancelled, so a model only
  has to call it at every step. Token streams are generators instead: the
  consumer cancels by no longer iterating.
- Errors meant for the user are :class:`ModelError` with a readable message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Protocol, runtime_checkable

from studio.core.errors import UserError

if TYPE_CHECKING:
    import numpy as np

#: ``on_step(step, total, preview)``; ``preview`` is an intermediate result or None.
StepCallback = Callable[[int, int, Any], None]


class Cancelled(Exception):
    """The user cancelled the request or job; not an error."""


class ModelError(UserError):
    """A model could not do what was asked; the message is shown to the user as it is."""


@runtime_checkable
class ImageSampler(Protocol):
    """Samples images, optionally conditioned (a class, a prompt, a masked image)."""

    #: (height, width, channels) of one image.
    image_shape: tuple[int, int, int]
    #: condition keys :meth:`sample` understands, e.g. ("label",), ("prompt",), ("image", "mask").
    conditions: tuple[str, ...]

    def sample(
        self,
        n: int,
        *,
        seed: int,
        condition: Optional[Mapping[str, Any]] = None,
        on_step: Optional[StepCallback] = None,
    ) -> np.ndarray:
        """``n`` images, ``(n, H, W, C)`` float32 in [0, 1]; the same seed gives the same images."""


@runtime_checkable
class LatentCodec(Protocol):
    """Maps images to points of a latent space and back."""

    latent_dim: int
    image_shape: tuple[int, int, int]

    def encode(self, images: np.ndarray) -> np.ndarray:
        """Images ``(n, H, W, C)`` to latents ``(n, latent_dim)`` (a VAE returns the mean)."""

    def decode(self, latents: np.ndarray) -> np.ndarray:
        """Latents ``(n, latent_dim)`` to images ``(n, H, W, C)``."""

    def sample_prior(self, n: int, *, seed: int) -> np.ndarray:
        """``n`` latents drawn from the model's prior (or its training distribution)."""


@dataclass(frozen=True)
class TokenStep:
    """One generated token."""

    token: int
    text: str  #: the decoded text this token adds (may be "" for a partial byte)
    probability: float  #: the probability the model gave the chosen token
    #: attention of this step over the whole context so far, ``(layers, heads, context)``,
    #: when asked for with ``with_attention`` and the model has attention.
    attention: Optional[np.ndarray] = None


@runtime_checkable
class SequenceGenerator(Protocol):
    """Continues text token by token."""

    #: the longest context the model attends to, in tokens.
    context_length: int

    def encode(self, text: str) -> list[int]:
        ...

    def decode(self, tokens: Sequence[int]) -> str:
        ...

    def generate(
        self,
        prompt: str,
        *,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: Optional[int] = None,
        top_p: Optional[float] = None,
        seed: Optional[int] = None,
        with_attention: bool = False,
    ) -> Iterator[TokenStep]:
        """Yield tokens one at a time; temperature 0 is greedy and deterministic."""


@dataclass(frozen=True)
class Note:
    """A note of a piano roll; times are in beats (quarter notes)."""

    pitch: int  #: MIDI pitch 0-127
    start: float
    duration: float
    velocity: int = 80
    voice: int = 0  #: index into the generator's ``voices``


@runtime_checkable
class MusicGenerator(Protocol):
    """Continues or generates music as notes."""

    #: names of the voices/tracks it writes, e.g. ("melody",) or ("soprano", "alto", "tenor", "bass").
    voices: tuple[str, ...]
    #: control names :meth:`generate` understands, e.g. ("chords", "style", "melody", "groove").
    controls: tuple[str, ...]
    beats_per_bar: int

    def generate(
        self,
        prompt: Sequence[Note],
        *,
        bars: int,
        seed: int,
        temperature: float = 1.0,
        controls: Optional[Mapping[str, Any]] = None,
        on_step: Optional[StepCallback] = None,
    ) -> list[Note]:
        """New notes continuing ``prompt`` (which may be empty) for ``bars`` bars."""


@dataclass(frozen=True)
class DreamStep:
    """One step inside a world model's dream."""

    frame: np.ndarray  #: (H, W, C) float32 in [0, 1], decoded from the dreamt latent
    reward: float
    done: bool


@runtime_checkable
class WorldModel(Protocol):
    """A learned environment an agent (or an artist with a gamepad) can act in."""

    frame_shape: tuple[int, int, int]
    #: shape and bounds of one action, as the real environment's action space.
    action_shape: tuple[int, ...]
    action_low: Sequence[float]
    action_high: Sequence[float]

    def dream_reset(self, *, seed: int, frame: Optional[np.ndarray] = None) -> np.ndarray:
        """Start a dream (from a real frame if given); returns the first frame."""

    def dream_step(self, action: np.ndarray, *, temperature: float = 1.0) -> DreamStep:
        ...


@dataclass(frozen=True)
class TrainProgress:
    """What a trainer reports after each optimisation step."""

    step: int  #: steps completed so far (1-based after the first step)
    epoch: float  #: passes over the training data so far
    losses: Mapping[str, float]
    items: int  #: examples processed in this step, for throughput


@dataclass
class TrainState:
    """Everything needed to resume training: tensors and JSON-able metadata.

    Tensors whose name starts with ``model.`` are the model's weights; the
    inference side loads only those.
    """

    tensors: dict[str, Any]
    meta: dict[str, Any]


@runtime_checkable
class Trainer(Protocol):
    """Trains one model; built by a spec's ``trainer`` reference.

    :meth:`steps` is a generator: every ``yield`` is a progress tick *and* the
    point where the caller may stop (cancel). Checkpointing is the caller's job,
    through :meth:`state` and :meth:`restore`.
    """

    #: the config the model was built with (a trainer may fill in learned parts,
    #: such as a tokenizer's vocabulary, before building it).
    config: Any
    #: the model being trained; offers the spec's capabilities.
    model: Any

    def steps(self, start: int, total: int) -> Iterator[TrainProgress]:
        """Train from step ``start`` up to ``total``, yielding after every step."""

    def validate(self) -> Mapping[str, float]:
        """Losses on held-out data, without changing the model."""

    def preview(self, *, seed: int) -> Optional[np.ndarray]:
        """A picture of what the model makes now (``(H, W, C)`` float in [0, 1]) or None."""

    def state(self) -> TrainState:
        ...

    def restore(self, state: TrainState) -> None:
        ...
