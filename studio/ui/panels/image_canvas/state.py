"""What the Image Canvas works on (Qt-free): the sampling settings, the grid they made, the tile
chosen, the picture of a sample forming, the grids of this session, and the image (and mask) a
sample may start from.

The settings are checked as they are set (:meth:`CanvasState.change` raises a
:class:`ValueError` saying what is allowed). What a model can be asked (its
conditions, class names, sampling options and samplers) is learned on the
inference thread when the model is chosen (:attr:`CanvasState.info`); a model
just chosen draws a grid at once. Each grid keeps the settings that made it, so
showing an earlier grid again (Edit ▸ Undo, or the history strip) brings its
settings back too.

The seed mode says which seed a Sample uses: the one shown (``fixed``: the same
grid again), a new random one (``random``), or the one after the grid shown
(``increment``: "+1 per image", each grid going on where the last one ended, so
no image repeats). A model that seeds each image (``seed_per_image``) makes
image ``i`` of a grid from seed + i, so every image has a seed of its own.
"""

from __future__ import annotations

import dataclasses
import math
import random
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from studio.core.artifacts import ImageArtifact
from studio.core.capabilities import SampleOptions, SamplerInfo, StepPreview, sample_images, sampler_info
from studio.core.errors import UserError
from studio.core.image_requests import DEFAULT_STEPS, described, guidance_of
from studio.core.imaging import make_grid
from studio.core.png_parameters import parse_parameters
from studio.core.provenance import settings_of
from studio.ui.kit.state import PanelState
from studio.ui.panels.image_canvas.foreign import settings_from
from studio.ui.panels.image_canvas.judging import Judging
from studio.ui.panels.image_canvas.scoring import Scoring
from studio.ui.panels.image_canvas.source import (
    Source,
    decode_image,
    decode_mask,
    encode_image,
    encode_mask,
    quantized,
)

MAX_IMAGES = 256
MAX_SEED = 2**31 - 1
GRID_PADDING = 2
#: the sampling options the canvas has controls for, with the range each takes
OPTION_RANGES = {"steps": (1, 1000), "guidance_scale": (1.0, 30.0), "strength": (0.0, 1.0), "size": (8, 2048)}
#: which seed a Sample uses, and what the canvas calls it
SEED_MODES = {"fixed": "Fixed", "random": "Random", "increment": "+1 per image"}
#: how a sample may start: from noise, from an image (image to image), or from an image with a mask
STARTS = ("noise", "image", "inpaint")
#: grids kept in the history strip
HISTORY = 48


@dataclass(frozen=True)
class CanvasSettings:
    """How the next grid is sampled. Options a model does not support stay None."""

    count: int = 16
    seed: int = 0
    label: Optional[int] = None  #: a class index, for a model conditioned on "label"
    prompt: str = ""  #: for a model conditioned on "prompt"
    negative_prompt: str = ""  #: what to steer away from, for a model conditioned on "negative_prompt"
    steps: Optional[int] = None
    sampler: Optional[str] = None
    guidance_scale: Optional[float] = None
    seed_mode: str = "fixed"  #: one of :data:`SEED_MODES`
    strength: float = 0.75  #: image to image: 0 keeps the image, 1 ignores it
    size: Optional[tuple[int, int]] = None  #: (width, height), for a model that makes any size


