"""The Latent Explorer's tools as plain state (Qt-free): Morph, Attributes, Walk and Prior grid.

Each tool keeps its settings and what it made (frames with the latents and
parameters behind them), and asks its :class:`~.state.LatentState` to run its
model work (newest request of each tool wins). Their events are the state's:
``morph``, ``attribute``, ``vectors``, ``walk``, ``prior``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from studio.core.imaging import make_grid
from studio.core.latent import INTERPOLATIONS, difference_vector, interpolate, walk
from studio.ui.panels.latent_explorer.work import Endpoint, decode_request, folders_request, prior_request

if TYPE_CHECKING:
    from studio.ui.panels.latent_explorer.state import LatentState

#: how far an attribute vector may be added or taken away, in units of the vector
MAX_STRENGTH = 3.0


@dataclass(frozen=True)
class Strip:
    """Frames a tool decoded, the latents they are of and the parameters that made them."""

    latents: np.ndarray  #: (frames, latent_dim)
    frames: np.ndarray  #: (frames, H, W, C)
    params: dict[str, Any]
    selected: int = 0


@dataclass(frozen=True)
class MorphSettings:
    steps: int = 10  #: frames from A to B, both included
    mode: str = "linear"  #: one of INTERPOLATIONS

    def check(self) -> None:
        if not 3 <= self.steps <= 32:
            raise ValueError(f"A morph has 3 to 32 frames, not {self.steps}.")
        if self.mode not in INTERPOLATIONS:
            raise ValueError(f"A morph's path is one of {', '.join(INTERPOLATIONS)}, not {self.mode!r}.")


@dataclass(frozen=True)
class WalkSettings:
    direction: Optional[str] = None  #: "PC1", ... or "z1", ...; None until the map names them
    extent: float = 2.0  #: how far each way, in standard deviations of the map's latents
    steps: int = 11

    def check(self) -> None:
        if not 0.25 <= self.extent <= 6.0:
            raise ValueError(f"A walk goes 0.25 to 6 standard deviations each way, not {self.extent}.")
        if not 3 <= self.steps <= 32:
            raise ValueError(f"A walk has 3 to 32 frames, not {self.steps}.")


@dataclass(frozen=True)
class PriorSettings:
    side: int = 8  #: images per row and column
    seed: int = 0

    def check(self) -> None:
        if not 2 <= self.side <= 16:
            raise ValueError(f"A prior grid is 2 to 16 images a side, not {self.side}.")
        if not 0 <= self.seed < 2**31:
            raise ValueError(f"A seed is a whole number from 0 to {2**31 - 1}, not {self.seed}.")


class Morph:
    """Two ends, A and B, and the frames between them."""

    def __init__(self, owner: LatentState) -> None:
        self.owner = owner
        self.settings = MorphSettings()
        self.ends: dict[str, Optional[Endpoint]] = {"a": None, "b": None}
        self.strip: Optional[Strip] = None
        self.pending_frame: Optional[int] = None  #: a restored frame to select when the frames come

    def set_settings(self, settings: MorphSettings) -> None:
        settings.check()
        self.settings = settings
        self.owner.events.morph.emit()
        self.compute()

    def set_ends(self, ends: dict[str, Optional[Endpoint]]) -> None:
        """Both ends at once (a swap, an undo); the morph is made again."""
        self.ends = dict(ends)
        self.owner.events.morph.emit()
        self.compute()

    def set_end(self, role: str, end: Endpoint) -> None:
        self.set_ends({**self.ends, role: end})
        self.owner.set_tool("morph")

    def swapped(self) -> dict[str, Optional[Endpoint]]:
        return {"a": self.ends["b"], "b": self.ends["a"]}

    def compute(self) -> None:
        a, b = self.ends["a"], self.ends["b"]
        if a is None or b is None or self.owner.choice is None:
            return
        steps, mode = self.settings.steps, self.settings.mode
        latents = interpolate(a.latent, b.latent, steps, mode)
        params = {"mode": "morph", "a": a.latent.tolist(), "b": b.latent.tolist(), "steps": steps,
                  "interpolation": mode}

        def done(frames: np.ndarray) -> None:
            selected = min(self.pending_frame or 0, len(frames) - 1)
            self.pending_frame = None
            self.strip = Strip(latents, frames, params, selected)
            for role, image in (("a", frames[0]), ("b", frames[-1])):
                end = self.ends[role]
                if end is not None and end.image is None:  # restored ends: show their reconstructions
                    self.ends[role] = dataclasses.replace(end, image=image)
            self.owner.events.morph.emit()

        self.owner.run("morph", decode_request(latents), on_result=done)

    def choose_frame(self, index: int) -> None:
        """Show frame ``index`` large; it becomes the chosen point."""
        strip = self.strip
        if strip is None:  # the model was reloaded; new frames are on their way
            return
        self.strip = dataclasses.replace(strip, selected=index)
        a, b = self.ends["a"], self.ends["b"]
        origin = {**strip.params, "frame": index}
        caption = f"morph frame {index + 1} of {origin['steps']}: {a.caption} → {b.caption}"
        self.owner.set_base(strip.latents[index], caption)
        self.owner.show_frame(strip.latents[index], strip.frames[index], caption, origin)
        self.owner.events.morph.emit()


class Attributes:
    """Attribute vectors (a class's, or two folders') and how much of one is added."""

    def __init__(self, owner: LatentState) -> None:
        self.owner = owner
        self.vectors: dict[str, np.ndarray] = {}
        self.from_classes: set[str] = set()  #: which of ``vectors`` the map's labels made
        self.name: Optional[str] = None
        self.strength = 0.0

    def check(self, name: Optional[str], strength: float) -> None:
        if name is not None and name not in self.vectors:
            raise ValueError(f"There is no attribute vector {name!r}; there are {', '.join(self.vectors) or 'none'}.")
        if not -MAX_STRENGTH <= strength <= MAX_STRENGTH:
            raise ValueError(f"A strength goes from {-MAX_STRENGTH} to {MAX_STRENGTH}, not {strength}.")

    def set(self, name: Optional[str], strength: float) -> None:
        """Add ``strength`` times the vector ``name`` to the chosen point, and show it."""
        self.check(name, strength)
        self.name, self.strength = name, float(strength)
        self.owner.events.attribute.emit()
        owner = self.owner
        if owner.base is None or name is None:
            return
        vector = self.vectors[name]
        # the vector travels with the export: a folder vector exists nowhere else
        origin = {"mode": "attribute", "base": owner.base.tolist(), "attribute": name, "strength": self.strength,
                  "vector": vector.tolist()}
        owner.show_latent(owner.base + self.strength * vector, f"{owner.base_caption} {self.strength:+.2f} × “{name}”",
                          origin)

    def reset_strength(self) -> None:
        self.strength = 0.0
        self.owner.events.attribute.emit()

    def set_vectors(self, vectors: dict[str, np.ndarray], from_classes: set[str], keep: Optional[str] = None) -> None:
        self.vectors, self.from_classes = vectors, from_classes
        wanted = keep or self.name
        self.name = wanted if wanted in vectors else (next(iter(vectors)) if vectors else None)
        self.owner.events.vectors.emit()

    def from_folders(self, folder_a: str, folder_b: str) -> None:
        """Make the vector ``mean(B) − mean(A)`` of two folders of images (a long request)."""
        if not folder_a or not folder_b:
            raise ValueError("Choose two folders of images first: A without the attribute, B with it (say, "
                             "neutral faces and smiling faces).")
        name = f"{Path(folder_b).name} − {Path(folder_a).name}"

        def done(latents: tuple[np.ndarray, np.ndarray]) -> None:
            self.vectors[name] = difference_vector(*latents)
            self.from_classes.discard(name)
            self.name = name
            self.owner.events.vectors.emit()

        self.owner.run("folders", folders_request(folder_a, folder_b), on_result=done, label="Encoding folders",
                       title="Attribute vector")


class Walk:
    """Frames along one latent dimension or principal direction, through the chosen point."""

    def __init__(self, owner: LatentState) -> None:
        self.owner = owner
        self.settings = WalkSettings()
        self.directions: list[tuple[str, str]] = []  #: (name, label): principal directions, then dimensions
        self.strip: Optional[Strip] = None
        self.stale = False
        self.pending_frame: Optional[int] = None

    def set_settings(self, settings: WalkSettings) -> None:
        settings.check()
        self.settings = settings
        self.owner.events.walk.emit()
        self.compute()

    def set_directions(self, latent_dim: int, explained: Optional[np.ndarray]) -> None:
        """Principal directions first (they follow the data), then each latent dimension."""
        shares = [] if explained is None else explained[:min(8, latent_dim)]
        self.directions = [(f"PC{i + 1}", f"PC{i + 1} ({share:.0%} of variance)") for i, share in enumerate(shares)]
        self.directions += [(f"z{i + 1}", f"Latent dimension z{i + 1}") for i in range(latent_dim)]
        names = [name for name, _ in self.directions]
        if self.settings.direction not in names:
            self.settings = dataclasses.replace(self.settings, direction=names[0] if names else None)
        self.owner.events.walk.emit()

    def compute(self) -> None:
        owner = self.owner
        data, direction = owner.data_map, self.settings.direction
        if owner.base is None or data is None or direction not in [name for name, _ in self.directions]:
            return
        self.stale = False
        settings = self.settings
        latents = walk(owner.base, data.direction(direction), settings.extent, settings.steps)
        params = {"mode": "walk", "centre": owner.base.tolist(), "direction": direction, "extent": settings.extent,
                  "steps": settings.steps}

        def done(frames: np.ndarray) -> None:
            wanted = self.pending_frame if self.pending_frame is not None else settings.steps // 2
            self.pending_frame = None
            self.strip = Strip(latents, frames, params, min(wanted, len(frames) - 1))
            owner.events.walk.emit()

        owner.run("walk", decode_request(latents), on_result=done)

    def choose_frame(self, index: int) -> None:
        strip = self.strip
        if strip is None:
            return
        self.strip = dataclasses.replace(strip, selected=index)
        origin = {**strip.params, "frame": index}
        caption = (f"walk along {origin['direction']} from {self.owner.base_caption}: "
                   f"frame {index + 1} of {origin['steps']}")
        self.owner.show_frame(strip.latents[index], strip.frames[index], caption, origin)
        self.owner.events.walk.emit()


@dataclass(frozen=True)
class PriorGrid:
    latents: np.ndarray
    images: np.ndarray
    picture: np.ndarray  #: the images as one grid
    params: dict[str, Any]


class Prior:
    """A grid of samples from the model's prior, with a seed."""

    def __init__(self, owner: LatentState) -> None:
        self.owner = owner
        self.settings = PriorSettings()
        self.grid: Optional[PriorGrid] = None
        self.stale = True

    def set_settings(self, settings: PriorSettings) -> None:
        settings.check()
        self.settings = settings
        self.owner.events.prior.emit()
        self.compute()

    def compute(self) -> None:
        if self.owner.choice is None:
            return
        self.stale = False
        side, seed = self.settings.side, self.settings.seed

        def done(result: tuple[np.ndarray, np.ndarray]) -> None:
            latents, images = result
            self.grid = PriorGrid(latents, images, make_grid(images, side),
                                  {"mode": "prior", "seed": seed, "side": side})
            self.owner.events.prior.emit()

        self.owner.run("prior", prior_request(side * side, seed), on_result=done)

    def choose(self, index: int) -> None:
        """Sample ``index`` of the grid becomes the chosen point."""
        grid = self.grid
        if grid is None or not 0 <= index < len(grid.latents):
            return
        origin = {**grid.params, "index": index}
        caption = f"prior sample {index + 1} (seed {origin['seed']})"
        self.owner.set_base(grid.latents[index], caption)
        self.owner.show_frame(grid.latents[index], grid.images[index], caption, origin)
