"""The Image Canvas's state driven by a fake image model, with no window: settings checked, grids
with their provenance, newest-wins sampling, typed step previews, undo, and restore."""

import numpy as np
import pytest
from PySide6.QtGui import QUndoStack

from studio.core.capabilities import StepPreview
from studio.core.digests import file_sha256
from studio.core.errors import UserError
from studio.core.provenance import RestoreError
from studio.ui.panels.image_canvas.commands import new_grid
from studio.ui.panels.image_canvas.state import CanvasState


class FakeSampler:
    """Contract 2: conditioned on a label, with steps and samplers; each image is filled with a value
    made of the seed, its index, the label and the steps, so what made it can be read back."""

    image_shape = (4, 4, 1)
    conditions = ("label",)
    class_names = ("circle", "square", "star")
    sampling_options = ("steps", "sampler")
    samplers = ("ddim", "euler")

    def __init__(self):
        self.calls = []

    def sample(self, n, *, seed, condition=None, options=None, on_step=None):
        self.calls.append((n, seed, dict(condition or {}), options))
        steps = options.steps or 3
        label = (condition or {}).get("label", 9)  # 9: no class asked for
        images = np.stack([np.full(self.image_shape, (seed * 100 + i + 10 * label + steps) / 1e6,
                                   np.float32) for i in range(n)])
        for step in range(steps):
            if on_step:
                on_step(step + 1, steps, StepPreview(step=step + 1, images=images * (step + 1) / steps))
        return images


class OldSampler:
    """Contract 1: no classes, options or samplers; sample() takes no options."""

    image_shape = (2, 2, 1)
    conditions = ()

    def sample(self, n, *, seed, condition=None, on_step=None):
        return np.full((n, 2, 2, 1), seed / 100, np.float32)


@pytest.fixture
def canvas(bench):
    bench.add_spec("fake-sampler", ("ImageSampler",))
    model = FakeSampler()
    path = bench.add_model("fake-sampler", model)
    state = CanvasState(bench.executor, bench.registry, bench.store)
    state.models.refresh()
    state.fake, state.path, state.bench = model, path, bench
    return state


def test_a_model_just_chosen_learns_what_it_takes_and_draws_a_grid(canvas, bench):
    assert canvas.choice is not None and canvas.info is None
    bench.executor.run()
    assert canvas.info.class_names == ("circle", "square", "star") and canvas.info.samplers == ("ddim", "euler")
    assert canvas.settings.label == 0 and canvas.settings.sampler == "ddim"
    assert canvas.grid is not None and canvas.grid.images.shape == (16, 4, 4, 1)
    params = canvas.grid.params
    assert params["checkpoint_sha256"] == file_sha256(canvas.path) == canvas.digest
    assert (params["panel"], params["model"], params["step"], params["seed"], params["n"]) == \
        ("image-canvas", "fake-sampler", 10, 0, 16)
    assert params["condition"] == {"label": 0} and params["sampler"] == "ddim"
    assert bench.store.checkpoints()[0]["sha256"] == canvas.digest  # kept in the catalogue


def test_settings_are_checked_and_reach_the_model(canvas, bench):
    bench.executor.run()
    with pytest.raises(ValueError, match="1 to 256 images"):
        canvas.change(count=300)
    with pytest.raises(ValueError, match="3 classes"):
        canvas.change(label=5)
    with pytest.raises(ValueError, match="samplers are ddim, euler"):
        canvas.change(sampler="plms")
    with pytest.raises(ValueError, match="no guidance scale setting"):
        canvas.change(guidance_scale=7.5)
    canvas.change(count=4, seed=7, label=2, steps=5, sampler="euler")
    canvas.sample()
    bench.executor.run()
    n, seed, condition, options = canvas.fake.calls[-1]
    assert (n, seed, condition, options.steps, options.sampler) == (4, 7, {"label": 2}, 5, "euler")
    assert canvas.grid.images[1, 0, 0, 0] == pytest.approx((700 + 1 + 20 + 5) / 1e6)
    assert canvas.settings.count == 4


