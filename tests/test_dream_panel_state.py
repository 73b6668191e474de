"""The Dream Simulator's state over a real inference thread: the keys held drive, the controller drives when the
model has one, tau and the seed reach the dream, an episode's end pauses it, a hidden panel pauses it, another
model or closing ends the session, and a recording becomes a GIF and numbered PNGs. Tiny untrained models."""

import numpy as np
import pytest
from needs import BOX2D, needs_module
from PIL import Image
from test_dream_panel_session import Broken, tiny_controller, tiny_memory

from studio.core.errors import UserError
from studio.core.plugins import discover
from studio.core.specs import resolve
from studio.engine.inference import InferenceWorker, ModelRef
from studio.ui.bridge import InferenceClient
from studio.ui.kit.models import ModelChoice
from studio.ui.panels.dream_simulator.recording import SCALE
from studio.ui.panels.dream_simulator.session import CONTROLLER, DREAM, REAL, DreamFrame
from studio.ui.panels.dream_simulator.state import DreamState, action_for

WAIT_MS = 10000


@pytest.fixture
def dreams(bench, qtbot):
    """A DreamState on a real inference thread whose models are ``models[name]``; ``choose(name)`` picks one."""
    models = {}
    worker = InferenceWorker(lambda ref, device: models[ref.checkpoint], device="cpu").start()
    client = InferenceClient(worker)
    spec = bench.add_spec("world", ("WorldModel",))
    state = DreamState(client, bench.registry, bench.store)
    frames = []
    state.events.frame.connect(frames.append)

    def choose(name, model=None):
        if model is not None:
            models[name] = model
        state.set_model(ModelChoice(spec, ModelRef("world", name), name, 1))

    state.frames, state.choose, state.models_by_name = frames, choose, models
    yield state
    state.close()
    worker.stop()


def shown(qtbot, condition):
    """Wait until ``condition()`` holds of what the state shows (a frame, once there is one)."""
    qtbot.waitUntil(lambda: bool(condition()), timeout=WAIT_MS)


def showing(state):
    return state.frame is not None


def at_step(state, qtbot, step):
    shown(qtbot, lambda: state.frame is not None and state.frame.step >= step)


def test_a_shown_panel_opens_the_dream_paused_on_its_first_frame_and_a_hidden_one_pauses(dreams, qtbot):
    dreams.choose("m", tiny_memory())
    assert not dreams.open  # not shown yet: no session, no model loaded
    dreams.activate(True)
    shown(qtbot, lambda: dreams.frames)
    first = dreams.frames[0]
    assert first.step == 0 and first.mode == DREAM and not dreams.playing
    assert dreams.abilities.real and not dreams.abilities.drives
    dreams.play()
    at_step(dreams, qtbot, 5)
    assert dreams.steps_per_s is not None
    dreams.activate(False)
    assert not dreams.playing and dreams.steps_per_s is None
    step = dreams.frame.step
    qtbot.wait(300)  # a paused dream takes no steps (waiting is the only way to see nothing happen)
    assert dreams.frame.step <= step + 1


def test_the_keys_held_drive_as_carracing_s_human_play_does(dreams, qtbot):
    assert action_for(frozenset({"left", "gas"})) == (-1.0, 1.0, 0.0)
    assert action_for(frozenset({"right", "brake"})) == (1.0, 0.0, 0.8)
    assert action_for(frozenset({"left", "right"})) == (0.0, 0.0, 0.0)
    dreams.choose("m", tiny_memory())
    dreams.activate(True)
    shown(qtbot, lambda: dreams.frames)
    dreams.press("left")
    dreams.press("gas")  # a key pressed while paused sets the dream going
    assert dreams.playing
    at_step(dreams, qtbot, 3)
    np.testing.assert_allclose(dreams.frame.action, [-1, 1, 0])
    dreams.release("left")
    dreams.release("gas")
    dreams.press("brake")
    shown(qtbot, lambda: np.allclose(dreams.frame.action, [0, 0, 0.8]))
    with pytest.raises(ValueError, match="driving key"):
        dreams.press("jump")


