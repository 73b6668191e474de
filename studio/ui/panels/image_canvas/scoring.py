"""The canvas's CLIP scorer: how well each image of the grid shown matches its prompt (Qt-free).

A scorer is a model offering ``PromptScorer`` (a CLIP model folder the artist imported). It scores
every image of a grid against the prompt that made it, the grid can be shown best first
(:meth:`Scoring.order`), and an exported image keeps its score in its parameters
(:meth:`Scoring.params_with_score`). Any model's images can be scored, whatever their size: the
scorer's own image processor resizes them. :class:`Scoring` is that part of the canvas's state.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from studio.core.errors import UserError
from studio.engine.inference import ModelRef
from studio.ui.kit.state import import_from_disk

CAPABILITY = "PromptScorer"
#: the parameters an image's score is kept under
SCORE_KEY, SCORER_KEY = "clip_score", "clip_scorer"


@dataclass(frozen=True)
class Scorer:
    ref: ModelRef
    title: str


def find_scorers(registry: Any, store: Any) -> list[Scorer]:
    """The scorers imported into the workspace that are still on disk, newest first."""
    specs = {spec.name: spec for spec in registry.models_offering(CAPABILITY)}
    if not specs:
        return []
    return [Scorer(ModelRef(row["spec"], row["path"]), row["model"] or f"{specs[row['spec']].title} "
                                                                      f"({Path(row['path']).name})")
            for row in store.checkpoints(list(specs)) if Path(row["path"]).exists()]


def prompt_of(params: dict[str, Any]) -> str:
    """The prompt a grid was made from ("" for a grid made without one)."""
    condition = params.get("condition")
    prompt = condition.get("prompt") if isinstance(condition, dict) else None
    return prompt.strip() if isinstance(prompt, str) else ""


def scores_of(model: Any, images: np.ndarray, prompt: str) -> np.ndarray:
    """The scorer's score of each image against ``prompt``, checked to be one number per image."""
    scores = np.asarray(model.score(np.asarray(images, np.float32), prompt), np.float32)
    if scores.shape != (len(images),) or not np.isfinite(scores).all():
        raise UserError(f"The scorer gave {scores.shape} scores (or not numbers) for {len(images)} images; "
                        "expected one score per image.")
    return scores


def best_first(scores: np.ndarray) -> list[int]:
    """Indices of ``scores``, highest first; equal scores keep their order."""
    return [int(i) for i in np.argsort(-np.asarray(scores), kind="stable")]


class Scoring:
    """The CLIP scorer of a :class:`~.state.CanvasState`: the scorers imported, the one chosen, and its
    score of each image of the grid shown.

    It expects of the canvas ``registry``, ``store``, ``work``, ``grid`` (a ``Grid`` or None) and the
    events ``scorers()`` (the list of scorers or the choice changed) and ``scores()`` (the grid's
    scores were cleared or arrived). The canvas calls :meth:`find` when it opens, and
    :meth:`score_grid` whenever it shows another grid (as it calls its judge's ``label_grid``).
    """

    def __init__(self, canvas: Any) -> None:
        self.canvas = canvas
        self.scorers: list[Scorer] = []
        self.scorer: Optional[Scorer] = None
        self.scoring = False  #: score every grid shown
        #: the chosen scorer's score of each image of the grid shown, None until it has scored them
        self.scores: Optional[np.ndarray] = None

    # -- the scorer ------------------------------------------------------------------------------
    def find(self) -> None:
        """List the scorers of the workspace again (one may have been imported), keeping the choice."""
        canvas = self.canvas
        self.scorers = find_scorers(canvas.registry, canvas.store)
        if self.scorer not in self.scorers:
            self.scorer = self.scorers[0] if self.scorers else None
        canvas.events.scorers.emit()

    def choose(self, scorer: Optional[Scorer]) -> None:
        if scorer is not None and scorer not in self.scorers:
            raise ValueError(f"{scorer.title} is not an imported scorer.")
        self.scorer = scorer
        self.canvas.events.scorers.emit()
        self.score_grid()

    def set_scoring(self, on: bool) -> None:
        self.scoring = on
        self.score_grid()

    def add(self, path: str, on_done: Callable[[bool], None]) -> None:
        """Import the CLIP folder ``path``: load it on the inference thread (what is wrong with it is said
        through ``work.events.failed``), list it in the workspace and choose it; ``on_done(ok)`` either way."""
        canvas = self.canvas
        spec = next((s for s in canvas.registry.models_offering(CAPABILITY) if s.imports(path)), None)
        if spec is None:
            raise ValueError(f"{Path(path).name} is not something a scorer is imported from: choose a CLIP "
                             "model folder.")
        def listed() -> None:
            self.find()
            self.choose(next(s for s in self.scorers if s.ref.checkpoint == path))

        import_from_disk(canvas.work, "import-scorer", canvas.store, spec, path, "Import scorer", listed,
                         on_done)

    def unavailable(self) -> str:
        """Why the grid shown cannot be scored, for the artist ("" when it can)."""
        grid = self.canvas.grid
        if self.scorer is None:
            return "Import a CLIP model folder to score the images against their prompt."
        if grid is not None and not prompt_of(grid.params):
            return "These images were made without a prompt, so there is nothing to score them against."
        return ""

    # -- the grid's scores -----------------------------------------------------------------------
    def score_grid(self) -> None:
        """Ask the scorer for the score of every image of the grid shown (when scoring is on)."""
        canvas = self.canvas
        self.scores = None
        canvas.events.scores.emit()
        grid = canvas.grid
        if not (self.scoring and self.scorer and grid is not None and prompt_of(grid.params)):
            return
        images, prompt = grid.images, prompt_of(grid.params)

        def scored(found: np.ndarray) -> None:
            if canvas.grid is grid:
                self.scores = found
                canvas.events.scores.emit()

        canvas.work.run("score", self.scorer.ref, lambda model, _ctx: scores_of(model, images, prompt),
                        on_result=scored, label=f"Scoring {len(images)} image{'s' if len(images) != 1 else ''}",
                        title="The scorer could not score the images")

    def order(self) -> list[int]:
        """The grid's images, best scored first; in the grid's own order while they are not scored."""
        grid = self.canvas.grid
        if grid is None:
            return []
        return best_first(self.scores) if self.scores is not None else list(range(len(grid.images)))

    def params_with_score(self, params: dict[str, Any], index: int) -> dict[str, Any]:
        """The ``params`` of image ``index`` of the grid shown with its score (two decimals) and the scorer
        that gave it; as they are while the grid is not scored."""
        if self.scores is None or self.scorer is None or not 0 <= index < len(self.scores):
            return dict(params)
        return {**params, SCORE_KEY: round(float(self.scores[index]), 2), SCORER_KEY: self.scorer.title}

    def grid_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """A whole grid's ``params`` with the score of each of its images, in grid order (as they are
        while the grid is not scored)."""
        if self.scores is None or self.scorer is None:
            return dict(params)
        return {**params, "clip_scores": [round(float(x), 2) for x in self.scores], SCORER_KEY: self.scorer.title}
