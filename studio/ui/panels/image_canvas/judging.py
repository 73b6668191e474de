"""The canvas's judge: a trained classifier (``ImageClassifier``) of the images a model makes (Qt-free).

A judge fits a model when it takes images of the model's shape. It labels
each image of a grid with the class it sees and how sure it is, and its
features measure the model (:mod:`measuring`): :class:`Judging` is that part
of the canvas's state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from studio.core.capabilities import SampleOptions
from studio.core.checkpoint import read_header
from studio.core.digests import checkpoint_digest
from studio.core.errors import UserError
from studio.core.starters import starters
from studio.engine.inference import ModelRef
from studio.ui.panels.image_canvas import measuring

CAPABILITY = "ImageClassifier"


@dataclass(frozen=True)
class Judge:
    ref: ModelRef
    title: str


def find_judges(registry: Any, store: Any, image_shape: tuple[int, int, int]) -> list[Judge]:
    """The classifiers of the workspace (newest first) and the starters that take images of
    ``image_shape``."""
    specs = {spec.name: spec for spec in registry.models_offering(CAPABILITY)}
    found = []
    paths = [(row["spec"], row["path"], row["model"]) for row in store.checkpoints(list(specs))]
    paths += [(s.spec, str(s.checkpoint), f"{s.title} · starter") for s in starters() if s.spec in specs]
    for spec, path, title in paths:
        try:
            config = read_header(path).config
        except UserError:
            continue
        if (config.get("image_size"), config.get("image_size"), config.get("channels")) == tuple(image_shape):
            found.append(Judge(ModelRef(spec, path), title or specs[spec].title))
    return found


def verdicts(model: Any, images: np.ndarray) -> list[tuple[str, float]]:
    """The class the judge sees in each image and its probability."""
    probabilities = np.asarray(model.classify(np.asarray(images, np.float32)), np.float32)
    names = list(model.class_names)
    best = probabilities.argmax(axis=1)
    return [(names[k] if k < len(names) else str(k), float(probabilities[i, k])) for i, k in enumerate(best)]


class Judging:
    """The judge of a :class:`~.state.CanvasState`'s model: which classifiers fit it, the one chosen,
    its verdicts on the grid shown, and the model's measurement. Emits the canvas's ``judges()``,
    ``verdicts()`` and ``measured()`` events."""

    def __init__(self, canvas: Any) -> None:
        self.canvas = canvas
        self.judges: list[Judge] = []  #: the classifiers that take the model's images
        self.judge: Optional[Judge] = None
        self.show_classes = False  #: label every image of a grid with the judge's class
        self.verdicts: list[tuple[str, float]] = []  #: the judge's (class, probability) per image shown
        self.reading: Optional[measuring.Reading] = None  #: the chosen model's latest measurement

    # -- the model -------------------------------------------------------------------------------
    def model_changed(self) -> None:
        self.reading = None
        self.canvas.events.measured.emit()
        if self.canvas.choice is not None:
            self._read_measurement()

    def model_retrained(self) -> None:
        self.reading = None  # the new weights are not measured yet
        self.canvas.events.measured.emit()

    # -- the judge -------------------------------------------------------------------------------
    def find(self) -> None:
        """List the classifiers that can judge the model's images (a new one may have been trained)."""
        canvas = self.canvas
        self.judges = find_judges(canvas.registry, canvas.store, canvas.info.image_shape) if canvas.info else []
        if self.judge not in self.judges:
            self.judge = self.judges[0] if self.judges else None
        canvas.events.judges.emit()

    def choose(self, judge: Optional[Judge]) -> None:
        self.judge = judge
        self.label_grid()

    def set_show_classes(self, on: bool) -> None:
        self.show_classes = on
        self.label_grid()

    def label_grid(self) -> None:
        """Ask the judge for the class of every image of the grid shown (when classes are shown)."""
        canvas = self.canvas
        self.verdicts = []
        canvas.events.verdicts.emit()
        if not (self.show_classes and self.judge and canvas.grid is not None):
            return
        images, grid = canvas.grid.images, canvas.grid

        def labelled(found: list[tuple[str, float]]) -> None:
            if canvas.grid is grid:
                self.verdicts = found
                canvas.events.verdicts.emit()

        canvas.work.run("judge", self.judge.ref, lambda model, _ctx: verdicts(model, images), on_result=labelled,
                        title="The judge could not classify the images")

    # -- measuring -------------------------------------------------------------------------------
    def _read_measurement(self) -> None:
        canvas, store = self.canvas, self.canvas.store
        choice = canvas.choice

        def read(_model: Any, _ctx: Any) -> Optional[measuring.Reading]:
            return measuring.latest(store, choice.ref.checkpoint, checkpoint_digest(store, choice.ref.checkpoint))

        canvas.work.run("measurement", None, read, on_result=lambda reading: self._measured(choice, reading),
                        on_error=lambda _message, _detail: None)

    def _measured(self, choice: Any, reading: Optional[measuring.Reading]) -> None:
        if self.canvas.choice is not None and self.canvas.choice.ref == choice.ref:
            self.reading = reading
            self.canvas.events.measured.emit()

    def measure(self, count: int = measuring.SAMPLES) -> None:
        """Measure the chosen model with the judge: ``count`` samples with the sampler and steps set
        (no class) against as many held-out real images of its data, as a Fréchet distance and KID
        (see :mod:`measuring`); the result is kept in the catalogue and shown as :attr:`reading`.
        Raises :class:`ValueError` without a model that is ready or a judge, :class:`UserError`
        when the model's data is not known."""
        canvas = self.canvas
        if canvas.choice is None or canvas.info is None:
            raise ValueError("Choose a model first, and wait until it is ready.")
        if self.judge is None:
            raise ValueError(f"Measuring needs a judge: train a classifier (cnn-classifier) on images of "
                             f"{' x '.join(map(str, canvas.info.image_shape))}, the size this model makes.")
        choice, judge, registry, store = canvas.choice, self.judge, canvas.registry, canvas.store
        checkpoint, shape = choice.ref.checkpoint, canvas.info.image_shape
        data = measuring.reference_argument(checkpoint)  # a clear error now, rather than after sampling
        # no class is asked for, so there is nothing to guide towards
        options = {k: v for k, v in canvas.options().items() if k != "guidance_scale"}
        sample_options = SampleOptions(**options) if options else None
        settings = {**options, "seed": measuring.SEED, "judge": judge.title, "judge_checkpoint": judge.ref.checkpoint,
                    "data": data, "step": choice.step}

        def sampled(model: Any, ctx: Any) -> tuple[np.ndarray, Any]:
            images = measuring.sample_for_measure(model, ctx, count=count, options=sample_options)
            return images, measuring.load_reference(registry, checkpoint, shape, count).images

        def judged(pair: tuple[np.ndarray, Any]) -> None:
            images, reference = pair

            def compare(judge_model: Any, ctx: Any) -> measuring.Reading:
                distances = measuring.compare(judge_model, ctx, images, reference)
                measuring.record(store, checkpoint, distances, {**settings, "reference": len(reference)})
                return measuring.Reading(distances.fd.value, distances.fd.error, distances.kid.value,
                                         distances.kid.error, distances.fd.n, judge.title)

            canvas.work.run("measure", judge.ref, compare, on_result=lambda reading: self._measured(choice, reading),
                            label=f"Measuring: the judge compares {len(images)} samples with {len(reference)} real "
                                  "images", title="Measuring failed")

        canvas.run("measure", sampled, on_result=judged, label=f"Measuring: sampling {count} images",
                   title="Measuring failed")
