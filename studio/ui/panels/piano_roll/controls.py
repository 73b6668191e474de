"""The piano roll's two bars of controls, thin over the Qt-free logic: the Continue bar (bars,
temperature, seed, Continue, Variations, Stop) over :class:`~.generation.RollGeneration`, and the
transport bar (Play/Stop, Loop, tempo, position, sound, Live MIDI, Record primer, and a handle to drag
the selection out as a .mid file) over :class:`~.transport.Transport`.

The seed follows the composer's convention: with *New seed each time* (remembered), each Continue
moves the seed on once it has used it, and the seed shown is always the one the next Continue uses.
"""

from __future__ import annotations

import random
import tempfile
import weakref
from pathlib import Path
from typing import Any, Callable, Optional

from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDrag
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QWidget,
)

from studio.core.errors import UserError
from studio.ui.panels.piano_roll.files import write_drag_file
from studio.ui.panels.piano_roll.generation import RollGeneration
from studio.ui.panels.piano_roll.transport import (
    SOUND_AUTOMATIC,
    SOUND_BUILTIN,
    Transport,
    check_sound,
    position_label,
)
from studio.ui.panels.piano_roll.writing import MAX_BARS, MAX_SEED, MAX_VARIATIONS, ContinueSettings
from studio.ui.settings import Setting
from studio.ui.widgets.fields import button, int_spin

NEW_SEED = Setting("piano-roll/new-seed-each-time", bool, True, "Piano Roll: a new seed after each Continue")
SOUND = Setting("piano-roll/sound", str, SOUND_AUTOMATIC, "Piano Roll: what plays the notes: empty for FluidSynth "
                "with a General MIDI SoundFont when there is one (else the built-in synthesizer), 'builtin' for the "
                "built-in synthesizer, or the path of a SoundFont (.sf2)")
#: the settings the piano roll's controls keep: the panel's ``declared_settings``
SETTINGS = (NEW_SEED, SOUND)
#: the MIME type of the MIDI bytes a drag carries beside the file's URL
MIDI_MIME = "audio/midi"


def make_transport(state: Any, settings: Any, wrap: Callable[[Callable], Callable]) -> Transport:
    """The panel's transport: the sound of the settings (the automatic one if its SoundFont has gone),
    on the audio device there is, its callbacks brought to the GUI thread by ``wrap``."""
    from studio.core.music.playback import audio_status

    sound = settings.get(SOUND.key)
    try:
        check_sound(sound)
    except UserError:
        sound = SOUND_AUTOMATIC
    return Transport(state, audio=audio_status(), sound=sound, wrap=wrap)


