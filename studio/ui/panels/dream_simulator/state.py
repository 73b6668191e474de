"""What the Dream Simulator works on (Qt-free): the dream session, who drives, tau, the seed, the keys held,
the latest frame, and the recording.

The dream runs as a session on the inference thread (:mod:`.session`); this state opens it when the
panel is shown with a model chosen, sends it what the artist changes, and keeps what it streams back.
The session ends when another model is chosen or the panel closes (the kit's work does that).

Playing: a session starts paused on its first frame; Play (or a driving key) sets it going. At an
episode's end it pauses and says why: in the dream M's done head said so, and Play dreams on past it
(a weakly trained M ends dreams early, and the dream is still there); on a real track the track ended,
and Play starts the next. New dream and Reset to a real track start one now; each uses the seed shown,
which then goes up by one when "next seed each time" is on (so the seed shown is always the next one).
"""

from __future__ import annotations

import collections
from typing import Any, Optional

import numpy as np

from studio.ui.kit.state import PanelState
from studio.ui.panels.dream_simulator.recording import MAX_FRAMES, Recording
from studio.ui.panels.dream_simulator.session import (
    CONTROLLER,
    DREAM,
    DRIVERS,
    KEYBOARD,
    PACE_S,
    REAL,
    Abilities,
    DreamFrame,
    Notice,
    Play,
    Reset,
    SetDriver,
    SetTemperature,
    Start,
    Steer,
    dream_session,
)

MAX_SEED = 2**31 - 1
MAX_TEMPERATURE = 2.0
#: the keys that drive, and what each does as CarRacing's human play has it: steer -1 / +1, gas 1, brake 0.8
KEYS = ("left", "right", "gas", "brake")
BRAKE = 0.8
#: steps the steps-per-second readout averages over
RATE_WINDOW = 30
SESSION = "dream"


def action_for(keys: frozenset[str]) -> tuple[float, float, float]:
    """The action the held ``keys`` make: left and right together cancel out."""
    steer = (1.0 if "right" in keys else 0.0) - (1.0 if "left" in keys else 0.0)
    return steer, 1.0 if "gas" in keys else 0.0, BRAKE if "brake" in keys else 0.0


