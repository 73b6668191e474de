"""The dream as a session on the inference thread (Qt-free): what the Dream Simulator asks of a WorldModel.

:func:`dream_session` makes the session's generator ``fn(model, ctx)``. At the start of every step it
reads the inputs the panel sent (:class:`Steer`, :class:`SetTemperature`, :class:`SetDriver`,
:class:`Play`, :class:`Reset`), then, while playing, takes one step and yields a :class:`DreamFrame`:
the dream frame decoded from M's prediction and, on a real track, the real frame and V's
reconstruction of it. Its first output is :class:`Abilities` (what the model can do beyond dreaming).

One real step is: ``predicted = dream.step(action).frame`` (M's prediction of the next frame), then
``frame, reward, done = env.step(action)``, then ``reconstruction = dream.observe(frame)`` (M's latent
follows the real frame, its memory stays). In the dream there is no real frame.

Decoding happens here, so the GUI only turns arrays into images. The session is paced at
:data:`STEPS_PER_S`; paused or at an episode's end it waits for an input and uses no time. Told to play
after its end, a dream dreams on past it (M's done head is a prediction like any other); a real track
has to be reset. A
problem with the real environment (no Gymnasium, a crash in Box2D) comes back as a :class:`Notice`
and the dream goes on; an error of the model itself ends the session.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, replace
from typing import Any, Optional, Union

import numpy as np

from studio.core.capabilities import dream_observes, world_model_info
from studio.core.errors import UserError

#: how many steps a second the session takes while playing (decode and one RNN step each)
STEPS_PER_S = 30
PACE_S = 1.0 / STEPS_PER_S
DREAM, REAL = "dream", "real"
MODES = (DREAM, REAL)
KEYBOARD, CONTROLLER = "keyboard", "controller"
DRIVERS = (KEYBOARD, CONTROLLER)
NO_ACTION = (0.0, 0.0, 0.0)


# -- inputs -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Start:
    """How a session begins."""

    seed: int = 0
    temperature: float = 1.0
    driver: str = KEYBOARD
    playing: bool = False
    mode: str = DREAM


@dataclass(frozen=True)
class Steer:
    """The action the keyboard holds (steering, gas, brake)."""

    action: tuple[float, ...]


@dataclass(frozen=True)
class SetTemperature:
    value: float


@dataclass(frozen=True)
class SetDriver:
    driver: str


@dataclass(frozen=True)
class Play:
    playing: bool


@dataclass(frozen=True)
class Reset:
    """Start a new episode: a new dream, or a real track (both chosen by ``seed``)."""

    mode: str
    seed: int


Input = Union[Steer, SetTemperature, SetDriver, Play, Reset]


# -- outputs ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Abilities:
    """What the model offers beyond dreaming; the session's first output."""

    drives: bool  #: a controller can drive
    real: bool  #: the studio can run the real environment and the dream can follow it
    why_not_real: str = ""  #: when it cannot, why


@dataclass(frozen=True)
class DreamFrame:
    """One step (or the start of an episode: step 0)."""

    mode: str
    seed: int
    step: int
    dream: np.ndarray  #: (H, W, 3) float32 in [0, 1]: M's prediction decoded by V (V's reading at step 0)
    real: Optional[np.ndarray]  #: (H, W, 3) uint8: the real frame, on a real track
    reconstruction: Optional[np.ndarray]  #: (H, W, 3) float32: V's reconstruction of the real frame
    action: np.ndarray  #: (3,) float32: the action taken to get here
    reward: float  #: this step's reward: the real one on a real track, else M's prediction
    total: float  #: the episode's rewards so far
    done: bool  #: the episode ended here (M's done head in the dream; the track in the real world)
    driver: str
    temperature: float
    at: float  #: time.monotonic() when the step was taken
    took: float = 0.0  #: seconds the step's work took (the model, the environment, the decode)


@dataclass(frozen=True)
class Notice:
    """Something the artist should know that did not stop the dream (the real track cannot run)."""

    message: str
    detail: str = ""
    paused: bool = False  #: the session paused itself (the real track failed under the car)


Output = Union[Abilities, DreamFrame, Notice, None]


def real_ability(model: Any, dream: Any) -> tuple[bool, str]:
    """Whether a real track can run for ``model`` (and its ``dream`` follow it), and why not."""
    if not world_model_info(model).has_environment:
        return False, "This model has no real environment the studio can run."
    if not dream_observes(dream):
        return False, "This model's dreams cannot follow a real frame."
    return True, ""


