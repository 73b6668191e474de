"""What the Image Canvas works on (Qt-free): the sampling settings, the grid they made, the tile
chosen, and the picture of a sample forming.

The settings are checked as they are set (:meth:`CanvasState.change` raises a
:class:`ValueError` saying what is allowed). What a model can be asked (its
conditions, class names, sampling options and samplers) is learned on the
inference thread when the model is chosen (:attr:`CanvasState.info`); a model
just chosen draws a grid at once. Each grid keeps the settings that made it, so
showing an earlier grid again (Edit ▸ Undo) brings its settings back too.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from studio.core.artifacts import ImageArtifact
from studio.core.capabilities import SampleOptions, SamplerInfo, StepPreview, sample_images, sampler_info
from studio.core.imaging import make_grid
from studio.core.provenance import settings_of
from studio.ui.kit.state import PanelState

MAX_IMAGES = 256
MAX_SEED = 2**31 - 1
GRID_PADDING = 2
#: the sampling options the canvas has controls for, with the range each takes
OPTION_RANGES = {"steps": (1, 1000), "guidance_scale": (1.0, 30.0)}


@dataclass(frozen=True)
class CanvasSettings:
    """How the next grid is sampled. Options a model does not support stay None."""

    count: int = 16
    seed: int = 0
    label: Optional[int] = None  #: a class index, for a model conditioned on "label"
    prompt: str = ""  #: for a model conditioned on "prompt"
    steps: Optional[int] = None
    sampler: Optional[str] = None
    guidance_scale: Optional[float] = None


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
    record it for undo), ``selection()``, ``preview(step_preview)`` while a sample forms."""

    panel = "image-canvas"
    title = "Image Canvas"
    capability = "ImageSampler"
    EVENTS = ("info", "settings", "grid", "sampled", "selection", "preview")

    def __init__(self, executor, registry, store, capability: str = "") -> None:
        self.info: Optional[SamplerInfo] = None
        self.settings = CanvasSettings()
        self.grid: Optional[Grid] = None
        self.selected: Optional[int] = None
        self.forming: Optional[StepPreview] = None  #: the latest picture of the sample forming
        self._restoring: Optional[dict[str, Any]] = None  #: a restore's settings, until the model is known
        super().__init__(executor, registry, store, capability)

    # -- the model ---------------------------------------------------------------------------
    def model_changed(self) -> None:
        self.info = self.forming = self._restoring = None
        self.events.info.emit()
        if self.choice is None:
            return
        checkpoint = self.choice.ref.checkpoint
        self.run("info", lambda model, _ctx: sampler_info(model), on_result=lambda info: self._known(info, checkpoint),
                 title="The model cannot be used")

    def _known(self, info: SamplerInfo, checkpoint: str) -> None:
        self.info = info
        s = self.settings
        label = s.label if s.label is not None and s.label < len(info.class_names) else (0 if info.class_names
                                                                                            else None)
        self.settings = dataclasses.replace(
            s, label=label if "label" in info.conditions else None,
            steps=s.steps if "steps" in info.sampling_options else None,
            sampler=s.sampler if s.sampler in info.samplers else (info.samplers[0] if info.samplers and
                                                                  "sampler" in info.sampling_options else None),
            guidance_scale=s.guidance_scale if "guidance_scale" in info.sampling_options else None)
        self.events.info.emit()
        self.events.settings.emit()
        if self._restoring is not None:
            self._apply_restored()
        elif not self.work.running("sample") and (self.grid is None or
                                                  self.grid.params.get("checkpoint") != checkpoint):
            self.sample()  # a model just chosen: show what it makes

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
        if name == "count" and not (isinstance(value, int) and 1 <= value <= MAX_IMAGES):
            raise ValueError(f"A grid has 1 to {MAX_IMAGES} images, not {value!r}.")
        if name == "seed" and not (isinstance(value, int) and 0 <= value <= MAX_SEED):
            raise ValueError(f"A seed is a whole number from 0 to {MAX_SEED}, not {value!r}.")
        if name == "label" and value is not None:
            names = self.info.class_names if self.info else ()
            if not (isinstance(value, int) and 0 <= value < len(names)):
                raise ValueError(f"This model has {len(names)} classes; {value!r} is not one of them.")
        if name == "prompt" and not isinstance(value, str):
            raise ValueError("A prompt is text.")
        if name in ("steps", "sampler", "guidance_scale") and value is not None:
            if not self.supports(name):
                raise ValueError(f"This model has no {name.replace('_', ' ')} setting.")
            if name == "sampler" and value not in self.info.samplers:
                raise ValueError(f"This model's samplers are {', '.join(self.info.samplers)}; not {value!r}.")
            low, high = OPTION_RANGES.get(name, (None, None))
            if low is not None and not low <= value <= high:
                raise ValueError(f"{name.replace('_', ' ').capitalize()} goes from {low} to {high}, not {value!r}.")
        if name not in {f.name for f in dataclasses.fields(CanvasSettings)}:
            raise ValueError(f"The canvas has no setting {name!r}.")

    def condition(self) -> dict[str, Any]:
        """What the next grid is conditioned on, as the model takes it."""
        conditions = self.info.conditions if self.info else ()
        condition: dict[str, Any] = {}
        if "label" in conditions and self.settings.label is not None:
            condition["label"] = self.settings.label
        if "prompt" in conditions and self.settings.prompt.strip():
            condition["prompt"] = self.settings.prompt.strip()
        return condition

    def options(self) -> dict[str, Any]:
        """The sampling options set, by name (only those the model supports are ever set)."""
        s = self.settings
        return {k: v for k, v in (("steps", s.steps), ("sampler", s.sampler), ("guidance_scale", s.guidance_scale))
                if v is not None}

    # -- sampling ------------------------------------------------------------------------------
    def sample(self) -> None:
        """Sample a grid with the settings as they are; a newer Sample overtakes this one."""
        if self.choice is None:
            return
        n, seed, condition, options = self.settings.count, self.settings.seed, self.condition(), self.options()

        def work(model, ctx):
            return sample_images(model, n, seed=seed, condition=condition,
                                 options=SampleOptions(**options) if options else None, on_step=ctx.step)

        self.forming = None
        self.run("sample", work, on_result=lambda images: self._sampled(images, n, seed, condition, options),
                 on_step=self._stepped, label=f"Sampling {n} image{'s' if n != 1 else ''}", title="Sampling failed")

    def _stepped(self, _step: int, _total: int, preview: Any) -> None:
        if isinstance(preview, StepPreview):
            self.forming = preview
            self.events.preview.emit(preview)

    def _sampled(self, images: np.ndarray, n: int, seed: int, condition: dict, options: dict) -> None:
        before = self.grid
        after = Grid(np.asarray(images), self.result_params(seed=seed, n=n, condition=condition, **options))
        self.forming = None
        self.show(after)
        self.events.sampled.emit(before, after)

    def show(self, grid: Optional[Grid]) -> None:
        """Show ``grid`` (None: none) with the settings that made it; no tile is chosen."""
        self.grid, self.selected = grid, None
        if grid is not None:
            self._take_settings(grid.params)
        self.events.grid.emit()
        self.events.selection.emit()

    def _take_settings(self, params: dict[str, Any]) -> None:
        """The settings recorded in ``params`` (those this model can take; the others are kept)."""
        settings = settings_of(params)
        condition = settings.get("condition") or {}
        changes: dict[str, Any] = {"count": settings.get("n"), "seed": settings.get("seed"),
                                   "label": condition.get("label"), "prompt": condition.get("prompt")}
        changes.update({k: settings.get(k) for k in ("steps", "sampler", "guidance_scale")})
        kept = {}
        for name, value in changes.items():
            if value is None:
                continue
            try:
                self._check(name, value)
            except ValueError:
                continue
            kept[name] = value
        self.settings = dataclasses.replace(self.settings, **kept)
        self.events.settings.emit()

    def select(self, index: Optional[int]) -> None:
        if index is not None and (self.grid is None or not 0 <= index < len(self.grid.images)):
            raise ValueError(f"The grid has no image {index}.")
        self.selected = index
        self.events.selection.emit()

    # -- export and restore ----------------------------------------------------------------------
    def artifact(self, single: bool) -> Optional[tuple[ImageArtifact, str]]:
        """The chosen image (``single``) or the whole grid, with its parameters, and a file name."""
        grid = self.grid
        if grid is None:
            return None
        model, seed = grid.params["model"], grid.params.get("seed")
        if single and self.selected is not None:
            return (ImageArtifact(grid.images[self.selected], {**grid.params, "index": self.selected}),
                    f"{model}-seed{seed}-{self.selected}.png")
        return ImageArtifact(grid.picture(), grid.params), f"{model}-seed{seed}-grid.png"

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
        self._take_settings(params)
        self.sample()
