"""The Dream Simulator's controls: Play/Pause, New dream and its seed, Reset to a real track, who drives, tau,
Record; and the readouts under the frames (step, reward, total, the pace reached, why the episode ended).

Every control draws the state and changes it through its methods; none but the seed (which is typed into)
takes the keyboard focus when clicked, so the arrows go on driving (Tab still reaches them).
"""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from studio.ui.panels.dream_simulator.session import CONTROLLER, KEYBOARD, STEPS_PER_S
from studio.ui.panels.dream_simulator.state import MAX_SEED, MAX_TEMPERATURE, DreamState
from studio.ui.settings import Setting
from studio.ui.widgets.fields import int_spin

#: the tau slider's steps per unit
TAU_STEPS = 20
NEXT_SEED = Setting("dream-simulator/next-seed-each-time", bool, False,
                    "Dream Simulator: New dream and Reset to a real track move the seed on by one each time")
SETTINGS = (NEXT_SEED,)
DRIVER_NAMES = {KEYBOARD: "You (keyboard)", CONTROLLER: "The controller"}
NO_CONTROLLER = ("This model has no controller. Train one in its dream (studio dream train-controller "
                 "--from mdn-rnn=…) and choose it in the model picker.")


def _quiet(widget: QWidget) -> QWidget:
    """Reached with Tab, never focused by a click: the drive view keeps the keys."""
    widget.setFocusPolicy(Qt.TabFocus)
    return widget


class DreamControls(QWidget):
    """One row of controls over a :class:`DreamState`."""

    def __init__(self, state: DreamState, settings, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.state = state
        self.settings = settings
        self.play_button = _quiet(QPushButton("Play"))
        self.play_button.setObjectName("DreamPlay")
        self.play_button.clicked.connect(state.toggle_play)
        self.new_button = _quiet(QPushButton("New dream"))
        self.new_button.setToolTip("Start a new dream from the seed shown (N)")
        self.new_button.clicked.connect(state.new_dream)
        self.seed = int_spin(0, MAX_SEED, state.seed, "DreamSeed")  # typed into: it takes the focus
        self.seed.setToolTip("The seed of the next dream or real track: the same seed and tau dream the same")
        self.seed.valueChanged.connect(state.set_seed)
        self.next_seed = _quiet(QCheckBox("+1 each time"))
        self.next_seed.setToolTip("After each New dream or real track, the seed moves on by one (else it stays)")
        self.next_seed.toggled.connect(self._next_seed_toggled)
        self.real_button = _quiet(QPushButton("Reset to a real track"))
        self.real_button.setToolTip("Drive the real CarRacing: see its frame, V's reconstruction and M's "
                                    "prediction side by side (T)")
        self.real_button.clicked.connect(self.reset_to_real)
        self.driver = _quiet(QComboBox())
        self.driver.setObjectName("DreamDriver")
        for driver, name in DRIVER_NAMES.items():
            self.driver.addItem(name, driver)
        self.driver.activated.connect(self._driver_chosen)
        self.tau = _quiet(QSlider(Qt.Horizontal))
        self.tau.setObjectName("DreamTau")
        self.tau.setRange(0, round(MAX_TEMPERATURE * TAU_STEPS))
        self.tau.setMinimumWidth(140)
        self.tau.setToolTip("tau: how uncertain the dream is. 0 is M's likeliest next frame; above 1 the dream "
                            "is wilder (and harder for a controller to exploit)")
        self.tau.valueChanged.connect(lambda v: state.set_temperature(v / TAU_STEPS))
        self.tau_label = QLabel()
        self.tau_label.setMinimumWidth(48)
        self.record_button = _quiet(QPushButton("● Record"))
        self.record_button.setObjectName("DreamRecord")
        self.record_button.setCheckable(True)
        self.record_button.clicked.connect(lambda _checked: state.toggle_recording())

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.play_button, self.new_button, QLabel("Seed"), self.seed, self.next_seed,
                       self.real_button, QLabel("Driver"), self.driver, QLabel("τ"), self.tau, self.tau_label):
            layout.addWidget(widget)
        layout.addStretch(1)
        layout.addWidget(self.record_button)
        state.events.settings.connect(self.show_settings)
        state.events.playing.connect(lambda _playing: self.show_playing())
        state.events.abilities.connect(lambda _abilities: self.show_abilities())
        state.events.model.connect(lambda _choice: self.show_abilities())
        state.events.recording.connect(lambda _recording: self.show_recording())
        self.next_seed.setChecked(bool(settings.get(NEXT_SEED.key)))
        self.show_settings()
        self.show_playing()
        self.show_abilities()
        self.show_recording()

    def show_settings(self) -> None:
        state = self.state
        for widget in (self.seed, self.tau, self.next_seed):
            widget.blockSignals(True)
        self.seed.setValue(state.seed)
        self.tau.setValue(round(state.temperature * TAU_STEPS))
        self.next_seed.setChecked(state.next_seed_each_time)
        for widget in (self.seed, self.tau, self.next_seed):
            widget.blockSignals(False)
        self.tau_label.setText(f"{state.temperature:.2f}")
        self.driver.setCurrentIndex(self.driver.findData(state.driver))

    def show_playing(self) -> None:
        self.play_button.setText("Pause" if self.state.playing else "Play")
        self.play_button.setToolTip(("Pause the dream" if self.state.playing else "Set the dream going") + " (P)")

    def show_abilities(self) -> None:
        """What the model can do: a controller to drive, a real track to reset to."""
        state = self.state
        abilities = state.abilities
        chosen = state.choice is not None
        for widget in (self.play_button, self.new_button, self.record_button):
            widget.setEnabled(chosen)
        drives = abilities is not None and abilities.drives
        item = self.driver.model().item(self.driver.findData(CONTROLLER))
        item.setEnabled(drives)
        item.setToolTip("" if drives else NO_CONTROLLER)
        self.driver.setToolTip("Who drives: you with the arrow keys, or the controller (C)" if drives else
                               f"You drive. {NO_CONTROLLER}" if abilities is not None else "Who drives (C)")
        real = abilities is not None and abilities.real
        self.real_button.setEnabled(real)
        if abilities is not None and not abilities.real:
            self.real_button.setToolTip(abilities.why_not_real)
        self.show_settings()

    def show_recording(self) -> None:
        recording = self.state.recording
        self.record_button.setChecked(recording is not None)
        if recording is None:
            self.record_button.setText("● Record")
            self.record_button.setToolTip("Record what is shown, to save as an animated GIF and PNGs (R)")
        else:
            self.record_button.setText(f"■ Stop · {len(recording):,} frames")
            self.record_button.setToolTip(f"Stop recording and save it (R); it stops by itself at "
                                          f"{recording.limit:,} frames ({recording.limit // STEPS_PER_S} s)")

    def reset_to_real(self) -> None:
        """Reset to a real track, or say why this model has none."""
        try:
            self.state.reset_to_real()
        except ValueError as exc:
            self.state.set_notice(str(exc))

    def _next_seed_toggled(self, on: bool) -> None:
        self.state.set_next_seed_each_time(on)
        self.settings.set(NEXT_SEED.key, on)

    def _driver_chosen(self, index: int) -> None:
        try:
            self.state.set_driver(self.driver.itemData(index))
        except ValueError as exc:
            self.driver.setCurrentIndex(self.driver.findData(self.state.driver))
            self.state.set_notice(str(exc))