def test_any_class_asks_for_none_and_a_grid_made_so_comes_back_so(canvas, bench, qapp):
    bench.executor.run()
    canvas.change(label=None, seed=3)
    canvas.sample()
    bench.executor.run()
    assert canvas.fake.calls[-1][2] == {} and canvas.grid.params["condition"] == {}
    unlabelled = canvas.grid
    canvas.change(label=1)
    canvas.sample()
    bench.executor.run()
    canvas.show(unlabelled)  # as the history strip or Undo shows it
    assert canvas.settings.label is None


def test_the_same_seed_gives_the_same_grid_and_only_the_newest_sample_is_shown(canvas, bench):
    bench.executor.run()
    first = canvas.grid.images.copy()
    canvas.change(seed=1)
    canvas.sample()
    canvas.change(seed=2)
    canvas.sample()  # before the first ran: it is dropped
    bench.executor.run()
    assert [call[1] for call in canvas.fake.calls] == [0, 2]
    assert canvas.grid.params["seed"] == 2 and not np.array_equal(canvas.grid.images, first)
    canvas.change(seed=0)
    canvas.sample()
    bench.executor.run()
    np.testing.assert_array_equal(canvas.grid.images, first)


def test_a_sample_forming_is_shown_step_by_step_and_a_newer_one_stops_it(canvas, bench):
    bench.executor.run()
    previews = []
    canvas.events.preview.connect(previews.append)
    shown = canvas.grid
    canvas.change(steps=6)

    def overtake(preview):  # while it forms, the artist presses Sample again
        if preview.step == 2 and canvas.settings.seed != 9:
            canvas.change(seed=9)
            canvas.sample()

    canvas.events.preview.connect(overtake)
    canvas.sample()
    bench.executor.run()
    assert [p.step for p in previews] == [1, 2, 1, 2, 3, 4, 5, 6]  # the overtaken one stopped at its next step
    assert all(isinstance(p, StepPreview) for p in previews) and len(canvas.fake.calls) == 3
    assert canvas.grid is not shown and canvas.grid.params["seed"] == 9
    assert canvas.forming is None


def test_undo_shows_the_grid_before_with_its_settings(canvas, bench, qapp):
    stack = QUndoStack()
    canvas.events.sampled.connect(lambda before, after: stack.push(new_grid(canvas, before, after)))
    bench.executor.run()
    first = canvas.grid
    canvas.change(seed=5, count=4)
    canvas.sample()
    bench.executor.run()
    canvas.change(seed=6)  # a setting changed but not sampled yet
    stack.undo()
    assert canvas.grid is first and (canvas.settings.seed, canvas.settings.count) == (0, 16)
    stack.redo()
    assert canvas.grid.params["seed"] == 5 and canvas.settings.count == 4
    stack.undo()
    stack.undo()
    assert canvas.grid is None


def test_a_grid_comes_back_from_its_parameters_with_the_same_images(canvas, bench):
    bench.executor.run()
    canvas.change(seed=3, count=2, label=1)
    canvas.sample()
    bench.executor.run()
    made, params = canvas.grid.images.copy(), dict(canvas.grid.params)
    canvas.change(seed=0, count=9, label=0)
    notes = []
    canvas.events.restored.connect(notes.append)
    canvas.restore_file(params, "made.png")
    bench.executor.run()
    assert notes == [""] and (canvas.settings.seed, canvas.settings.count, canvas.settings.label) == (3, 2, 1)
    np.testing.assert_array_equal(canvas.grid.images, made)
    with pytest.raises(RestoreError, match="no Image Canvas settings"):
        canvas.restore_file({}, "plain.png")


def test_a_contract_1_model_works_without_options(bench):
    bench.add_spec("old-sampler", ("ImageSampler",))
    bench.add_model("old-sampler", OldSampler(), name="old")
    state = CanvasState(bench.executor, bench.registry, bench.store)
    state.models.refresh()
    bench.executor.run()
    assert state.info.sampling_options == () and state.info.class_names == ()
    assert state.grid.images.shape == (16, 2, 2, 1) and state.condition() == {} and state.options() == {}
    with pytest.raises(ValueError, match="no steps setting"):
        state.change(steps=10)


