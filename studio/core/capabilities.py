"""Capability protocols: what a panel may ask of a model (plugin contract 2).

A model object (built by its spec's factory) offers the protocols its spec
lists. Panels and the engine talk to models only through these. Conventions:

- Images cross the boundary as ``numpy.float32`` arrays in ``[0, 1]`` shaped
  ``(n, height, width, channels)``; latents as ``float32`` ``(n, latent_dim)``.
- Long work reports each step through ``on_step(step, total, preview)``, where
  ``preview`` is a :class:`StepPreview` or None; the callback raises
  :class:`Cancelled` when the user cancelled, so a model only has to call it at
  every step. Streams (tokens, notes) are generators instead: the consumer
  cancels by no longer iterating, and the generator is closed.
- Errors meant for the user are :class:`ModelError` with a readable message.
- Attributes a protocol added in contract 2 are read through the helpers here
  (:func:`sampler_info`, :func:`world_model_info`, :func:`dream_observes`), which give a model
  without them their defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Protocol, runtime_checkable

from studio.core.errors import UserError

if TYPE_CHECKING:
    import numpy as np


class Cancelled(Exception):
    """The user cancelled the request or job; not an error."""


class ModelError(UserError):
    """A model could not do what was asked; the message is shown to the user as it is."""


#: What a step preview shows.
PREVIEW_KINDS = ("sample", "prediction")


@dataclass(frozen=True)
class StepPreview:
    """A picture of work in progress at one step: what a panel shows while a sample forms.

    ``shows`` says which picture it is: ``"sample"`` is the batch as it is now
    (a diffusion sample still noisy, a PixelCNN's pixels so far), ``"prediction"``
    the model's guess of the finished images at this step (diffusers'
    ``pred_original_sample``).
    """

    step: int
    images: np.ndarray  #: (n, H, W, C) float32 in [0, 1], one per image being made
    shows: str = "sample"

    def __post_init__(self) -> None:
        if self.shows not in PREVIEW_KINDS:
            raise ValueError(f"A step preview shows one of {PREVIEW_KINDS}, not {self.shows!r}.")


#: ``on_step(step, total, preview)``; ``preview`` is a :class:`StepPreview` or None.
StepCallback = Callable[[int, int, Optional[StepPreview]], None]

#: Sampling options an :class:`ImageSampler` may support, as fields of :class:`SampleOptions`.
SAMPLE_OPTIONS = ("steps", "sampler", "guidance_scale", "init_image", "mask", "size")


@dataclass(frozen=True)
class SampleOptions:
    """How to sample, beyond the number of images, the seed and the condition.

    A model reads only the options it lists in ``sampling_options``; the others
    stay at None. ``init_image`` with ``strength`` is image-to-image (0 keeps the
    image, 1 ignores it); ``mask`` marks the pixels to make anew (inpainting):
    outside it the model keeps ``init_image``'s pixels exactly.
    """

    steps: Optional[int] = None  #: denoising (or sampling) steps
    sampler: Optional[str] = None  #: one of the model's ``samplers``
    guidance_scale: Optional[float] = None  #: classifier-free guidance; 1 is none
    init_image: Optional[np.ndarray] = None  #: (H, W, C) float32 in [0, 1]
    strength: float = 0.75
    mask: Optional[np.ndarray] = None  #: (H, W) float32, 1 where the image is made anew
    #: (width, height) of each image, for a model that makes other sizes than ``image_shape``'s (a
    #: latent diffusion model); image to image and inpainting keep the size of ``init_image``
    size: Optional[tuple[int, int]] = None

    def given(self) -> tuple[str, ...]:
        """The options set (not None), in :data:`SAMPLE_OPTIONS` order."""
        return tuple(name for name in SAMPLE_OPTIONS if getattr(self, name) is not None)


@runtime_checkable
class ImageSampler(Protocol):
    """Samples images, optionally conditioned (a class, a prompt)."""

    #: (height, width, channels) of one image.
    image_shape: tuple[int, int, int]
    #: condition keys :meth:`sample` understands: ("label",), ("prompt",) or none.
    conditions: tuple[str, ...]
    #: the classes a "label" condition chooses from, in label order (contract 2).
    class_names: tuple[str, ...]
    #: which of :data:`SAMPLE_OPTIONS` :meth:`sample` understands (contract 2).
    sampling_options: tuple[str, ...]
    #: names of the samplers the "sampler" option chooses from, the default first (contract 2).
    samplers: tuple[str, ...]
    #: True when image ``i`` of ``sample(n, seed=s)`` is made from seed ``s + i`` alone, so any image
    #: of a grid comes back by itself as ``sample(1, seed=s + i)`` (contract 2; default False: the
    #: seed makes the grid as a whole).
    seed_per_image: bool
    # Optional, and so not an attribute of the protocol (``isinstance`` would demand it): a model may
    # set ``default_guidance``, the guidance scale it samples with unless told otherwise (Stable
    # Diffusion is made for about 7; the studio's default, 3, otherwise).

    def sample(
        self,
        n: int,
        *,
        seed: int,
        condition: Optional[Mapping[str, Any]] = None,
        options: Optional[SampleOptions] = None,
        on_step: Optional[StepCallback] = None,
    ) -> np.ndarray:
        """``n`` images, ``(n, H, W, C)`` float32 in [0, 1]; the same seed (and options) gives the
        same images on the same device. ``options`` is passed only to a model that lists some
        ``sampling_options``."""


@dataclass(frozen=True)
class SamplerInfo:
    """What an :class:`ImageSampler` says about itself, with contract-1 defaults filled in."""

    image_shape: tuple[int, int, int]
    conditions: tuple[str, ...] = ()
    class_names: tuple[str, ...] = ()
    sampling_options: tuple[str, ...] = ()
    samplers: tuple[str, ...] = ()
    seed_per_image: bool = False
    default_guidance: Optional[float] = None


def sampler_info(model: Any) -> SamplerInfo:
    """An :class:`ImageSampler`'s attributes; a contract-1 model has no class names, options or
    samplers. Raises :class:`ModelError` for options the contract does not know."""
    options = tuple(getattr(model, "sampling_options", ()) or ())
    unknown = [o for o in options if o not in SAMPLE_OPTIONS]
    if unknown:
        raise ModelError(f"The model lists sampling options the studio does not know: {unknown}; "
                         f"expected some of {list(SAMPLE_OPTIONS)}.")
    return SamplerInfo(tuple(model.image_shape), tuple(getattr(model, "conditions", ()) or ()),
                       tuple(getattr(model, "class_names", ()) or ()), options,
                       tuple(getattr(model, "samplers", ()) or ()), bool(getattr(model, "seed_per_image", False)),
                       _guidance(getattr(model, "default_guidance", None)))


def _guidance(value: Any) -> Optional[float]:
    """A model's ``default_guidance``, or None when it gives none (or nothing a guidance scale can be)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 1.0:
        return float(value)
    return None