def test_the_controller_drives_a_model_that_has_one_and_m_alone_says_why_not(dreams, qtbot):
    dreams.choose("m", tiny_memory())
    dreams.activate(True)
    shown(qtbot, lambda: dreams.abilities)
    with pytest.raises(ValueError, match="no controller"):
        dreams.set_driver(CONTROLLER)
    dreams.choose("c", tiny_controller())
    shown(qtbot, lambda: dreams.abilities and dreams.abilities.drives)
    dreams.set_driver(CONTROLLER)
    dreams.press("right")  # the controller drives: the keys do nothing, and do not set it going
    assert not dreams.playing
    dreams.play()
    at_step(dreams, qtbot, 3)
    assert dreams.frame.driver == CONTROLLER and not np.allclose(dreams.frame.action, [1, 0, 0])


def test_tau_and_the_seed_reach_the_dream(dreams, qtbot):
    dreams.choose("m", tiny_memory())
    dreams.activate(True)
    dreams.play()
    dreams.set_temperature(0.4)
    shown(qtbot, lambda: showing(dreams) and dreams.frame.step > 0 and dreams.frame.temperature == 0.4)
    with pytest.raises(ValueError, match="tau goes from 0"):
        dreams.set_temperature(2.5)
    dreams.set_seed(41)
    dreams.set_next_seed_each_time(True)
    dreams.new_dream()
    shown(qtbot, lambda: showing(dreams) and dreams.frame.seed == 41 and dreams.frame.step >= 2)  # it goes on playing
    assert dreams.seed == 42  # the seed shown is the next dream's
    dreams.set_next_seed_each_time(False)
    dreams.new_dream()
    shown(qtbot, lambda: showing(dreams) and dreams.frame.seed == 42)
    assert dreams.seed == 42


def test_a_dream_s_end_pauses_it_and_play_dreams_on(dreams, qtbot):
    dreams.choose("m", tiny_memory(done=True))
    dreams.activate(True)
    dreams.play()
    shown(qtbot, lambda: showing(dreams) and dreams.frame.done)
    assert not dreams.playing and "done head" in dreams.ended and dreams.frame.step == 1
    dreams.play()
    at_step(dreams, qtbot, 2)
    assert dreams.frame.seed == 0  # the same dream, on past its end
    shown(qtbot, lambda: not dreams.playing)  # (which this M ends again at once)
    dreams.press("gas")  # driving on past it
    assert dreams.playing
    at_step(dreams, qtbot, 3)
    dreams.new_dream()
    shown(qtbot, lambda: dreams.frame.step == 0)


def test_a_real_track_s_end_pauses_it_and_play_starts_the_next_track(dreams, qtbot):
    dreams.choose("m", Broken(tiny_memory(), fail_at=None, ends_at=3))
    dreams.set_next_seed_each_time(True)
    dreams.activate(True)
    dreams.play()
    dreams.reset_to_real()
    shown(qtbot, lambda: showing(dreams) and dreams.frame.done)
    # the opening dream had seed 0, this track 1
    assert not dreams.playing and "track ended at step 3" in dreams.ended and dreams.frame.seed == 1
    dreams.press("gas")  # a real track that ended waits for Play
    assert not dreams.playing
    dreams.play()
    shown(qtbot, lambda: dreams.frame.mode == REAL and dreams.frame.seed == 2 and dreams.frame.step >= 1)
    assert dreams.playing and not dreams.ended


def test_a_real_track_that_cannot_start_is_a_notice_and_the_dream_goes_on(dreams, qtbot):
    dreams.choose("m", Broken(tiny_memory(), at_start=True))
    dreams.activate(True)
    dreams.play()
    dreams.reset_to_real()
    shown(qtbot, lambda: "gymnasium[box2d]" in dreams.notice)
    step = dreams.frame.step
    shown(qtbot, lambda: showing(dreams) and dreams.frame.step > step + 2)
    assert dreams.mode == DREAM and dreams.playing


def test_another_model_or_closing_ends_the_session(dreams, qtbot):
    first = Broken(tiny_memory(), fail_at=None)
    dreams.choose("a", first)
    dreams.activate(True)
    dreams.play()
    dreams.reset_to_real()
    shown(qtbot, lambda: showing(dreams) and dreams.frame.mode == REAL and dreams.frame.step > 2)
    dreams.choose("b", Broken(tiny_memory(seed=1), fail_at=None))
    qtbot.waitUntil(lambda: first.closed == [True], timeout=WAIT_MS)  # the old session's environment closed
    assert dreams.frame is None or dreams.frame.mode == DREAM
    shown(qtbot, lambda: showing(dreams))
    second = dreams.models_by_name["b"]
    dreams.play()
    dreams.reset_to_real()
    shown(qtbot, lambda: showing(dreams) and dreams.frame.mode == REAL)
    dreams.close()
    qtbot.waitUntil(lambda: second.closed == [True], timeout=WAIT_MS)
    assert not dreams.open


