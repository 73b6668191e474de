"""The Latent Explorer's undoable edits: each changes the :class:`~.state.LatentState` only.

The chosen point (a click, a drag, a frame or sample chosen, the attribute
strength added to it), the morph's ends A and B, and the tools' settings. A drag
across the map, or a slider or spin box moved, is one step. What an edit sets is
checked when it is made (a :class:`ValueError`), before it is pushed.
"""

from __future__ import annotations

from typing import Optional

from studio.ui.kit.undo import Edit
from studio.ui.panels.latent_explorer.state import LatentState, Point
from studio.ui.panels.latent_explorer.tool_states import MorphSettings, PriorSettings, WalkSettings
from studio.ui.panels.latent_explorer.work import Endpoint


def point(state: LatentState, text: str, before: Point, merge: Optional[str] = None) -> Edit:
    """The chosen point has just changed (``before`` is what it was): undo puts it back."""
    return Edit(text, state.set_point, before, state.point(), merge=merge, done=True)


def end(state: LatentState, role: str, endpoint: Endpoint) -> Edit:
    return Edit(f"Set {role.upper()} of the morph", state.morph.set_ends, dict(state.morph.ends),
                {**state.morph.ends, role: endpoint})


def swap_ends(state: LatentState) -> Edit:
    return Edit("Swap A and B", state.morph.set_ends, dict(state.morph.ends), state.morph.swapped())


def strength(state: LatentState, name: Optional[str], value: float) -> Edit:
    state.attributes.check(name, value)

    def apply(setting: tuple[Optional[str], float]) -> None:
        state.attributes.set(*setting)

    return Edit("Change the attribute", apply, (state.attributes.name, state.attributes.strength), (name, value),
                merge=f"attribute-{name}")


def morph_settings(state: LatentState, settings: MorphSettings) -> Edit:
    settings.check()
    return Edit("Change the morph", state.morph.set_settings, state.morph.settings, settings, merge="morph")


def walk_settings(state: LatentState, settings: WalkSettings) -> Edit:
    settings.check()
    return Edit("Change the walk", state.walk.set_settings, state.walk.settings, settings, merge="walk")


def prior_settings(state: LatentState, settings: PriorSettings) -> Edit:
    settings.check()
    return Edit("Change the prior grid", state.prior.set_settings, state.prior.settings, settings, merge="prior")
