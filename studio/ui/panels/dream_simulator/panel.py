"""The Dream Simulator: drive inside a world model's dream, or on a real track beside it.

Rows, top to bottom: the model (picker and task bar), the controls (:class:`~.controls.DreamControls`),
then the drive view (:class:`~.views.DriveView`: the real frame, V's reconstruction and the dream) with
its readouts, and at the right the pipeline's stages (``stages_column``).

The dream is a session on the inference thread (:mod:`.session`), opened while the panel is shown and
paused while it is hidden. A recording, when it stops (or reaches its cap), asks where to save it: an
animated GIF through the exporter registry, then, if wanted, its frames as numbered PNGs; they are written
in the background (:mod:`.saving`).
"""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QMessageBox, QScrollArea, QVBoxLayout, QWidget

from studio.ui.kit.model_panel import ModelPanel
from studio.ui.kit.panel import PanelContext
from studio.ui.panels.dream_simulator.controls import SETTINGS, TAU_STEPS, DreamControls, Readouts
from studio.ui.panels.dream_simulator.recording import Recording
from studio.ui.panels.dream_simulator.saving import RecordingSaver, Saved
from studio.ui.panels.dream_simulator.session import CONTROLLER, KEYBOARD
from studio.ui.panels.dream_simulator.stages import StagesView
from studio.ui.panels.dream_simulator.state import MAX_TEMPERATURE, DreamState
from studio.ui.panels.dream_simulator.views import DriveView

#: how much [ and ] change tau
TAU_KEY_STEP = 0.1
#: the drive view's keys, listed in Help ▸ Keyboard Shortcuts (the view handles them itself)
DRIVING_HELP = (("Left", "Steer left (hold)"), ("Right", "Steer right (hold)"), ("Up", "Gas (hold)"),
                ("Down", "Brake (hold)"), ("Space", "Brake (hold)"))