def test_a_failing_model_is_reported_and_another_model_drops_what_was_asked_of_the_first(canvas, bench):
    bench.executor.run()
    failures = []
    canvas.work.events.failed.connect(lambda *failure: failures.append(failure))
    canvas.fake.sample = lambda *a, **k: 1 / 0
    canvas.sample()
    bench.executor.run()
    title, message, detail = failures[0]
    assert title == "Sampling failed" and "ZeroDivisionError" in message and "Traceback" in detail
    canvas.sample()  # queued for the first model ...
    other = bench.add_model("fake-sampler", FakeSampler(), name="other", step=20)
    canvas.models.refresh()
    canvas.models.select(other)  # ... then another model is chosen: the old request's result is dropped
    bench.executor.run()
    assert len(failures) == 1 and canvas.grid.params["checkpoint"] == other


class FakePainter:
    """Seeds each image, starts from an image and repaints a mask: image i is filled with
    (seed + i) / 1000; from an image, each pixel is the image's, moved towards that value by the
    strength, or (inpainting) that value inside the mask and the image's outside."""

    image_shape = (6, 6, 1)
    conditions = ()
    class_names = ()
    sampling_options = ("steps", "init_image", "mask")
    samplers = ()
    seed_per_image = True

    def __init__(self):
        self.calls = []

    def sample(self, n, *, seed, condition=None, options=None, on_step=None):
        self.calls.append((n, seed, options))
        values = np.stack([np.full(self.image_shape, (seed + i) / 1000, np.float32) for i in range(n)])
        if options.init_image is None:
            return values
        init = np.broadcast_to(options.init_image, values.shape)
        if options.mask is None:
            return init + (values - init) * options.strength
        inside = options.mask[None, :, :, None] > 0.5
        return np.where(inside, values, init).astype(np.float32)


@pytest.fixture
def painter(bench):
    bench.add_spec("fake-painter", ("ImageSampler",))
    model = FakePainter()
    bench.add_model("fake-painter", model, name="painter")
    state = CanvasState(bench.executor, bench.registry, bench.store)
    state.models.refresh()
    bench.executor.run()
    state.fake = model
    return state


def sample(state, bench, start="noise"):
    state.sample(start)
    bench.executor.run()
    return state.grid


def test_the_seed_mode_says_which_seed_each_sample_uses(painter, bench):
    painter.change(count=4, seed=10)
    assert sample(painter, bench).params["seed"] == 10 and sample(painter, bench).params["seed"] == 10  # fixed
    painter.change(seed_mode="increment")
    assert [sample(painter, bench).params["seed"] for _ in range(2)] == [14, 18]  # on where the last grid ended
    painter.change(seed_mode="random")
    seeds = {sample(painter, bench).params["seed"] for _ in range(3)}
    assert len(seeds) == 3 and painter.settings.seed == painter.grid.params["seed"]
    with pytest.raises(ValueError, match="seed mode is one of"):
        painter.change(seed_mode="sometimes")


def test_each_image_of_a_model_that_seeds_images_has_its_own_seed_and_comes_back_alone(painter, bench):
    painter.change(count=4, seed=20)
    grid = sample(painter, bench)
    assert grid.caption(2) == "image 3 · seed 22" and grid.params["seed_per_image"] is True
    painter.select(2)
    artifact, name = painter.artifact(single=True)
    assert name == "fake-painter-seed22.png" and artifact.params["index"] == 2
    painter.change(count=9, seed=0)
    painter.restore_file(artifact.params, name)
    bench.executor.run()
    assert (painter.settings.count, painter.settings.seed) == (1, 22)
    np.testing.assert_array_equal(painter.grid.images[0], grid.images[2])