def sample_images(model: Any, n: int, *, seed: int, condition: Optional[Mapping[str, Any]] = None,
                  options: Optional[SampleOptions] = None, on_step: Optional[StepCallback] = None) -> np.ndarray:
    """Call ``model.sample`` as the contract says: ``options`` only for a model that supports some
    (a contract-1 model takes none); an option the model does not support is a :class:`ModelError`."""
    info = sampler_info(model)
    given = options.given() if options is not None else ()
    unsupported = [o for o in given if o not in info.sampling_options]
    if unsupported:
        raise ModelError(f"This model does not support {', '.join(unsupported)}.")
    if info.sampling_options:
        return model.sample(n, seed=seed, condition=condition or None, options=options or SampleOptions(),
                            on_step=on_step)
    return model.sample(n, seed=seed, condition=condition or None, on_step=on_step)


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


@runtime_checkable
class ImageClassifier(Protocol):
    """Says which class an image shows (contract 2): the studio's judge of samples. Its features (the
    layer before its class scores) give the Fréchet distance and KID of :mod:`studio.core.metrics`."""

    image_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    #: the length of one image's feature vector
    feature_dim: int

    def classify(self, images: np.ndarray) -> np.ndarray:
        """Images ``(n, H, W, C)`` in [0, 1] to class probabilities ``(n, len(class_names))``, float32."""

    def features(self, images: np.ndarray) -> np.ndarray:
        """Images ``(n, H, W, C)`` in [0, 1] to feature vectors ``(n, feature_dim)``, float32."""


@runtime_checkable
class PromptScorer(Protocol):
    """How well images show a prompt (contract 2): the canvas's CLIP score of each image of a grid.

    The score is the "CLIP score" most tools report: 100 times the cosine similarity of the
    image's and the prompt's embeddings, clipped at 0, so it lies in [0, 100]; torchmetrics'
    ``CLIPScore`` computes it so. Hessel et al. 2021 ("CLIPScore", arXiv:2104.08718) define the same
    cosine with a weight of 2.5 instead of 100 for a score in [0, 2.5]; the plain 100 x cosine is
    used here. The model's learnt ``logit_scale`` plays no part. Scores of one CLIP model compare with
    each other; another model's run higher or lower.
    """

    def score(self, images: np.ndarray, prompt: str) -> np.ndarray:
        """Images ``(n, H, W, C)`` float32 in [0, 1] to their CLIP scores against ``prompt``,
        ``(n,)`` float32 in [0, 100]."""


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
    """Continues or generates music, note by note."""

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
    ) -> Iterator[Note]:
        """Yield the notes continuing ``prompt`` (which may be empty) for ``bars`` bars, in order
        of their start, as they are made (contract 2; contract 1 returned a list). The same seed
        gives the same notes; the generator is closed when the consumer stops."""


@dataclass(frozen=True)
class DreamStep:
    """One step inside a world model's dream."""

    frame: np.ndarray  #: (H, W, C) float32 in [0, 1], decoded from the dreamt latent
    reward: float
    done: bool