class ContinueBar(QWidget):
    """Bars, temperature and seed over ``generation.settings``; Continue, Variations (how many) and Stop."""

    def __init__(self, generation: RollGeneration, settings: Any, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.generation = generation
        self.bars = int_spin(1, MAX_BARS, 4, "Bars")
        self.bars.setSuffix(" bars")
        self.bars.setToolTip("How many bars to write after the primer")
        self.temperature = QDoubleSpinBox()
        self.temperature.setObjectName("Temperature")
        self.temperature.setRange(0.0, 5.0)
        self.temperature.setSingleStep(0.05)
        self.temperature.setToolTip("How adventurous each next note is. 0 is greedy: always the most likely note, "
                                    "the same every time; above 1 gets wild.")
        self.seed = int_spin(0, MAX_SEED, 0, "Seed")
        self.seed.setToolTip("The same seed, primer and settings always write the same notes")
        self.new_seed = button("New seed", "A random seed", self.random_seed)
        self.new_seed_each_time = QCheckBox("New seed each time")
        self.new_seed_each_time.setToolTip("After each Continue, pick a new seed, so continuing again writes "
                                           "something different; the exported MIDI records the seed each track "
                                           "was written with")
        generation.new_seed_each_time = settings.get(NEW_SEED.key)
        self.new_seed_each_time.setChecked(generation.new_seed_each_time)
        self.new_seed_each_time.toggled.connect(lambda on: (setattr(generation, "new_seed_each_time", on),
                                                            settings.set(NEW_SEED.key, on)))
        self.continue_button = button("Continue", "", generation.continue_)
        self.continue_button.setObjectName("ContinueButton")
        self.count = int_spin(2, MAX_VARIATIONS, 3, "VariationCount")
        self.count.setPrefix("× ")
        self.count.setToolTip("How many variations to write at once")
        self.variations_button = button("Variations", "", generation.write_variations)
        self.stop_button = button("Stop", "Stop writing; what was written stays (Esc)", generation.cancel)
        self.stop_button.setEnabled(False)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for caption, widget in (("Length", self.bars), ("Temperature", self.temperature), ("Seed", self.seed)):
            layout.addWidget(QLabel(caption))
            layout.addWidget(widget)
        for widget in (self.new_seed, self.new_seed_each_time, self.continue_button, self.count,
                       self.variations_button, self.stop_button):
            layout.addWidget(widget)
        layout.addStretch(1)
        for spin in (self.bars, self.temperature, self.seed, self.count):
            spin.valueChanged.connect(lambda _value: self._changed())
        events = generation.events
        events.settings.connect(self.show_settings)
        events.started.connect(lambda _run: self.stop_button.setEnabled(True))
        events.finished.connect(lambda _run, _done: self.stop_button.setEnabled(generation.writing))
        generation.state.events.model.connect(lambda _choice: self.show_model())
        self.show_settings()
        self.show_model()

    def show_model(self) -> None:
        """Continue and Variations need a model: without one they say where to get it."""
        chosen = self.generation.state.choice is not None
        for widget, tip in ((self.continue_button, "Continue the notes before the playhead (or the selection) into "
                             "a new track (Ctrl+Enter)"),
                            (self.variations_button, "Write several continuations, each with its own seed, to "
                             "audition and pick from")):
            widget.setEnabled(chosen)
            widget.setToolTip(tip if chosen else "Choose a music model above first (or train one on the Bach "
                              "chorales or your MIDI files)")

    def _changed(self) -> None:
        self.generation.set_settings(ContinueSettings(  # the spin boxes' ranges keep it valid
            bars=self.bars.value(), temperature=round(self.temperature.value(), 4), seed=self.seed.value(),
            count=self.count.value()))

    def show_settings(self) -> None:
        """Show the settings without reporting them back."""
        settings = self.generation.settings
        for spin, value in ((self.bars, settings.bars), (self.temperature, settings.temperature),
                            (self.seed, settings.seed), (self.count, settings.count)):
            spin.blockSignals(True)
            spin.setValue(value)
            spin.blockSignals(False)

    def random_seed(self) -> None:
        self.seed.setValue(random.randrange(MAX_SEED))


class TransportBar(QWidget):
    """Play/Stop, Loop, tempo (undoable, through the state), the position, the sound, Live MIDI, Record
    primer and the MIDI drag handle. ``show_status(text)`` takes the transport's messages."""

    def __init__(self, transport: Transport, generation: RollGeneration, settings: Any,
                 show_status: Callable[[str], None], parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.transport, self.state, self.settings = transport, transport.state, settings
        state = self.state
        self.play_button = button("Play", "Play from the playhead, round the loop when it is on (Space)",
                                  transport.toggle)
        self.play_button.setObjectName("PlayButton")
        if not transport.available:
            self.play_button.setToolTip(transport.reason)
        self.loop_button = QPushButton("Loop")
        self.loop_button.setCheckable(True)
        self.loop_button.setToolTip("Play round the loop region (drag in the ruler to set it)")
        self.loop_button.toggled.connect(state.set_loop_enabled)
        self.tempo = QDoubleSpinBox()
        self.tempo.setObjectName("Tempo")
        self.tempo.setRange(10.0, 400.0)
        self.tempo.setDecimals(1)
        self.tempo.setSuffix(" bpm")
        self.tempo.setToolTip("The tempo (an edit: Undo takes it back)")
        self.tempo.valueChanged.connect(lambda bpm: state.set_bpm(round(bpm, 1)))
        self.position = QLabel()
        self.position.setObjectName("Position")
        self.position.setMinimumWidth(48)
        self.position.setToolTip("The playhead: bar and beat")
        self.sound = QComboBox()
        self.sound.setObjectName("Sound")
        self.sound.setToolTip("What plays the notes")
        self.sound.activated.connect(self._sound_chosen)
        self.live = QCheckBox("Live MIDI")
        self.live.setToolTip("Play to the virtual MIDI output \"Generative Studio\" too, for a DAW or a synth")
        self.live.toggled.connect(self._live_toggled)
        self.record = QPushButton("Record primer")
        self.record.setCheckable(True)
        self.record.setToolTip("Record what you play on a MIDI keyboard as a new track at the playhead; "
                               "Continue then goes on from it")
        self.record.toggled.connect(self._record_toggled)
        self.drag = MidiDragHandle(lambda folder: write_drag_file(state, generation, folder), show_status)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.play_button, self.loop_button, self.position, self.tempo, self.sound, self.live,
                       self.record, self.drag):
            layout.addWidget(widget)
        layout.addStretch(1)
        transport.events.playing.connect(lambda on: self.play_button.setText("Stop" if on else "Play"))
        transport.events.message.connect(show_status)
        transport.events.live.connect(lambda on: _quietly(self.live, on))
        transport.events.recording.connect(lambda on: _quietly(self.record, on))
        state.events.playhead.connect(lambda _beat: self.show_position())
        state.events.tempo.connect(self.show_tempo)
        state.events.loop.connect(self.show_loop)
        self.show_tempo()
        self.show_loop()
        self.show_position()
        self.show_sound()

    def show_position(self) -> None:
        self.position.setText(position_label(self.state.time_signatures, self.state.playhead))

    def show_tempo(self) -> None:
        self.tempo.blockSignals(True)
        self.tempo.setValue(self.state.bpm)
        self.tempo.blockSignals(False)
        self.show_position()

    def show_loop(self) -> None:
        self.loop_button.setEnabled(self.state.loop is not None)
        _quietly(self.loop_button, self.state.loop_enabled)

    def show_sound(self) -> None:
        """The choices, the one in use marked; a SoundFont of the artist's is listed by its name."""
        sound = self.transport.sound
        self.sound.blockSignals(True)
        self.sound.clear()
        self.sound.addItem("Automatic sound", SOUND_AUTOMATIC)
        self.sound.addItem("Built-in synthesizer", SOUND_BUILTIN)
        if sound not in (SOUND_AUTOMATIC, SOUND_BUILTIN):
            self.sound.addItem(Path(sound).name, sound)
        self.sound.addItem("SoundFont…", None)
        self.sound.setCurrentIndex(max(0, self.sound.findData(sound)))
        self.sound.blockSignals(False)
        if self.transport.available:
            self.sound.setToolTip(f"What plays the notes: now {self.transport.sound_name}")
        else:
            self.sound.setEnabled(False)
            self.sound.setToolTip(self.transport.reason)

    def _sound_chosen(self, index: int) -> None:
        sound = self.sound.itemData(index)
        if sound is None:  # "SoundFont…"
            sound, _filter = QFileDialog.getOpenFileName(self, "Choose a SoundFont", "", "SoundFonts (*.sf2 *.sf3)")
            if not sound:
                self.show_sound()
                return
        self.choose_sound(sound)

    def choose_sound(self, sound: str) -> None:
        """Play with ``sound`` from now on, and remember it."""
        try:
            self.transport.set_sound(sound)
        except UserError as exc:
            self.transport.events.message.emit(str(exc))
        else:
            self.settings.set(SOUND.key, self.transport.sound)
        self.show_sound()

    def _live_toggled(self, on: bool) -> None:
        if not self.transport.set_live(on):
            _quietly(self.live, False)

    def _record_toggled(self, on: bool) -> None:
        if on:
            if not self.transport.start_recording():
                _quietly(self.record, False)
        else:
            self.transport.stop_recording()


class MidiDragHandle(QLabel):
    """Drag this out of the panel (onto a DAW's track, a file manager) to take the selection, or every
    note when none is selected, as a .mid file."""

    def __init__(self, write: Callable[[Path], Path], show_status: Callable[[str], None],
                 parent: Optional[QWidget] = None) -> None:
        super().__init__("⇱ Drag MIDI", parent)
        self.setObjectName("DragMidi")
        self.setToolTip("Drag this into a DAW or a folder: the selection (or every note) as a .mid file")
        self.setFrameShape(QLabel.StyledPanel)
        self.setCursor(Qt.OpenHandCursor)
        self._write, self._show_status = write, show_status
        self._pressed: Optional[QPoint] = None
        # the files stay until the studio exits: a drop target may read them after the drag has ended
        self._folder = tempfile.TemporaryDirectory(prefix="studio-drag-")
        weakref.finalize(self, self._folder.cleanup)

    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        if event.button() == Qt.LeftButton:
            self._pressed = event.position().toPoint()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if self._pressed is None or not event.buttons() & Qt.LeftButton:
            return
        if (event.position().toPoint() - self._pressed).manhattanLength() < QApplication.startDragDistance():
            return
        self._pressed = None
        mime = self.mime_data()
        if mime is not None:
            drag = QDrag(self)
            drag.setMimeData(mime)
            drag.exec(Qt.CopyAction)

    def mime_data(self) -> Optional[QMimeData]:
        """What a drag carries now (None, with a word in the status bar, when there are no notes)."""
        try:
            return midi_mime_data(self._write(Path(self._folder.name)))
        except (UserError, OSError) as exc:
            self._show_status(str(exc))
            return None


def midi_mime_data(path: Path) -> QMimeData:
    """A .mid file as DAWs and file managers take it from a drag: its URL, and its bytes as audio/midi."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    mime.setData(MIDI_MIME, Path(path).read_bytes())
    return mime


def _quietly(widget: Any, checked: bool) -> None:
    """Check or uncheck without telling the slots (the state already is so)."""
    widget.blockSignals(True)
    widget.setChecked(checked)
    widget.blockSignals(False)