class DreamState(PanelState):
    """Events: ``frame(frame)`` for each :class:`DreamFrame` shown, ``playing(bool)``, ``settings()`` (tau,
    driver, seed), ``keys(held)``, ``abilities(abilities or None)``, ``notice(message)`` (a problem to show
    beside the frames; "" clears it), ``recording(recording or None)`` when one starts or grows, and
    ``recorded(recording)`` when one ends (the artist stopped it, it reached its cap, the model changed)."""

    panel = "dream-simulator"
    title = "Dream Simulator"
    capability = "WorldModel"
    EVENTS = ("frame", "playing", "settings", "keys", "abilities", "notice", "recording", "recorded")
    #: frames a recording keeps at most
    recording_limit = MAX_FRAMES

    def __init__(self, executor: Any, registry: Any, store: Any, capability: str = "") -> None:
        super().__init__(executor, registry, store, capability)
        self.temperature = 1.0
        self.driver = KEYBOARD
        self.seed = 0
        self.next_seed_each_time = False  #: New dream and Reset to a real track move the seed on by one
        self.playing = False
        self.ended = ""  #: why the episode shown ended ("" while it goes on)
        self.stopped = ""  #: why the session stopped (it failed); Play opens a new one
        self.abilities: Optional[Abilities] = None  #: what the chosen model can do, once its session says
        self.frame: Optional[DreamFrame] = None
        self.keys: frozenset[str] = frozenset()
        self.notice = ""
        self.recording: Optional[Recording] = None
        self.last_recording: Optional[Recording] = None  #: the latest one ended, for File ▸ Export
        self.active = False  #: the panel is shown: a session may run
        self._times: collections.deque[float] = collections.deque(maxlen=RATE_WINDOW)
        self._took: collections.deque[float] = collections.deque(maxlen=RATE_WINDOW)

    # -- the session ---------------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        """What is shown: the dream alone, or a real track (the frame's own mode)."""
        return self.frame.mode if self.frame is not None else DREAM

    @property
    def open(self) -> bool:
        return self.work.session_open(SESSION)

    def activate(self, shown: bool) -> None:
        """The panel was shown (a session may run: one opens, paused) or hidden (the dream pauses)."""
        self.active = shown
        if shown:
            self._open()
        else:
            self.release_all()
            self.pause()

    def _open(self, playing: bool = False, mode: str = DREAM, seed: Optional[int] = None) -> None:
        if not self.active or self.choice is None or self.open:
            return
        self.stopped = ""
        start = Start(seed=self._take_seed() if seed is None else seed, temperature=self.temperature,
                      driver=self.driver, playing=playing, mode=mode)
        self.open_session(SESSION, dream_session(start), pace=PACE_S, on_output=self._output,
                          on_error=self._failed, on_closed=self._closed)
        self._set_playing(playing)

    def _send(self, value: Any) -> None:
        self.work.send(SESSION, value)

    def model_changed(self) -> None:
        """Another model (its session was ended by the work's reset): start afresh in its dream."""
        self.finish_recording("The model changed.")
        self.abilities, self.frame, self.ended, self.stopped = None, None, "", ""
        self._set_playing(False)
        self.set_notice("")
        self.events.abilities.emit(None)
        self._open()

    def model_retrained(self) -> None:
        """The chosen checkpoint was saved again: dream with its new weights."""
        self.work.close_session(SESSION)
        self.abilities = None
        self._set_playing(False)
        self._open()

    def _output(self, value: Any) -> None:
        if isinstance(value, Abilities):
            self.abilities = value
            if self.driver == CONTROLLER and not value.drives:
                self.driver = KEYBOARD
                self.events.settings.emit()
            self.events.abilities.emit(value)
        elif isinstance(value, Notice):
            if value.paused:
                self._set_playing(False)
            self.set_notice(value.message)
        elif isinstance(value, DreamFrame):
            self._show(value)

    def _show(self, frame: DreamFrame) -> None:
        if frame.step == 0:
            self._forget_pace()
            self.ended = ""
        else:
            self._times.append(frame.at)
            self._took.append(frame.took)
        self.frame = frame
        if frame.done:
            self.ended = (f"The dream ended at step {frame.step}: M's done head says the episode is over. Play "
                          "dreams on past it; New dream starts another." if frame.mode == DREAM else
                          f"The track ended at step {frame.step} (the lap done, the car off the field, or "
                          "CarRacing's 1,000 steps). Play starts the next track.")
            self._set_playing(False)
        self.events.frame.emit(frame)
        if self.recording is not None:
            self.recording.add(frame)
            if self.recording.full:
                self.finish_recording(f"The recording reached its cap of {self.recording.limit:,} frames "
                                      f"({self.recording.seconds:.0f} s) and stopped.")
            else:
                self.events.recording.emit(self.recording)

    def _failed(self, message: str, detail: str) -> None:
        self.stopped = f"The dream stopped: {message}"
        self.work.events.failed.emit("The dream stopped", message, detail)

    def _closed(self, _how: str) -> None:
        """The session ended by itself (it failed): paused, and Play opens a new one."""
        self._set_playing(False)
        self.release_all()

    @property
    def steps_per_s(self) -> Optional[float]:
        """The pace the dream reaches, over the last steps (None until there are some)."""
        times = self._times
        if len(times) < 2 or times[-1] <= times[0]:
            return None
        return (len(times) - 1) / (times[-1] - times[0])

    def _forget_pace(self) -> None:
        self._times.clear()
        self._took.clear()

    @property
    def step_work_s(self) -> Optional[float]:
        """How long one step's work takes (the model, the environment, the decode), the median over the last
        steps, in seconds; None until there are some. What the pace leaves spare is the rest of 1/30 s."""
        return float(np.median(np.asarray(self._took))) if self._took else None

    # -- playing ---------------------------------------------------------------------------------------
    def _set_playing(self, playing: bool) -> None:
        if playing != self.playing:
            self.playing = playing
            if not playing:
                self._forget_pace()  # a pause is no slow step
            self.events.playing.emit(playing)

    def play(self) -> None:
        """Go on: after a real track's end, on the next track; after a dream's, on past it."""
        if self.choice is None:
            return
        if not self.open:
            self._open(playing=True, mode=self.mode if self.abilities and self.abilities.real else DREAM,
                       seed=self._take_seed())
            return
        if self.ended and self.mode == REAL:
            self._reset(REAL)
        self.ended = ""
        self._send(Play(True))
        self._set_playing(True)

    def pause(self) -> None:
        if self.open:
            self._send(Play(False))
        self._set_playing(False)

    def toggle_play(self) -> None:
        self.pause() if self.playing else self.play()

    def new_dream(self) -> None:
        """A new dream from the seed shown."""
        self._start_episode(DREAM)

    def reset_to_real(self) -> None:
        """A real track chosen by the seed shown: the real frame, V's reconstruction and M's prediction."""
        if self.abilities is not None and not self.abilities.real:
            raise ValueError(self.abilities.why_not_real)
        self._start_episode(REAL)

    def _start_episode(self, mode: str) -> None:
        if self.choice is None:
            return
        self.set_notice("")
        if not self.open:
            self._open(playing=self.playing, mode=mode, seed=self._take_seed())
            return
        self._reset(mode)

    def _reset(self, mode: str) -> None:
        self.ended = ""
        self._send(Reset(mode, self._take_seed()))

    def _take_seed(self) -> int:
        """The seed shown, for an episode starting now; the next is shown after it when asked for."""
        seed = self.seed
        if self.next_seed_each_time:
            self.seed = (seed + 1) % (MAX_SEED + 1)
            self.events.settings.emit()
        return seed

    # -- settings ---------------------------------------------------------------------------------------
    def set_temperature(self, value: float) -> None:
        """tau, from 0 (M's likeliest next frame) to 2 (a wild dream); it reaches the running dream."""
        value = float(value)
        if not 0.0 <= value <= MAX_TEMPERATURE:
            raise ValueError(f"tau goes from 0 (the likeliest dream) to {MAX_TEMPERATURE:g}, not {value}.")
        if value != self.temperature:
            self.temperature = value
            self._send(SetTemperature(value))
            self.events.settings.emit()

    def set_driver(self, driver: str) -> None:
        if driver not in DRIVERS:
            raise ValueError(f"The driver is one of {', '.join(DRIVERS)}, not {driver!r}.")
        if driver == CONTROLLER and self.abilities is not None and not self.abilities.drives:
            raise ValueError("This model has no controller: train one with `studio dream train-controller` "
                             "(built on this M) and choose it here.")
        if driver != self.driver:
            self.driver = driver
            self._send(SetDriver(driver))
            if driver == CONTROLLER:
                self.release_all()
            self.events.settings.emit()

    def set_seed(self, seed: int) -> None:
        """The seed of the next New dream or Reset to a real track."""
        seed = int(seed)
        if not 0 <= seed <= MAX_SEED:
            raise ValueError(f"A seed is a whole number from 0 to {MAX_SEED}, not {seed}.")
        if seed != self.seed:
            self.seed = seed
            self.events.settings.emit()

    def set_next_seed_each_time(self, on: bool) -> None:
        self.next_seed_each_time = bool(on)
        self.events.settings.emit()

    # -- the keyboard -------------------------------------------------------------------------------------
    def press(self, key: str) -> None:
        """A driving key went down (see :meth:`hold`)."""
        self.hold(self.keys | {key})

    def release(self, key: str) -> None:
        self.hold(self.keys - {key})

    def release_all(self) -> None:
        self.hold(frozenset())

    def hold(self, keys: Any) -> None:
        """The driving keys held now (of :data:`KEYS`). A key newly down while the dream is paused and you
        drive sets it going (past a dream's end too; a real track that ended waits for Play)."""
        keys = frozenset(keys)
        unknown = sorted(keys - set(KEYS))
        if unknown:
            raise ValueError(f"A driving key is one of {', '.join(KEYS)}, not {', '.join(unknown)}.")
        if keys == self.keys:
            return
        pressed = keys - self.keys
        self.keys = keys
        self._send(Steer(action_for(keys)))
        self.events.keys.emit(keys)
        track_ended = self.ended and self.mode == REAL
        if pressed and self.driver == KEYBOARD and not self.playing and not track_ended and self.open:
            self.play()

    @property
    def action(self) -> np.ndarray:
        """The action the keys hold now."""
        return np.asarray(action_for(self.keys), np.float32)

    # -- recording ------------------------------------------------------------------------------------------
    def start_recording(self) -> None:
        """Keep every frame from now on (from the frame shown), up to the cap."""
        if self.recording is not None or self.choice is None:
            return
        params = self.result_params(seed=self.frame.seed if self.frame else self.seed, mode=self.mode,
                                    temperature=self.temperature, driver=self.driver)
        self.recording = Recording(self.mode, params, self.recording_limit)
        if self.frame is not None:
            self.recording.add(self.frame)
        self.events.recording.emit(self.recording)

    def finish_recording(self, why: str = "") -> Optional[Recording]:
        """Stop recording; the recording (None if there was none), kept for File ▸ Export and told to
        ``recorded`` (with ``why`` it stopped, when it was not the artist)."""
        recording, self.recording = self.recording, None
        if recording is None:
            return None
        recording.stopped = why
        self.last_recording = recording
        self.events.recording.emit(None)
        self.events.recorded.emit(recording)
        return recording

    def toggle_recording(self) -> None:
        self.finish_recording() if self.recording is not None else self.start_recording()

    # -- messages -----------------------------------------------------------------------------------------
    def set_notice(self, message: str) -> None:
        """A word to show beside the frames (a problem the dream went on through); "" clears it."""
        if message != self.notice:
            self.notice = message
            self.events.notice.emit(message)