class DreamSimulatorPanel(ModelPanel):
    what_it_does = ("Collect rollouts of a real environment, train a world model, drive inside its dream, "
                    "and evolve a controller there that you then score in the real environment.")
    families = "World models (VAE + MDN-RNN + controller)"
    train_hint = ("stage by stage: <code>studio dream collect --episodes 200 --out rollouts</code>, then "
                  "<code>studio dream train-vae --data rollouts --out vae</code>, <code>studio dream train-rnn "
                  "--data rollouts --from world-vae=vae --out rnn</code> and <code>studio dream train-controller "
                  "--data rollouts --from mdn-rnn=rnn --out controller</code>")
    declared_settings = SETTINGS
    state_class = DreamState
    state: DreamState

    def __init__(self, context: PanelContext, spec, parent: Optional[QWidget] = None) -> None:
        super().__init__(context, spec, parent)
        self.saver = RecordingSaver(self, context, self._saved)
        self.state.events.recorded.connect(self._recorded)

    def make_state(self) -> DreamState:
        context = self.context
        return DreamState(context.inference, context.registry, context.workspace.store)

    def build_content(self) -> QWidget:
        state = self.state
        self.drive_view = DriveView(state)
        self.controls = DreamControls(state, self.context.settings)
        self.readouts = Readouts(state)
        state.events.playing.connect(lambda playing: playing and self.drive_view.setFocus(Qt.OtherFocusReason))

        model_row = QHBoxLayout()
        model_row.addWidget(QLabel("Model"))
        model_row.addWidget(self.picker, 2)
        model_row.addStretch(1)
        model_row.addWidget(self.task_bar)
        drive_column = QVBoxLayout()
        drive_column.addWidget(self.drive_view, 1)
        drive_column.addWidget(self.readouts)
        #: the pipeline's stages, at the right (scrolled when the panel is short: they never set its height)
        self.stages_column = QVBoxLayout()
        self.stages = StagesView(self.context, self)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.NoFrame)
        scroll.setWidget(self.stages)
        self.stages_column.addWidget(scroll)
        body = QHBoxLayout()
        body.addLayout(drive_column, 3)
        body.addLayout(self.stages_column, 1)
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addLayout(model_row)
        layout.addWidget(self.controls)
        layout.addLayout(body, 1)
        self._shortcuts(content)
        return content

    def _shortcuts(self, content: QWidget) -> None:
        state = self.state
        self.add_shortcut("P", state.toggle_play, "Play or pause the dream", content)
        self.add_shortcut("N", state.new_dream, "A new dream (from the seed shown)", content)
        self.add_shortcut("T", self.controls.reset_to_real, "Reset to a real track", content)
        self.add_shortcut("R", state.toggle_recording, "Start or stop recording", content)
        self.add_shortcut("C", self._switch_driver, "Switch the driver: you or the controller", content)
        self.add_shortcut("[", lambda: self._nudge_tau(-TAU_KEY_STEP), "Lower tau (a calmer dream)", content)
        self.add_shortcut("]", lambda: self._nudge_tau(TAU_KEY_STEP), "Raise tau (a wilder dream)", content)
        for keys, description in DRIVING_HELP:
            # listed only: the drive view reads these keys itself (it needs their releases too)
            self.add_shortcut(keys, lambda: None, description, self.drive_view).setEnabled(False)

    def _switch_driver(self) -> None:
        try:
            self.state.set_driver(KEYBOARD if self.state.driver == CONTROLLER else CONTROLLER)
        except ValueError as exc:
            self.state.set_notice(str(exc))

    def _nudge_tau(self, change: float) -> None:
        value = round((self.state.temperature + change) * TAU_STEPS) / TAU_STEPS
        self.state.set_temperature(min(MAX_TEMPERATURE, max(0.0, value)))

    # -- shown or not ----------------------------------------------------------------------------------
    def showEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().showEvent(event)
        self.state.activate(True)
        QTimer.singleShot(0, lambda: self.has_content() and self.drive_view.setFocus(Qt.OtherFocusReason))

    def hideEvent(self, event) -> None:  # noqa: N802
        super().hideEvent(event)
        self.state.activate(False)

    # -- recordings -------------------------------------------------------------------------------------
    def export(self) -> Optional[str]:
        """File ▸ Export: the recording (stopping the one running), saved as a recording is."""
        if self.state.recording is not None:
            self.state.finish_recording()  # its save dialog follows from the state's event
            return None
        if self.state.last_recording is None:
            return ("The Dream Simulator has nothing to export yet: press Record (R) while the dream runs, "
                    "then stop it.")
        self.save_recording(self.state.last_recording)
        return None

    def _recorded(self, recording: Recording) -> None:
        self.state.pause()  # the artist's eyes are on the dialog now
        if not len(recording):
            self.context.show_status("Nothing was recorded.")
            return
        QTimer.singleShot(0, lambda: self.save_recording(recording))

    def save_recording(self, recording: Recording) -> None:
        """Ask where to save ``recording``, then write it in the background (see :mod:`.saving`)."""
        why = f"{recording.stopped} " if recording.stopped else ""  # its cap, another model
        if self.saver.save(recording):
            self.context.show_status(f"{why}Saving the recording ({len(recording):,} frames)…")
        else:
            self.context.show_status(f"{why}The recording ({len(recording):,} frames) is kept: File ▸ Export "
                                     "saves it.")

    def _saved(self, saved: Saved) -> None:
        if saved.problem:
            QMessageBox.warning(self, "Save the recording", saved.problem)
            return
        frames = f", and {len(saved.frames):,} frames in {saved.frames[0].parent}" if saved.frames else ""
        self.context.show_status(f"Saved {saved.path}{frames}")

    def shutdown(self) -> None:
        self.state.events.recorded.disconnect(self._recorded)  # the window is closing: no dialog now
        self.stages.detach()  # the jobs' events stop reaching the stage list (the workspace closes next)
        super().shutdown()