def test_a_recording_becomes_a_gif_of_as_many_frames_and_numbered_pngs(dreams, qtbot, tmp_path):
    needs_module("Box2D", BOX2D)
    dreams.choose("m", tiny_memory())
    dreams.activate(True)
    dreams.play()
    dreams.reset_to_real()
    shown(qtbot, lambda: showing(dreams) and dreams.frame.mode == REAL)
    ended = []
    dreams.events.recorded.connect(ended.append)
    dreams.recording_limit = 12
    dreams.start_recording()
    shown(qtbot, lambda: ended)
    recording = ended[0]
    assert len(recording) == 12 and "cap of 12 frames" in recording.stopped and dreams.recording is None
    assert dreams.last_recording is recording
    steps = recording.steps
    assert steps == list(range(steps[0], steps[0] + 12))  # every step, none twice
    gif = discover().registry.exporters_for("image-sequence")
    writer = next(e for e in gif if e.name == "gif").writer
    artifact = recording.artifact()
    assert artifact.params["mode"] == REAL and artifact.params["frames"] == 12
    resolve(writer)(artifact, tmp_path / "drive.gif")
    with Image.open(tmp_path / "drive.gif") as image:
        assert image.n_frames == 12
        assert image.size == (3 * 64 * SCALE + 2 * 4, 64 * SCALE)  # real, reconstruction, dream side by side
    paths = recording.save_pngs(tmp_path / "frames")
    assert [p.name for p in paths] == [f"frame-{i:05d}.png" for i in range(1, 13)]
    with Image.open(paths[3]) as image:
        assert image.size == (3 * 64 * SCALE + 2 * 4, 64 * SCALE) and '"step": ' in image.info["studio"]
    with pytest.raises(UserError, match="already holds frames"):
        recording.save_pngs(tmp_path / "frames")


def test_a_dream_recording_is_the_dream_frame_alone(dreams, qtbot):
    dreams.choose("m", tiny_memory())
    dreams.activate(True)
    shown(qtbot, lambda: dreams.frames)
    dreams.start_recording()
    dreams.play()
    shown(qtbot, lambda: len(dreams.recording) >= 4)
    recording = dreams.finish_recording()
    assert recording.layout == DREAM and recording.image(0).shape == (64 * SCALE, 64 * SCALE, 3)
    assert isinstance(dreams.frames[0], DreamFrame) and not recording.stopped


class Failing(Broken):
    """A world model whose dream fails on its third step (a bug in its plugin) and that has no environment."""

    environment = None

    def dream(self):
        dream, steps = self.model.dream(), []
        step = dream.step

        def failing(action, **options):
            steps.append(action)
            if len(steps) == 3:
                raise RuntimeError("the plugin's dream broke")
            return step(action, **options)

        dream.step = failing
        return dream


def test_a_model_failing_stops_the_dream_with_its_reason_and_play_starts_a_new_one(dreams, qtbot):
    failed = []
    dreams.work.events.failed.connect(lambda title, message, detail: failed.append((title, message, detail)))
    dreams.choose("m", Failing(tiny_memory()))
    dreams.activate(True)
    shown(qtbot, lambda: dreams.abilities)
    assert not dreams.abilities.real and "no real environment" in dreams.abilities.why_not_real
    with pytest.raises(ValueError, match="no real environment"):
        dreams.reset_to_real()
    dreams.play()
    # the failure is told first, then the session closes (on a busy machine, not always in one go)
    shown(qtbot, lambda: failed and not dreams.playing and not dreams.open)
    title, message, detail = failed[0]
    assert title == "The dream stopped" and "the plugin's dream broke" in message and "RuntimeError" in detail
    assert not dreams.playing and not dreams.open and "stopped" in dreams.stopped
    dreams.play()  # a new session, from the start
    shown(qtbot, lambda: dreams.open and showing(dreams) and dreams.frame.step == 0)
    assert dreams.stopped == ""