@runtime_checkable
class Dream(Protocol):
    """One dream: its own latent and hidden state, independent of every other dream.

    Optional (contract 2; a panel checks for it with :func:`dream_observes`):
    ``observe(frame) -> np.ndarray`` follows a real frame (uint8 ``(H, W, 3)``): the dream's latent
    becomes the model's encoding of it while its memory stays, and it returns the model's
    reconstruction of the frame (float32 in [0, 1]). ``step`` then ``observe`` is the model
    watching a real rollout: ``step``'s frame is what it predicted, ``observe``'s what it saw.
    """

    def reset(self, *, seed: int, frame: Optional[np.ndarray] = None) -> np.ndarray:
        """Start (again), from a real frame if given; returns the first frame."""

    def step(self, action: np.ndarray, *, temperature: float = 1.0) -> DreamStep:
        """Act for one step; ``temperature`` scales the randomness of what happens next."""


@runtime_checkable
class Environment(Protocol):
    """A real environment a world model was learnt from, as the studio runs it (contract 2): what
    :class:`WorldModel`'s optional ``environment()`` returns. Frames are uint8 ``(H, W, 3)`` of the
    world model's ``frame_shape``; a failure meant for the user is a :class:`ModelError`."""

    def reset(self, *, seed: int) -> np.ndarray:
        """Start a new episode (``seed`` chooses it); returns its first frame."""

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool]:
        """Act for one step: the next frame, the reward, and whether the episode ended."""

    def close(self) -> None:
        """Free what the environment holds (a physics world, a window)."""


@runtime_checkable
class WorldModel(Protocol):
    """A learned environment an agent (or an artist with a gamepad) can act in.

    Optional members (contract 2), which a panel checks for with :func:`world_model_info`:

    - ``environment() -> Environment``: the real environment the model was learnt from, for a
      model the studio can run it for (imports what it needs only when called; a
      :class:`ModelError` says what to install when it cannot).
    - ``drive(dream) -> np.ndarray``: for a model with a controller, the action the controller
      takes in ``dream``'s current state (a dream of this model), within the action bounds.
    """

    frame_shape: tuple[int, int, int]
    #: shape and bounds of one action, as the real environment's action space.
    action_shape: tuple[int, ...]
    action_low: Sequence[float]
    action_high: Sequence[float]

    def dream(self) -> Dream:
        """A new dream (contract 2): its state lives in the returned object, not on the model, so
        two panels (or a panel and a controller's evaluation) can dream at once."""


@dataclass(frozen=True)
class WorldModelInfo:
    """What a :class:`WorldModel` offers beyond dreaming (its optional members)."""

    has_environment: bool = False  #: ``environment()``: the studio can run the real environment
    drives: bool = False  #: ``drive(dream)``: a controller can drive


def world_model_info(model: Any) -> WorldModelInfo:
    """Which optional :class:`WorldModel` members ``model`` has."""
    return WorldModelInfo(callable(getattr(model, "environment", None)), callable(getattr(model, "drive", None)))


def dream_observes(dream: Any) -> bool:
    """Whether ``dream`` can follow a real frame (the optional ``Dream.observe``)."""
    return callable(getattr(dream, "observe", None))


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
    """Trains one model; built by a spec's ``trainer`` reference as
    ``trainer(config, data, device=..., seed=...)``, plus ``upstream=`` for a spec
    that ``builds_on`` other models: ``{spec name: the trained model}``.

    ``data`` is a :class:`~studio.core.data.DataSplit` of the spec's data kind.
    :meth:`steps` is a generator: every ``yield`` is a progress tick *and* the
    point where the caller may stop (cancel). The caller (the job runner) does
    the rest: checkpoints through :meth:`state` and :meth:`restore` (resuming
    restores a state and calls ``steps`` from its step, so batch order and random
    state must follow from the seed, the step and what :meth:`state` saved),
    validation with every checkpoint, a :meth:`preview` with every sample grid.
    """

    #: the config the model was built with (a trainer may fill in learned parts,
    #: such as a tokenizer's vocabulary, before building it).
    config: Any
    #: the model being trained; offers the spec's capabilities.
    model: Any
    #: set by the runner before the first step: whether a cancel was asked for. A long
    #: :meth:`validate` checks it between batches and raises :class:`Cancelled`.
    stop_requested: Callable[[], bool]

    def steps(self, start: int, total: int) -> Iterator[TrainProgress]:
        """Train from step ``start`` up to ``total``, yielding after every step."""

    def validate(self) -> Mapping[str, float]:
        """Losses on held-out data, without changing the model."""

    def preview(self, *, seed: int) -> Optional[np.ndarray]:
        """A picture of what the model makes now: one image or a grid, ``(H, W, C)`` float in
        [0, 1]; or None."""

    def state(self) -> TrainState:
        """Everything :meth:`restore` needs: tensors ``model.*`` (the weights), the optimizer's
        and random state, and JSON-able ``meta``."""

    def restore(self, state: TrainState) -> None:
        """Continue from ``state``, as if training had never stopped."""
