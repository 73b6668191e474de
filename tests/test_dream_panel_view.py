"""The Dream Simulator panel in the studio's window (offscreen): the three panes, the keys driving from the drive
view, the controls (the Controller driver off for M alone, tau's slider, the seed), the pace it reaches, the
shortcuts in Help, and a recording saved through the GIF exporter with its frames as PNGs."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from needs import BOX2D, needs_module
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox
from test_dream_panel_session import tiny_memory

from studio.core.capabilities import TrainState
from studio.core.checkpoint import save_checkpoint
from studio.core.config import config_dict
from studio.ui.help import shortcut_rows
from studio.ui.panels.dream_simulator.controls import NO_CONTROLLER, TAU_STEPS
from studio.ui.panels.dream_simulator.session import KEYBOARD, REAL, STEPS_PER_S
from studio.ui.panels.dream_simulator.views import NO_REAL_FRAME
from studio_builtins.world_models.config import ControllerConfig, MDNRNNConfig
from studio_builtins.world_models.control import Controller
from studio_builtins.world_models.memory import MDNRNN

WAIT_MS = 20000


def add_world(app, name, model, spec):
    """Catalogue ``model`` in the app's workspace, as a finished job would."""
    path = app.workspace.folder("jobs") / name / "checkpoint.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{key}": value for key, value in model.state_dict().items()}
    save_checkpoint(path, spec, model.config, 1, TrainState(tensors, {}))
    app.workspace.store.add_checkpoint(spec, str(path), 1)
    return str(path)


def controller_of(memory):
    config = replace(ControllerConfig(), memory_json=json.dumps(config_dict(memory.config)))
    controller = Controller(config, memory)
    controller.set_flat(np.random.default_rng(2).normal(0, 1, controller.parameter_count))
    return controller


def open_panel(studio_app, qtbot, model, spec="mdn-rnn"):
    app = studio_app()
    add_world(app, "world", model, spec)
    app.window.refresh_panels()
    app.window.show()
    app.window.show_panel("dream-simulator")
    panel = app.window.panels["dream-simulator"]
    qtbot.waitExposed(panel)
    qtbot.waitUntil(lambda: panel.state.frame is not None and panel.state.abilities is not None, timeout=WAIT_MS)
    panel.app = app
    return panel


def at_step(qtbot, panel, step):
    qtbot.waitUntil(lambda: panel.state.frame is not None and panel.state.frame.step >= step, timeout=WAIT_MS)


def test_the_dream_shows_with_no_real_frame_and_the_keys_drive_it(studio_app, qtbot):
    panel = open_panel(studio_app, qtbot, tiny_memory())
    view, controls = panel.drive_view, panel.controls
    assert view.dream.image is not None and view.real.image is None and view.real.placeholder == NO_REAL_FRAME
    assert controls.play_button.text() == "Play" and "Paused" in panel.readouts.message.text()
    # M alone: no controller to drive, and the menu says why
    item = controls.driver.model().item(controls.driver.findData("controller"))
    assert not item.isEnabled() and item.toolTip() == NO_CONTROLLER
    assert controls.real_button.isEnabled()
    view.setFocus()
    qtbot.keyPress(view, Qt.Key_Left)
    qtbot.keyPress(view, Qt.Key_Up)
    assert panel.state.keys == {"left", "gas"} and panel.state.playing  # a key sets the dream going
    assert "background" in view.key_labels["left"].styleSheet() and controls.play_button.text() == "Pause"
    at_step(qtbot, panel, 3)
    np.testing.assert_allclose(panel.state.frame.action, [-1, 1, 0])
    assert "step" in panel.readouts.numbers.text() and "total" in panel.readouts.numbers.text()
    qtbot.keyRelease(view, Qt.Key_Left)
    qtbot.keyPress(view, Qt.Key_Space)
    assert panel.state.keys == {"gas", "brake"}
    controls.seed.setFocus()  # the view lost the focus: nobody holds the keys any more
    assert panel.state.keys == frozenset()


def test_tau_s_slider_shows_its_value_and_reaches_the_running_dream(studio_app, qtbot):
    panel = open_panel(studio_app, qtbot, tiny_memory())
    controls = panel.controls
    panel.state.play()
    controls.tau.setValue(round(1.5 * TAU_STEPS))
    assert controls.tau_label.text() == "1.50" and panel.state.temperature == 1.5
    qtbot.waitUntil(lambda: panel.state.frame.temperature == 1.5, timeout=WAIT_MS)
    qtbot.keyClick(panel.drive_view, Qt.Key_BracketLeft)  # [ lowers tau by 0.1
    assert panel.state.temperature == pytest.approx(1.4) and controls.tau.value() == round(1.4 * TAU_STEPS)