def _whole(value: Any) -> bool:
    """A whole number, as a count, seed or class is (True is an int to Python, not to a PNG's reader)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def picture_of(images: np.ndarray) -> np.ndarray:
    """Images ``(n, H, W, C)`` side by side in a square-ish grid, as the canvas shows and exports them."""
    return make_grid(np.asarray(images), math.ceil(math.sqrt(len(images))), GRID_PADDING)


@dataclass(frozen=True)
class Grid:
    """Sampled images and the parameters that made them."""

    images: np.ndarray  #: (n, H, W, C) float in [0, 1]
    params: dict[str, Any]

    @property
    def columns(self) -> int:
        return math.ceil(math.sqrt(len(self.images)))

    def picture(self) -> np.ndarray:
        return picture_of(self.images)

    def seed_of(self, index: int) -> Optional[int]:
        """The seed image ``index`` was made from alone (a model that seeds each image), else None."""
        seed = self.params.get("seed")
        return seed + index if self.params.get("seed_per_image") and seed is not None else None

    def caption(self, index: int) -> str:
        """How the artist finds image ``index`` again: its own seed, or its place in the grid's."""
        own = self.seed_of(index)
        return f"image {index + 1} · seed {own}" if own is not None else \
            f"image {index + 1} of seed {self.params.get('seed')}"

    def tile_at(self, x: float, y: float) -> Optional[int]:
        """The image under a point of :meth:`picture`, in its pixels (padding belongs to no image)."""
        n, h, w = self.images.shape[:3]
        column = int((x - GRID_PADDING) // (w + GRID_PADDING))
        row = int((y - GRID_PADDING) // (h + GRID_PADDING))
        index = row * self.columns + column
        inside = 0 <= column < self.columns and x >= 0 and y >= 0
        return index if inside and 0 <= index < n else None


class CanvasState(PanelState):
    """Events (besides the base's): ``info()`` when the model's abilities are known, ``settings()``,
    ``grid()`` when another grid is shown, ``sampled(before, after)`` when a new grid arrives (to
    record it for undo), ``selection()``, ``preview(step_preview)`` while a sample forms,
    ``history()`` when the session's grids change, ``start()`` when the source image or its mask
    change; :attr:`judging`'s ``judges()``, ``verdicts()`` and ``measured()``; and :attr:`scoring`'s
    ``scorers()`` and ``scores()``."""

    panel = "image-canvas"
    title = "Image Canvas"
    capability = "ImageSampler"
    EVENTS = ("info", "settings", "grid", "sampled", "selection", "preview", "history", "start", "judges",
              "verdicts", "measured", "scorers", "scores")

    def __init__(self, executor, registry, store, capability: str = "") -> None:
        self.info: Optional[SamplerInfo] = None
        self.settings = CanvasSettings()
        self.grid: Optional[Grid] = None
        self.selected: Optional[int] = None
        self.forming: Optional[StepPreview] = None  #: the latest picture of the sample forming
        self.history: list[Grid] = []  #: this session's grids, oldest first
        self.source: Optional[Source] = None  #: the image a sample may start from
        self.mask: Optional[np.ndarray] = None  #: (H, W), 1 where inpainting makes the image anew
        self._restoring: Optional[dict[str, Any]] = None  #: a restore's settings, until the model is known
        self.judging = Judging(self)  #: the judge of the model's images, and its measurements
        self.scoring = Scoring(self)  #: the CLIP scorer of each image against its prompt
        super().__init__(executor, registry, store, capability)
        self.scoring.find()

    # -- the model ---------------------------------------------------------------------------
    def model_changed(self) -> None:
        self.info = self.forming = self._restoring = None
        self.set_start((None, None))  # another model may make images of another size
        self.events.info.emit()
        self.judging.model_changed()
        if self.choice is None:
            return
        checkpoint = self.choice.ref.checkpoint
        # a large model (Stable Diffusion) takes a while to load: the task bar says so meanwhile
        self.run("info", lambda model, _ctx: sampler_info(model), on_result=lambda info: self._known(info, checkpoint),
                 label=f"Loading {self.choice.label}", title="The model cannot be used")

    def _known(self, info: SamplerInfo, checkpoint: str) -> None:
        self.info = info
        self.judging.find()
        s = self.settings
        label = s.label if s.label is not None and s.label < len(info.class_names) else (0 if info.class_names
                                                                                            else None)
        self.settings = dataclasses.replace(
            s, label=label if "label" in info.conditions else None,
            steps=(s.steps if s.steps is not None else DEFAULT_STEPS) if "steps" in info.sampling_options else None,
            sampler=s.sampler if s.sampler in info.samplers else (info.samplers[0] if info.samplers and
                                                                  "sampler" in info.sampling_options else None),
            # each model its own guidance: a scale that suits one model's training does not suit another's
            guidance_scale=guidance_of(info) if "guidance_scale" in info.sampling_options else None,
            size=(info.image_shape[1], info.image_shape[0]) if "size" in info.sampling_options else None)
        self.events.info.emit()
        self.events.settings.emit()
        if self._restoring is not None:
            self._apply_restored()
        elif not self.work.running("sample") and (self.grid is None or
                                                  self.grid.params.get("checkpoint") != checkpoint):
            self.sample()  # a model just chosen: show what it makes

    def model_retrained(self) -> None:
        self.judging.model_retrained()

    def supports(self, option: str) -> bool:
        return self.info is not None and option in self.info.sampling_options

    # -- settings ------------------------------------------------------------------------------
    def change(self, **changes: Any) -> None:
        """Set some of :class:`CanvasSettings`' fields, each checked; raises :class:`ValueError`."""
        for name, value in changes.items():
            self._check(name, value)
        self.settings = dataclasses.replace(self.settings, **changes)
        self.events.settings.emit()

    def _check(self, name: str, value: Any) -> None:
        if name == "count" and not (_whole(value) and 1 <= value <= MAX_IMAGES):
            raise ValueError(f"A grid has 1 to {MAX_IMAGES} images, not {value!r}.")
        if name == "seed" and not (_whole(value) and 0 <= value <= MAX_SEED):
            raise ValueError(f"A seed is a whole number from 0 to {MAX_SEED}, not {value!r}.")
        if name == "label" and value is not None:
            names = self.info.class_names if self.info else ()
            if not (_whole(value) and 0 <= value < len(names)):
                raise ValueError(f"This model has {len(names)} classes; {value!r} is not one of them.")
        if name in ("prompt", "negative_prompt") and not isinstance(value, str):
            raise ValueError("A prompt is text.")
        if name == "size" and value is not None:
            self._check_size(value)
        if name == "seed_mode" and value not in SEED_MODES:
            raise ValueError(f"The seed mode is one of {', '.join(SEED_MODES)}, not {value!r}.")
        if name == "strength" and not (_number(value) and 0.0 <= value <= 1.0):
            raise ValueError(f"The strength goes from 0 (keep the image) to 1 (ignore it), not {value!r}.")
        if name in ("steps", "sampler", "guidance_scale") and value is not None:
            if not self.supports(name):
                raise ValueError(f"This model has no {name.replace('_', ' ')} setting.")
            if name == "sampler" and value not in self.info.samplers:
                raise ValueError(f"This model's samplers are {', '.join(self.info.samplers)}; not {value!r}.")
            low, high = OPTION_RANGES.get(name, (None, None))
            typed = _whole(value) if name == "steps" else _number(value)
            if low is not None and not (typed and low <= value <= high):
                raise ValueError(f"{name.replace('_', ' ').capitalize()} goes from {low} to {high}, not {value!r}.")
        if name not in {f.name for f in dataclasses.fields(CanvasSettings)}:
            raise ValueError(f"The canvas has no setting {name!r}.")

    def _check_size(self, value: Any) -> None:
        if not self.supports("size"):
            raise ValueError("This model makes images of one size only.")
        low, high = OPTION_RANGES["size"]
        if not (isinstance(value, (tuple, list)) and len(value) == 2 and all(_whole(v) and low <= v <= high
                                                                              for v in value)):
            raise ValueError(f"A size is a width and a height, each from {low} to {high} pixels, not {value!r}.")

    def condition(self) -> dict[str, Any]:
        """What the next grid is conditioned on, as the model takes it."""
        conditions = self.info.conditions if self.info else ()
        condition: dict[str, Any] = {}
        if "label" in conditions and self.settings.label is not None:
            condition["label"] = self.settings.label
        if "prompt" in conditions and self.settings.prompt.strip():
            condition["prompt"] = self.settings.prompt.strip()
        if "negative_prompt" in conditions and self.settings.negative_prompt.strip():
            condition["negative_prompt"] = self.settings.negative_prompt.strip()
        return condition

    def options(self) -> dict[str, Any]:
        """The sampling options set, by name (only those the model supports are ever set)."""
        s = self.settings
        return {k: v for k, v in (("steps", s.steps), ("sampler", s.sampler), ("guidance_scale", s.guidance_scale),
                                  ("size", s.size)) if v is not None}

    # -- sampling ------------------------------------------------------------------------------
    def can_start(self, start: str) -> bool:
        """Whether the model can start from an image (``"image"``) or repaint a mask (``"inpaint"``)."""
        return start == "noise" or (self.supports("init_image") and (start == "image" or self.supports("mask")))

    def sample(self, start: str = "noise", *, seed_as_set: bool = False) -> None:
        """Sample a grid with the settings as they are, from noise or from the source image (``start``,
        one of :data:`STARTS`); a newer Sample overtakes this one. The seed mode picks the seed
        unless ``seed_as_set`` (a restore: the seed it recorded). Raises :class:`ValueError` when the
        model cannot start so, or there is no source image or nothing masked."""
        if self.choice is None:
            return
        if start not in STARTS:
            raise ValueError(f"A sample starts from one of {STARTS}, not {start!r}.")
        extra = self._start_options(start)
        if not seed_as_set:
            self._next_seed()
        n, seed, condition, options = self.settings.count, self.settings.seed, self.condition(), self.options()
        sample_options = SampleOptions(**options, **extra) if options or extra else None
        # the images' size is recorded by what they are (``described``), whatever was asked
        recorded = {**{k: v for k, v in options.items() if k != "size"}, **self._start_params(start, extra)}

        def work(model, ctx):
            return sample_images(model, n, seed=seed, condition=condition, options=sample_options, on_step=ctx.step)

        self.forming = None
        what = {"noise": "Sampling", "image": "Varying the image:", "inpaint": "Repainting the mask:"}[start]
        self.run("sample", work, on_result=lambda images: self._sampled(images, n, seed, condition, recorded),
                 on_step=self._stepped, label=f"{what} {n} image{'s' if n != 1 else ''}", title="Sampling failed")

    def _next_seed(self) -> None:
        s = self.settings
        if s.seed_mode == "random":
            self.change(seed=random.randrange(MAX_SEED))
        elif s.seed_mode == "increment" and self.grid is not None and self.grid.params.get("seed") == s.seed:
            self.change(seed=(s.seed + len(self.grid.images)) % MAX_SEED)  # on from the grid shown

    def _start_options(self, start: str) -> dict[str, Any]:
        """The :class:`SampleOptions` fields of an image-to-image or inpainting sample."""
        if start == "noise":
            return {}
        if not self.can_start(start):
            raise ValueError("This model cannot start from an image." if start == "image" else
                             "This model cannot repaint part of an image.")
        if self.source is None:
            raise ValueError("Choose an image to start from first (Start from this, or Open image…).")
        if start == "image":
            return {"init_image": self.source.pixels, "strength": float(self.settings.strength)}
        if self.mask is None or not self.mask.any():
            raise ValueError("Paint over the part of the image to make anew first.")
        return {"init_image": self.source.pixels, "mask": self.mask, "strength": float(self.settings.strength)}

    def _start_params(self, start: str, extra: dict[str, Any]) -> dict[str, Any]:
        """What a PNG records of how the sample started, so that it is made again exactly."""
        if start == "noise":
            return {}
        params = {"start": start, "init_image": encode_image(extra["init_image"]), "source": self.source.caption}
        if "strength" in extra:
            params["strength"] = extra["strength"]
        if "mask" in extra:
            params["mask"] = encode_mask(extra["mask"])
        return params

    def _stepped(self, _step: int, _total: int, preview: Any) -> None:
        if isinstance(preview, StepPreview):
            self.forming = preview
            self.events.preview.emit(preview)

    def _sampled(self, images: np.ndarray, n: int, seed: int, condition: dict, options: dict) -> None:
        before = self.grid
        images = np.asarray(images)
        after = Grid(images, self.result_params(seed=seed, n=n, condition=condition, **options,
                                                **described(self.info, images, condition)))
        self.forming = None
        self.history = (self.history + [after])[-HISTORY:]
        self.events.history.emit()
        self.show(after)
        self.events.sampled.emit(before, after)

    def show(self, grid: Optional[Grid]) -> None:
        """Show ``grid`` (None: none) with the settings that made it; no tile is chosen."""
        self.grid, self.selected = grid, None
        if grid is not None:
            self._take_settings(grid.params)
        self.events.grid.emit()
        self.events.selection.emit()
        self.judging.label_grid()
        self.scoring.score_grid()

    def _take_settings(self, params: dict[str, Any]) -> None:
        """The settings recorded in ``params`` (those this model can take; the others are kept)."""
        settings = settings_of(params)
        condition = settings.get("condition") if isinstance(settings.get("condition"), dict) else {}
        changes: dict[str, Any] = {"count": settings.get("n"), "seed": settings.get("seed"),
                                   "label": condition.get("label"), "prompt": condition.get("prompt"),
                                   "negative_prompt": condition.get("negative_prompt", "")}
        changes.update({k: settings.get(k) for k in ("steps", "sampler", "guidance_scale", "strength")})
        if isinstance(settings.get("size"), (list, tuple)) and not settings.get("init_image"):
            changes["size"] = tuple(settings["size"])
        kept = {}
        for name, value in changes.items():
            if value is None:
                continue
            try:
                self._check(name, value)
            except ValueError:
                continue
            kept[name] = value
        if self.info is not None and "label" in self.info.conditions and condition.get("label") is None:
            kept["label"] = None  # made without a class: so is the grid made again
        self.settings = dataclasses.replace(self.settings, **kept)
        self.events.settings.emit()

    def select(self, index: Optional[int]) -> None:
        if index is not None and (self.grid is None or not 0 <= index < len(self.grid.images)):
            raise ValueError(f"The grid has no image {index}.")
        self.selected = index
        self.events.selection.emit()

    # -- the image a sample starts from -----------------------------------------------------------
    def source_from_selection(self) -> Source:
        """The chosen image of the grid as a source (with an empty mask); ValueError without one."""
        if self.grid is None or self.selected is None:
            raise ValueError("Click an image of the grid first.")
        grid, index = self.grid, self.selected
        return Source(quantized(grid.images[index]), grid.caption(index), {**grid.params, "index": index})

    def set_start(self, start: tuple[Optional[Source], Optional[np.ndarray]]) -> None:
        """Set the source image and its mask (for undoable edits: ``(source, mask)``)."""
        self.source, self.mask = start
        if self.source is not None and self.mask is None:
            self.mask = np.zeros(self.source.pixels.shape[:2], np.float32)
        self.events.start.emit()

    def set_mask(self, mask: Optional[np.ndarray]) -> None:
        self.mask = None if mask is None else np.asarray(mask, np.float32)
        self.events.start.emit()

    # -- export and restore ----------------------------------------------------------------------
    def artifact(self, single: bool) -> Optional[tuple[ImageArtifact, str]]:
        """The chosen image (``single``) or the whole grid, with its parameters, and a file name."""
        grid = self.grid
        if grid is None:
            return None
        model, seed = grid.params["model"], grid.params.get("seed")
        if single and self.selected is not None:
            own = grid.seed_of(self.selected)
            name = f"{model}-seed{own}.png" if own is not None else f"{model}-seed{seed}-{self.selected}.png"
            params = self.scoring.params_with_score({**grid.params, "index": self.selected}, self.selected)
            return ImageArtifact(grid.images[self.selected], params), name
        return ImageArtifact(grid.picture(), self.scoring.grid_params(grid.params)), f"{model}-seed{seed}-grid.png"

    def restore_file(self, params: dict[str, Any], name: str) -> None:
        """Restore the settings and model of a PNG the canvas exported, then sample again: the same
        images. Raises :class:`~studio.core.provenance.RestoreError` for a file it cannot restore."""
        def apply(restored: dict[str, Any], _name: str) -> None:
            self._restoring = restored
            if self.info is not None:  # else once the model says what it takes (a class, options)
                self._apply_restored()

        self.restore(params, name, apply)

    def _apply_restored(self) -> None:
        params, self._restoring = self._restoring, None
        try:
            self._redo(params)
        except (ValueError, UserError) as exc:  # a damaged mask, a model that cannot start from an image
            self.work.events.failed.emit("Restore", f"The settings were restored, but the image cannot be made "
                                         f"again: {exc}", "")

    def _redo(self, params: dict[str, Any]) -> None:
        """Make a restored result again: its source image and mask, its settings, its seed."""
        start = params.get("start", "noise") if params.get("init_image") else "noise"
        if start != "noise":
            shape = self.info.image_shape
            source = Source(decode_image(params["init_image"], shape), params.get("source", "the image it started "
                                                                                 "from"))
            mask = decode_mask(params["mask"], shape) if start == "inpaint" else None
            self.set_start((source, mask))
        self._take_settings(params)
        index = params.get("index")
        if _whole(index) and params.get("seed_per_image") and _whole(params.get("seed")):
            # one image, exported alone: make that image (its own seed), not its whole grid again
            self.change(count=1, seed=params["seed"] + index)
        self.sample(start, seed_as_set=True)

    def restore_foreign(self, parameters: str, name: str) -> str:
        """Take the settings another tool's ``parameters`` text gives (seed, steps, sampler, ...) for the
        model chosen; returns what was taken and what was not, for the artist. Nothing is sampled:
        this model would not make that tool's image. Raises :class:`ValueError` when there is
        nothing to take."""
        parsed = parse_parameters(parameters)
        if not parsed:
            raise ValueError(f"{name} has a 'parameters' text, but not one the studio can read.")
        if self.info is None:
            raise ValueError("Choose a model first: the settings are taken for the model chosen." if self.choice is None
                             else "The model is still loading; open the image again in a moment.")
        changes, notes = settings_from(parsed, self.info)
        for key, value in list(changes.items()):
            try:
                self._check(key, value)
            except ValueError as exc:
                notes.append(str(exc))
                del changes[key]
        self.change(**changes, seed_mode="fixed")
        shown = {k: f"{v[0]}x{v[1]}" if k == "size" else v for k, v in changes.items()}
        taken = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in shown.items()) or "nothing"
        left = f" Not used: {'; '.join(notes)}." if notes else ""
        return f"From {name}: {taken}.{left} Press Sample to draw with these settings."