class DreamRun:
    """The state of one session: the dream, the real environment once asked for, the episode so far."""

    def __init__(self, model: Any, start: Start) -> None:
        self.model = model
        self.dream = model.dream()
        info = world_model_info(model)
        real, why = real_ability(model, self.dream)
        self.abilities = Abilities(info.drives, real, why)
        self.env: Optional[Any] = None
        self.temperature = float(start.temperature)
        self.driver = start.driver if start.driver in DRIVERS else KEYBOARD
        self.playing = start.playing
        self.keys = np.zeros(3, np.float32)
        self.mode, self.seed = DREAM, start.seed
        self.step = 0
        self.total = 0.0
        self.ended = False

    # -- inputs -----------------------------------------------------------------------------------
    def take(self, inputs: list[Input]) -> list[Output]:
        """Apply the inputs in order; what they produce to show at once (a reset's first frame, a notice)."""
        shown: list[Output] = []
        for value in inputs:
            if isinstance(value, Steer):
                self.keys = np.asarray(value.action, np.float32)
            elif isinstance(value, SetTemperature):
                self.temperature = max(0.0, float(value.value))
            elif isinstance(value, SetDriver):
                if value.driver == CONTROLLER and not self.abilities.drives:
                    shown.append(Notice("This model has no controller to drive; you drive."))
                elif value.driver in DRIVERS:
                    self.driver = value.driver
            elif isinstance(value, Play):
                self.playing = value.playing
                if value.playing and self.mode == DREAM:
                    self.ended = False  # a dream goes on past its end when asked (a real track cannot)
            elif isinstance(value, Reset):
                shown.append(self.reset(value.mode, value.seed))
        return shown

    # -- episodes ---------------------------------------------------------------------------------
    def reset(self, mode: str, seed: int) -> Output:
        """A new episode; its first frame, or a :class:`Notice` when a real track cannot start (then the
        dream goes on as it was)."""
        if mode == REAL:
            first = self._real(lambda env: env.reset(seed=seed))
            if isinstance(first, Notice):
                return first
            reconstruction = np.asarray(self.dream.reset(seed=seed, frame=first), np.float32)
            frame = self._frame(REAL, seed, dream=reconstruction, real=first, reconstruction=reconstruction)
        else:
            first = np.asarray(self.dream.reset(seed=seed), np.float32)
            frame = self._frame(DREAM, seed, dream=first)
        return frame

    def _frame(self, mode: str, seed: int, **images: Any) -> DreamFrame:
        self.mode, self.seed, self.step, self.total, self.ended = mode, seed, 0, 0.0, False
        return self._record(np.zeros(3, np.float32), 0.0, False, **images)

    def advance(self) -> list[Output]:
        """One step with the driver's action: its frame (after a notice, when the real track failed: then
        the dream goes on, paused, from where M is)."""
        action = self.action()
        dreamt = self.dream.step(action, temperature=self.temperature)
        predicted = np.asarray(dreamt.frame, np.float32)
        if self.mode == DREAM:
            return [self._stepped(action, float(dreamt.reward), bool(dreamt.done), dream=predicted)]
        result = self._real(lambda env: env.step(action))
        if isinstance(result, Notice):
            self.mode, self.playing = DREAM, False
            notice = Notice(result.message, result.detail, paused=True)
            return [notice, self._stepped(action, float(dreamt.reward), bool(dreamt.done), dream=predicted)]
        frame, reward, done = result
        reconstruction = np.asarray(self.dream.observe(frame), np.float32)
        return [self._stepped(action, float(reward), bool(done), dream=predicted, real=np.asarray(frame, np.uint8),
                              reconstruction=reconstruction)]

    def _stepped(self, action: np.ndarray, reward: float, done: bool, **images: Any) -> DreamFrame:
        self.step += 1
        self.total += reward
        if done:
            self.ended, self.playing = True, False
        return self._record(action, reward, done, **images)

    def _record(self, action: np.ndarray, reward: float, done: bool, *, dream: np.ndarray,
                real: Optional[np.ndarray] = None, reconstruction: Optional[np.ndarray] = None) -> DreamFrame:
        return DreamFrame(self.mode, self.seed, self.step, dream, real, reconstruction, action, reward, self.total,
                          done, self.driver, self.temperature, time.monotonic())

    def action(self) -> np.ndarray:
        """What the driver does now: the keys held, or the controller's choice."""
        if self.driver == CONTROLLER and self.abilities.drives:
            return np.asarray(self.model.drive(self.dream), np.float32)
        return self.keys.copy()

    # -- the real environment -------------------------------------------------------------------------
    def _real(self, call: Callable[[Any], Any]) -> Any:
        """``call(env)`` on the real environment (made the first time), or a :class:`Notice` saying why it
        could not run; the environment is closed after a failure."""
        if not self.abilities.real:
            return Notice(f"No real track for this model: {self.abilities.why_not_real}")
        try:
            if self.env is None:
                self.env = self.model.environment()
            return call(self.env)
        except UserError as exc:
            self.close()
            return Notice(str(exc))
        except Exception as exc:  # the environment's own failure: the dream itself is fine
            detail = traceback.format_exc()
            self.close()
            return Notice(f"The real environment failed ({type(exc).__name__}: {exc}); you are back in the dream.",
                          detail)

    def close(self) -> None:
        env, self.env = self.env, None
        if env is not None:
            with suppress(Exception):  # closing a broken environment: nothing more to save
                env.close()


def dream_session(start: Start) -> Callable[[Any, Any], Iterator[Output]]:
    """The session's generator function: ``fn(model, ctx)`` for :meth:`Work.open_session`."""

    def run(model: Any, ctx: Any) -> Iterator[Output]:
        dreaming = DreamRun(model, start)
        try:
            yield dreaming.abilities
            first = dreaming.reset(start.mode, start.seed)
            if isinstance(first, Notice):  # a real track asked for that cannot run: the dream instead
                yield first
                first = dreaming.reset(DREAM, start.seed)
            yield first
            while True:
                began = time.perf_counter()
                shown = dreaming.take(ctx.inputs())
                if not shown and dreaming.playing and not dreaming.ended:
                    shown = dreaming.advance()
                took = time.perf_counter() - began
                shown = [replace(v, took=took) if isinstance(v, DreamFrame) else v for v in shown]
                shown = shown or [None]  # nothing new (an input that changes nothing shown)
                for index, value in enumerate(shown):
                    # after the last output, paused or at an episode's end: no steps until the panel says more
                    last = index == len(shown) - 1
                    ctx.wait_for_input(last and (not dreaming.playing or dreaming.ended))
                    yield value
        finally:
            dreaming.close()

    return run