class Readouts(QWidget):
    """Under the frames: step, reward, total and the pace; why the episode ended or what went wrong."""

    def __init__(self, state: DreamState, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.state = state
        self.numbers = QLabel()
        self.numbers.setObjectName("DreamReadout")
        self.numbers.setStyleSheet("font-family: monospace; font-size: 13px;")
        self.message = QLabel()
        self.message.setObjectName("DreamMessage")
        self.message.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.numbers)
        layout.addWidget(self.message)
        for event in (state.events.frame, state.events.notice, state.events.playing, state.events.model):
            event.connect(lambda *_args: self.show_state())
        self.show_state()

    def show_state(self) -> None:
        state, frame = self.state, self.state.frame
        if frame is None:
            self.numbers.setText("")
        else:
            rate, work = state.steps_per_s, state.step_work_s
            pace = (f" · {rate:4.1f} steps/s, a step's work {work * 1000:.0f} ms"
                    if rate is not None and work is not None and state.playing else "")
            where = "dream" if frame.mode == "dream" else "real track"
            self.numbers.setText(f"{where} · seed {frame.seed} · step {frame.step:5d} · reward {frame.reward:+7.2f} "
                                 f"· total {frame.total:+8.2f}{pace}")
        problem = state.notice or state.stopped
        text = problem or state.ended or ("" if state.playing or frame is None else
                                          "Paused: Play (P), or press an arrow key to drive.")
        self.message.setText(text)
        self.message.setStyleSheet("color: #b3261e;" if problem else "color: #4a4a4a;")