def test_the_controller_drives_from_the_driver_menu(studio_app, qtbot):
    panel = open_panel(studio_app, qtbot, controller_of(tiny_memory()), spec="controller")
    controls = panel.controls
    assert controls.driver.model().item(controls.driver.findData("controller")).isEnabled()
    controls.driver.setCurrentIndex(controls.driver.findData("controller"))
    controls.driver.activated.emit(controls.driver.currentIndex())
    assert panel.state.driver == "controller" and "controller drives" in panel.drive_view.hint.text()
    panel.state.play()
    qtbot.waitUntil(lambda: panel.state.frame.driver == "controller" and panel.state.frame.step > 2, timeout=WAIT_MS)
    qtbot.keyClick(panel.drive_view, Qt.Key_C)  # C gives you the wheel back
    assert panel.state.driver == KEYBOARD


def test_a_real_track_fills_the_three_panes(studio_app, qtbot):
    needs_module("Box2D", BOX2D)
    panel = open_panel(studio_app, qtbot, tiny_memory())
    panel.controls.real_button.click()
    qtbot.waitUntil(lambda: panel.state.frame.mode == REAL, timeout=WAIT_MS)
    view = panel.drive_view
    panes = (view.real, view.reconstruction, view.dream)
    assert all(pane.image is not None and pane.image.width() == 64 for pane in panes)
    assert "real track" in panel.readouts.numbers.text()


def test_the_panel_dreams_at_its_pace_with_the_paper_s_model_and_shows_it(studio_app, qtbot):
    torch.manual_seed(0)
    model = MDNRNN(MDNRNNConfig()).eval()  # latent 32, 256 LSTM units, V of width 32: the paper's sizes
    with torch.no_grad():
        model.mdn.bias[-1] = -20.0  # an untrained done head would end the dream at once
    panel = open_panel(studio_app, qtbot, model)
    panel.state.play()
    at_step(qtbot, panel, 2 * STEPS_PER_S)
    rate, work = panel.state.steps_per_s, panel.state.step_work_s
    print(f"dream steps/s {rate:.1f}, a step's work {work * 1000:.1f} ms")
    # paced at 30, never faster; how close to 30 a busy machine gets is benchmarks/dream.py's to measure
    assert 0 < rate <= 1.05 * STEPS_PER_S, rate
    assert work > 0
    assert "steps/s" in panel.readouts.numbers.text()


def test_the_shortcuts_are_listed_in_help(studio_app, qtbot):
    panel = open_panel(studio_app, qtbot, tiny_memory())
    rows = {(what, where) for what, _keys, where in shortcut_rows(panel.app.window)}
    for what in ("Play or pause the dream", "A new dream (from the seed shown)", "Reset to a real track",
                 "Start or stop recording", "Steer left (hold)", "Brake (hold)"):
        assert (what, "Dream Simulator") in rows, what
    qtbot.keyClick(panel.drive_view, Qt.Key_P)
    assert panel.state.playing
    qtbot.keyClick(panel.drive_view, Qt.Key_P)
    assert not panel.state.playing


def test_stopping_a_recording_saves_it_as_a_gif_and_the_frames_as_pngs(studio_app, qtbot, tmp_path, monkeypatch):
    panel = open_panel(studio_app, qtbot, tiny_memory())
    gif, frames = tmp_path / "my-dream.gif", tmp_path / "frames"
    asked = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args: (asked.append(args[3]) or str(gif), ""))
    monkeypatch.setattr(QMessageBox, "question", lambda *args: QMessageBox.Yes)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args: str(frames))
    assert "nothing to export yet" in panel.export()
    panel.state.play()
    qtbot.keyClick(panel.drive_view, Qt.Key_R)
    assert panel.controls.record_button.isChecked()
    qtbot.waitUntil(lambda: len(panel.state.recording) >= 8, timeout=WAIT_MS)
    panel.controls.record_button.click()
    status = panel.app.window.statusBar()
    qtbot.waitUntil(lambda: status.currentMessage().startswith("Saved"), timeout=WAIT_MS)  # written in the background
    recording = panel.state.last_recording
    assert str(gif) in status.currentMessage() and f"{len(recording)} frames in {frames}" in status.currentMessage()
    assert "Animated GIF (*.gif)" in asked[0] and not panel.state.playing  # paused while it is saved
    with Image.open(gif) as image:
        assert image.n_frames == len(recording) and json.loads(image.info["comment"])["mode"] == "dream"
    assert len(list(frames.glob("frame-*.png"))) == len(recording)
    assert panel.app.workspace.store.artifacts()[-1]["path"] == str(gif)  # catalogued as every export is
    assert not panel.controls.record_button.isChecked() and panel.controls.record_button.text() == "● Record"
    # File ▸ Export saves it again; the frames' folder now holds frames, which are never overwritten
    warned = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, _title, text: warned.append(text))
    assert panel.export() is None
    qtbot.waitUntil(lambda: bool(warned), timeout=WAIT_MS)
    assert "already holds frames" in warned[0] and gif.exists()