def test_the_history_keeps_this_sessions_grids(painter, bench, qapp):
    from studio.ui.panels.image_canvas.commands import show_earlier

    grids = [sample(painter, bench) for _ in range(3)]
    assert all(kept is made for kept, made in zip(painter.history[-3:], grids, strict=True))
    stack = QUndoStack()
    stack.push(show_earlier(painter, grids[0]))
    assert painter.grid is grids[0]
    stack.undo()
    assert painter.grid is grids[2]


def test_inpainting_keeps_every_pixel_outside_the_mask_and_comes_back_from_its_parameters(painter, bench, qapp):
    from studio.ui.panels.image_canvas import commands

    painter.change(count=3, seed=5)
    sample(painter, bench)
    painter.select(1)
    stack = QUndoStack()
    stack.push(commands.start_from(painter, painter.source_from_selection()))
    assert painter.source.caption == "image 2 · seed 6" and not painter.mask.any()
    with pytest.raises(ValueError, match="Paint over the part"):
        painter.sample("inpaint")
    stack.push(commands.stroke(painter, [(1.0, 1.0), (4.0, 1.0)], 1.0, erase=False))
    assert painter.mask[1, 1:4].all() and not painter.mask[4:].any()
    painter.change(seed=100, strength=0.9)
    grid = sample(painter, bench, "inpaint")
    assert painter.fake.calls[-1][2].strength == 0.9 and grid.params["strength"] == 0.9  # as strong as set
    outside = painter.mask < 0.5
    for image in grid.images:
        assert np.array_equal(image[outside], painter.source.pixels[outside])
        assert np.allclose(image[~outside], image[~outside][0])  # made anew inside
    params = dict(grid.params)
    assert params["start"] == "inpaint" and "mask" in params and "init_image" in params
    stack.undo()  # the stroke
    assert not painter.mask.any()
    stack.undo()  # the source
    assert painter.source is None
    painter.restore_file(params, "repainted.png")
    bench.executor.run()
    np.testing.assert_array_equal(painter.grid.images, grid.images)
    assert painter.source is not None and painter.mask.any()


def test_image_to_image_records_its_strength_and_a_model_that_cannot_is_told(painter, canvas, bench):
    painter.change(count=2, strength=0.25)
    sample(painter, bench)
    painter.select(0)
    painter.set_start((painter.source_from_selection(), None))
    grid = sample(painter, bench, "image")
    assert grid.params["strength"] == 0.25 and grid.params["start"] == "image"
    bench.executor.run()
    assert not canvas.can_start("image")
    with pytest.raises(ValueError, match="cannot start from an image"):
        canvas.sample("image")


def test_another_tools_parameters_give_what_maps_and_name_the_rest(canvas, bench):
    bench.executor.run()
    note = canvas.restore_foreign("a fox\nSteps: 12, Sampler: euler, CFG scale: 7, Seed: 77, Size: 512x512, "
                                  "Model hash: 0123456789, Model: sd15", "fox.png")
    assert (canvas.settings.seed, canvas.settings.steps, canvas.settings.sampler) == (77, 12, "euler")
    assert "size 512x512 (this model makes 4x4)" in note and "the prompt (this model takes none)" in note
    assert "cfg scale 7 (this model has no such setting)" in note and "Model hash 0123456789" in note
    with pytest.raises(ValueError, match="not one the studio can read"):
        canvas.restore_foreign("a photo of a fox", "fox.png")


