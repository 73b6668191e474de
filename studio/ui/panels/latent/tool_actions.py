"""The Morph, Attributes, Walk and Prior grid tools' work: a mix-in of the Latent Explorer panel.

Each tool computes its frames on the inference thread through the panel's
``submit`` (newest request of a kind wins), keeps what it made in ``made`` for
export, and shows a frame in the big view when the artist scrubs or clicks.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QMessageBox

from studio.core.imaging import make_grid
from studio.core.latent import difference_vector, interpolate, walk
from studio.ui.panels.latent.work import Endpoint, decode_request, folders_request, prior_request


class ToolActions:
    """Needs the panel's widgets (``tools``, ``morph``, ``attributes``, ``walk``, ``prior``, ``map``) and state."""

    def _tool_shown(self) -> None:
        """Draw the active tool's path on the map, and compute it if it is out of date."""
        tool = self.tools.currentWidget()
        if tool is self.walk and self._stale["walk"]:
            self._walk()
        if tool is self.prior and self._stale["prior"]:
            self._prior()
        path = {id(self.morph): self.morph_latents, id(self.walk): self.walk_latents}.get(id(tool))
        self.map.set_path(self._to_map(path))
        self.map.set_samples(self._to_map(self.prior_latents) if tool is self.prior else None)
        for role, end in self.ends.items():
            self.map.set_end(role, None if end is None else self._to_map(end.latent))
        self._mark_current()

    # -- morph ------------------------------------------------------------------------------------------
    def set_end(self, role: str, end: Endpoint) -> None:
        self.ends[role] = end
        self.morph.show_end(role, end.image, end.caption)
        self.tools.setCurrentWidget(self.morph)
        self._morph()

    def _end_from_current(self, role: str) -> None:
        if self.current is not None:
            self.set_end(role, Endpoint(self.current, self.view.array, self.caption.text() or "current point"))

    def _swap_ends(self) -> None:
        a, b = self.ends["a"], self.ends["b"]
        if a is not None and b is not None:
            self.set_end("a", b)
            self.set_end("b", a)

    def _morph(self) -> None:
        a, b = self.ends["a"], self.ends["b"]
        if a is None or b is None or self.choice is None:
            return
        steps, mode = self.morph.settings()
        latents = interpolate(a.latent, b.latent, steps, mode)
        params = {"mode": "morph", "a": a.latent.tolist(), "b": b.latent.tolist(), "steps": steps,
                  "interpolation": mode}

        def done(images):
            self.morph_latents = latents
            self.made["morph"] = {"params": params, "picture": images}
            self.morph.strip.set_frames(images, self._pending.pop("morph", 0))
            for role, image in (("a", images[0]), ("b", images[-1])):
                if self.ends[role].image is None:
                    self.morph.show_end(role, image, self.ends[role].caption)
            self._tool_shown()

        self.submit("morph", decode_request(latents), done)

    def _morph_frame(self, index: int) -> None:
        if "morph" not in self.made:  # the model was reloaded; new frames are on their way
            return
        a, b = self.ends["a"], self.ends["b"]
        origin = {**self.made["morph"]["params"], "frame": index}
        caption = f"morph frame {index + 1} of {origin['steps']}: {a.caption} → {b.caption}"
        latent = self.morph_latents[index]
        self._set_base(latent, caption)
        self._show_frame(latent, self.morph.strip.frames[index], caption, origin)

    # -- attributes ----------------------------------------------------------------------------------------
    def _apply_attribute(self) -> None:
        name, strength = self.attributes.name(), self.attributes.strength()
        if self.base is None or name not in self.vectors:
            return
        vector = self.vectors[name]
        latent = self.base + strength * vector
        # the vector travels with the export: a folder vector exists nowhere else
        origin = {"mode": "attribute", "base": self.base.tolist(), "attribute": name, "strength": strength,
                  "vector": vector.tolist()}
        self.show_latent(latent, f"{self.base_caption} {strength:+.2f} × “{name}”", origin)

    def _folder_vector(self, folder_a: str, folder_b: str) -> None:
        if not folder_a or not folder_b or self.choice is None:
            QMessageBox.warning(self, "Attribute vector", "Choose two folders of images first: A without the "
                                "attribute, B with it (say, neutral faces and smiling faces).")
            return
        name = f"{Path(folder_b).name} − {Path(folder_a).name}"
        fn = folders_request(folder_a, folder_b)

        def done(latents):
            self.vectors[name] = difference_vector(*latents)
            self._class_vectors.discard(name)
            self.attributes.add_vector(name)

        def failed(message, _detail=""):
            QMessageBox.warning(self, "Attribute vector", message)

        self.long.start("folders", "Encoding folders", lambda **callbacks: self.submit("folders", fn, **callbacks),
                        on_result=done, on_error=failed, on_cancelled=lambda: None)

    # -- walk --------------------------------------------------------------------------------------------------
    def _walk(self) -> None:
        data = self.data_map
        if self.base is None or data is None or not self.walk.direction.count():
            return
        self._stale["walk"] = False
        settings = self.walk.settings()
        latents = walk(self.base, data.direction(settings["direction"]), settings["extent"], settings["steps"])
        params = {"mode": "walk", "centre": self.base.tolist(), **settings}

        def done(images):
            self.walk_latents = latents
            self.made["walk"] = {"params": params, "picture": images}
            self.walk.strip.set_frames(images, self._pending.pop("walk", settings["steps"] // 2))
            self._tool_shown()

        self.submit("walk", decode_request(latents), done)

    def _walk_frame(self, index: int) -> None:
        if "walk" not in self.made:
            return
        origin = {**self.made["walk"]["params"], "frame": index}
        caption = (f"walk along {origin['direction']} from {self.base_caption}: "
                   f"frame {index + 1} of {origin['steps']}")
        self._show_frame(self.walk_latents[index], self.walk.strip.frames[index], caption, origin)

    # -- prior --------------------------------------------------------------------------------------------------
    def _prior(self) -> None:
        if self.choice is None:
            return
        self._stale["prior"] = False
        side, seed = self.prior.side.value(), self.prior.seed.value()

        def done(result):
            self.prior_latents, self.prior_images = result
            grid = make_grid(result[1], side)
            self.made["prior"] = {"params": {"mode": "prior", "seed": seed, "side": side}, "picture": grid}
            self.prior.show_grid(grid, side)
            self._tool_shown()

        self.submit("prior", prior_request(side * side, seed), done)

    def _prior_cell(self, index: int) -> None:
        if self.prior_latents is None or index >= len(self.prior_latents):
            return
        origin = {**self.made["prior"]["params"], "index": index}
        caption = f"prior sample {index + 1} (seed {origin['seed']})"
        self._set_base(self.prior_latents[index], caption)
        self._show_frame(self.prior_latents[index], self.prior_images[index], caption, origin)
