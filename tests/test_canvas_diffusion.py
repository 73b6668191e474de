"""The Image Canvas with a real (tiny) diffusion model: the panel's pixels are `studio generate`'s,
every sampler of the menu runs through the panel, and a cancel stops sampling within one step."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from studio.core.checkpoint import save_checkpoint
from studio.core.data import load_data
from studio.core.plugins import discover
from studio.core.specs import resolve
from studio.engine.machine import inference_threads

# diffusers' schedulers hand torch tensors to numpy, which numpy 2 warns about; not ours to fix
pytestmark = [pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:__array_wrap__ must accept:DeprecationWarning")]

TINY = {"image_size": 16, "widths": "8,16", "middle_width": 16, "block_depth": 1, "batch_size": 32}


@pytest.fixture(scope="module")
def diffusion_file(tmp_path_factory):
    registry = discover().registry
    spec = registry.model("diffusion")
    config = spec.config(**TINY)
    trainer = resolve(spec.trainer)(config, load_data(registry, "images", "digits", config).split(), seed=0)
    for _ in trainer.steps(0, 3):
        pass
    path = tmp_path_factory.mktemp("models") / "diffusion.safetensors"
    save_checkpoint(path, "diffusion", trainer.config, 3, trainer.state())
    return path


@pytest.fixture
def canvas(studio_app, diffusion_file, qtbot):
    app = studio_app()
    app.workspace.store.add_checkpoint("diffusion", str(diffusion_file), 3)
    app.window.refresh_panels()
    panel = app.window.panels["image-canvas"]
    app.window.show_panel("image-canvas")
    panel.state.models.select(str(diffusion_file))
    qtbot.waitUntil(lambda: panel.state.info is not None and panel.state.grid is not None
                    and panel.state.grid.params["checkpoint"] == str(diffusion_file), timeout=30_000)
    return panel


def sample(panel, qtbot):
    before = panel.state.grid
    panel.sample_button.click()
    qtbot.waitUntil(lambda: panel.state.grid is not before, timeout=30_000)
    return panel.state.grid


def test_the_panel_makes_the_pixels_studio_generate_makes(canvas, qtbot, diffusion_file, tmp_path):
    canvas.count.setValue(3)
    canvas.seed.setValue(41)
    canvas.sampler.setCurrentText("DPM++ 2M")
    canvas.steps.setValue(6)
    canvas.label.setCurrentIndex(5)  # after Any class: class 4
    canvas.guidance.setValue(2.5)
    sample(canvas, qtbot)
    artifact, _name = canvas.state.artifact(single=False)
    panel_png = tmp_path / "panel.png"
    resolve(canvas.context.registry.exporter_for("image", panel_png).writer)(artifact, panel_png)
    cli_png = tmp_path / "cli.png"
    # the canvas's inference thread runs torch on inference_threads() threads: so does this process
    env = {**os.environ, "OMP_NUM_THREADS": str(inference_threads())}
    subprocess.run([sys.executable, "-m", "studio", "--device", "cpu", "generate", "diffusion", "--checkpoint",
                    str(diffusion_file), "--n", "3", "--seed", "41", "--sampler", "DPM++ 2M", "--steps", "6",
                    "--class", "4", "--guidance", "2.5", "--out", str(cli_png)], check=True, env=env, timeout=120)
    assert np.array_equal(np.asarray(Image.open(panel_png)), np.asarray(Image.open(cli_png)))


def test_every_sampler_of_the_menu_samples_through_the_panel(canvas, qtbot):
    canvas.count.setValue(2)
    canvas.steps.setValue(3)
    names = [canvas.sampler.itemText(i) for i in range(canvas.sampler.count())]
    assert names == list(canvas.state.info.samplers) and len(names) >= 10
    grids = {}
    for name in names:
        canvas.sampler.setCurrentText(name)
        grid = sample(canvas, qtbot)
        assert grid.params["sampler"] == name and grid.images.shape == (2, 16, 16, 1)
        assert np.isfinite(grid.images).all()
        grids[name] = grid.images
    assert not np.array_equal(grids["DDIM"], grids["Euler a"])


def test_a_cancel_mid_sampling_stops_within_one_step(canvas, qtbot):
    from studio_builtins.diffusion.unet import UNet

    calls, cancelled_at = [], []
    canvas.steps.setValue(400)
    canvas.count.setValue(2)
    canvas.sampler.setCurrentText("DDIM")
    shown = canvas.state.grid

    def counted(module, _inputs):
        if isinstance(module, UNet):
            calls.append(time.perf_counter())

    def cancel_on_the_third_step(preview):
        if preview.step == 3 and not cancelled_at:
            cancelled_at.append(time.perf_counter())
            qtbot.keyClick(canvas.sample_button, Qt.Key_Escape)

    hook = __import__("torch").nn.modules.module.register_module_forward_pre_hook(counted)
    canvas.state.events.preview.connect(cancel_on_the_third_step)
    try:
        canvas.sample_button.click()
        qtbot.waitUntil(lambda: bool(cancelled_at), timeout=30_000)
        assert not canvas.task_bar.isVisible()
        done = threading.Event()
        canvas.context.inference.worker.submit(None, lambda _m, _c: done.set())
        qtbot.waitUntil(done.is_set, timeout=30_000)  # the inference thread has given the request up
    finally:
        hook.remove()
    after = [t for t in calls if t > cancelled_at[0]]
    assert len(after) <= 1, f"{len(after)} network calls after the cancel"
    assert len(calls) < 10 and canvas.state.grid is shown  # the grid shown stays