def test_the_judge_labels_each_image_of_the_grid_shown(painter, bench, monkeypatch):
    from studio.engine.inference import ModelRef
    from studio.ui.panels.image_canvas import judging
    from studio.ui.panels.image_canvas.judging import Judge

    class FakeJudge:
        class_names = ("dark", "light")

        def classify(self, images):
            light = images.reshape(len(images), -1).mean(axis=1) > 0.0095
            return np.stack([np.where(light, 0.1, 0.9), np.where(light, 0.9, 0.1)], axis=1)

    bench.add_spec("fake-judge", ("ImageClassifier",))
    path = bench.add_model("fake-judge", FakeJudge(), name="judge")
    monkeypatch.setattr(judging, "find_judges", lambda *a: [Judge(ModelRef("fake-judge", path), "Judge")])
    painter.judging.find()
    painter.change(count=3, seed=9)
    sample(painter, bench)
    assert painter.judging.verdicts == []  # only when asked
    painter.judging.set_show_classes(True)
    bench.executor.run()
    assert [name for name, _ in painter.judging.verdicts] == ["dark", "light", "light"]  # 0.009, 0.010, 0.011
    assert painter.judging.verdicts[0][1] == pytest.approx(0.9)


class Copier:
    """Samples that are the data's own training images (``scrambled``: with their pixels shuffled, so
    each image keeps its brightness but no longer looks like a digit)."""

    image_shape = (8, 8, 1)
    conditions = ()
    seed_per_image = True

    def __init__(self, images, scrambled):
        self.images, self.scrambled = images, scrambled

    def sample(self, n, *, seed, condition=None, on_step=None):
        picked = self.images[(seed + np.arange(n)) % len(self.images)].astype(np.float32) / 255
        if self.scrambled:
            flat = picked.reshape(n, -1)
            picked = np.stack([np.random.default_rng(seed + i).permutation(row) for i, row in enumerate(flat)])
        return picked.reshape(n, *self.image_shape)


class PixelJudge:
    """A judge whose features are the pixels themselves."""

    image_shape = (8, 8, 1)
    class_names = ("digit", "other")
    feature_dim = 64

    def features(self, images):
        return images.reshape(len(images), -1)


def test_measure_compares_samples_with_held_out_real_images_and_keeps_the_figure(bench, monkeypatch):
    import json
    from types import SimpleNamespace

    import studio_builtins.datasets
    from studio.core.data import load_data
    from studio.engine.inference import ModelRef
    from studio.ui.panels.image_canvas import judging
    from studio.ui.panels.image_canvas.judging import Judge

    bench.host.add(studio_builtins.datasets, "datasets")
    training = load_data(bench.registry, "images", "digits", SimpleNamespace(image_size=8, channels=1)) \
        .split(seed=0).train.images
    bench.add_spec("copier", ("ImageSampler",))
    paths = {name: bench.add_model("copier", Copier(training, name == "scrambled"), name=name)
             for name in ("copies", "scrambled", "unknown")}
    for name in ("copies", "scrambled"):
        (bench.folder / "runs" / name / "job.json").write_text(json.dumps({"data": "digits", "seed": 0}))
    judge = Judge(ModelRef("pixel-judge", bench.add_model("pixel-judge", PixelJudge(), name="judge")), "Pixels")
    state = CanvasState(bench.executor, bench.registry, bench.store)
    state.models.refresh()
    bench.executor.run()

    def choose(name):
        state.models.select(paths[name])
        bench.executor.run()

    choose("copies")
    with pytest.raises(ValueError, match="needs a judge: train a classifier"):
        state.judging.measure()
    monkeypatch.setattr(judging, "find_judges", lambda *a: [judge])
    readings = {}
    for name in ("copies", "scrambled"):
        choose(name)
        state.judging.find()
        assert state.judging.reading is None
        state.judging.measure(count=150)
        bench.executor.run()
        readings[name] = state.judging.reading
        assert readings[name].samples == 150 and readings[name].judge == "Pixels"
    assert readings["copies"].fd + 3 * readings["copies"].fd_error < readings["scrambled"].fd
    assert readings["copies"].kid < readings["scrambled"].kid
    rows = bench.store.measurements(paths["scrambled"])
    assert {r["metric"] for r in rows} == {"fd", "kid"}
    assert rows[0]["settings"]["data"] == "digits" and rows[0]["settings"]["reference"] == 150
    choose("copies")  # the figure comes back with the model
    assert state.judging.reading == readings["copies"]
    choose("unknown")
    with pytest.raises(UserError, match="data this model was trained on is not known"):
        state.judging.measure()
