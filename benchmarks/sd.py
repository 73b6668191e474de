"""Stable Diffusion on the Image Canvas (issue 16): what the studio costs over diffusers itself.

    .venv/bin/python benchmarks/sd.py [--quick] [--no-panel]

The model is the tests' tiny pipeline made wider (UNet levels of 64 and 128 channels, 32x32 latents:
64x64 images, random weights), saved as a diffusers folder and loaded as the studio loads one. Every
run makes a batch of 2 images with the default sampler (Euler a), guidance 7, 20 steps (10 with
--quick), seed 0; torch computes on the inference thread's thread count (``use_inference_threads``)
on both sides of every ratio.

- ``pipeline_overhead_ratio``: images/s through the canvas's path over the pipeline called
  directly (``direct_images_per_s``). The canvas's path (``canvas_images_per_s``) is the studio's
  inference thread (``InferenceWorker``, its loader handing back the model already loaded) running
  the canvas's work function, ``sample_images(model, n, seed, condition={"prompt": ...},
  options=SampleOptions(steps, sampler), on_step=ctx.step)``, with a latent preview at each step,
  the caller waiting for the result callback. Direct is ``model.pipe(...)`` with the same prompt,
  steps, guidance, a generator per image from seed + i and the scheduler the sampler sets
  (``samplers.scheduler_for``), no step callback. Both are warmed once, then run three times in
  turns; the best of each counts. ``same_pixels`` is 1 when both paths made the same images
  (``np.allclose``, atol 1e-6): the comparison is of the same work.
- ``panel_images_per_s`` and ``panel_overhead_ratio``: the same batch sampled from the actual
  canvas panel of the studio's window (offscreen Qt), from ``state.sample()`` until the grid
  arrives on the GUI thread, each step's preview painted; over direct as above (--no-panel leaves
  these and the preview times out).
- ``first_preview_ms``: on that panel, from Sample to the first step's preview *painted* on the
  canvas (the grid view's first paint event after it was handed the preview); median of the
  panel's runs. ``first_preview_delivered_ms``: to the preview's arrival on the GUI thread.
- ``preview_ms_per_step``: what the worker's step callback costs at each step (latents to the
  cheap RGB preview, ``latents_to_rgb``), timed alone on latents of the batch's size.
- ``s_per_image_512_20_steps`` (CUDA only; a note says so without CUDA): a full-size SD 1.5
  pipeline with random weights built from the configs the studio ships, in half precision, one
  512x512 image of 20 steps, through the canvas's path (``canvas_s_per_image_512_20_steps`` and
  this figure) and directly (``direct_s_per_image_512_20_steps``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HF_HUB_OFFLINE"] = "1"
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests"))
# isort: off
from _common import median, report  # noqa: E402  (first: it imports studio, before torch loads)
# isort: on
import numpy as np  # noqa: E402
import torch  # noqa: E402
from sd_support import tiny_folder, write_tokenizer  # noqa: E402

from studio.core.capabilities import SampleOptions, sample_images  # noqa: E402
from studio.engine.inference import Callbacks, InferenceWorker, ModelRef  # noqa: E402
from studio.engine.machine import use_inference_threads  # noqa: E402
from studio_builtins.stable_diffusion.loading import load_stable_diffusion  # noqa: E402
from studio_builtins.stable_diffusion.model import DEFAULT_GUIDANCE, StableDiffusionModel  # noqa: E402
from studio_builtins.stable_diffusion.preview import latents_to_rgb  # noqa: E402
from studio_builtins.stable_diffusion.samplers import scheduler_for  # noqa: E402
from studio_builtins.stable_diffusion.source import config_folder  # noqa: E402

PROMPT = "a photo of a cat"
SAMPLER = "Euler a"
BATCH = 2
SEED = 0
RUNS = 3
WAIT_S = 600


class Paths:
    """The same batch sampled by calling the pipeline directly, and on the studio's inference thread."""

    def __init__(self, model: StableDiffusionModel, steps: int, n: int = BATCH) -> None:
        self.model, self.steps, self.n = model, steps, n
        self.schedule = dict(model.pipe.scheduler.config)  # the model's own, before a sampler replaces it
        self.worker = InferenceWorker(loader=lambda _ref, _device: model, device=model.device).start()
        self.ref = ModelRef("stable-diffusion", str(model.path))

    def direct(self) -> np.ndarray:
        pipe = self.model.pipe
        pipe.scheduler = scheduler_for(SAMPLER, self.schedule)
        return pipe(prompt=[PROMPT] * self.n, num_inference_steps=self.steps, guidance_scale=DEFAULT_GUIDANCE,
                    generator=[torch.Generator("cpu").manual_seed(SEED + i) for i in range(self.n)],
                    output_type="np").images

    def canvas(self) -> np.ndarray:
        """The canvas's work function on the inference thread; the result as its callback hands it over."""
        n, steps = self.n, self.steps
        done, outcome = threading.Event(), {}

        def work(model, ctx):
            return sample_images(model, n, seed=SEED, condition={"prompt": PROMPT},
                                 options=SampleOptions(steps=steps, sampler=SAMPLER), on_step=ctx.step)

        def ended(key: str, value=None) -> None:
            outcome[key] = value
            done.set()

        self.worker.submit(self.ref, work, key="canvas:sample", callbacks=Callbacks(
            on_result=lambda images: ended("images", images), on_error=lambda message, _d: ended("error", message),
            on_cancelled=lambda: ended("error", "cancelled")))
        if not done.wait(WAIT_S) or "error" in outcome:
            raise RuntimeError(f"the inference thread did not sample: {outcome.get('error', 'timed out')}")
        return outcome["images"]


def timed(fn) -> tuple[float, np.ndarray]:
    """(images/s, images) of one call of ``fn``."""
    started = time.perf_counter()
    images = np.asarray(fn())
    return len(images) / (time.perf_counter() - started), images


def overhead(paths: Paths, panel=None) -> tuple[dict[str, float], dict[str, str]]:
    """Each path warmed once, then :data:`RUNS` runs in turns (load from other processes hits all alike)."""
    fns = {"direct": paths.direct, "canvas": paths.canvas, **({"panel": panel.sample} if panel else {})}
    for fn in fns.values():
        fn()
    if panel is not None:
        panel.forget_timings()  # the warm-up's: it also waited for the sample cancelled on import
    rates: dict[str, list[float]] = {name: [] for name in fns}
    made: dict[str, np.ndarray] = {}
    for _ in range(RUNS):
        for name, fn in fns.items():
            rate, made[name] = timed(fn)
            rates[name].append(rate)
    best = {name: max(values) for name, values in rates.items()}
    same = all(np.allclose(images, made["direct"], atol=1e-6) for images in made.values())
    metrics = {"pipeline_overhead_ratio": best["canvas"] / best["direct"], "direct_images_per_s": best["direct"],
               "canvas_images_per_s": best["canvas"], "same_pixels": int(same)}
    notes = {"pipeline_overhead_ratio": f"best of {RUNS}: {best['canvas']:.3f} vs {best['direct']:.3f} images/s "
                                        f"(all runs: canvas {_listed(rates['canvas'])}, "
                                        f"direct {_listed(rates['direct'])})",
             "same_pixels": "max difference " + ", ".join(
                 f"{name} {np.abs(images - made['direct']).max():.2g}" for name, images in made.items()
                 if name != "direct")}
    if panel is not None:
        metrics.update({"panel_overhead_ratio": best["panel"] / best["direct"], "panel_images_per_s": best["panel"],
                        "first_preview_ms": median(panel.painted_ms),
                        "first_preview_delivered_ms": median(panel.delivered_ms)})
        notes["panel_overhead_ratio"] = f"all runs: {_listed(rates['panel'])} images/s"
        notes["first_preview_ms"] = f"painted; runs: {_listed(panel.painted_ms, 0)} ms"
    return metrics, notes


def _listed(values: list[float], digits: int = 3) -> str:
    return ", ".join(f"{v:.{digits}f}" for v in values)


def preview_cost(paths: Paths, repeats: int = 50) -> float:
    """Milliseconds of the step callback's own work (move the latents to numpy, make the preview)."""
    model = paths.model
    size = model.image_shape[0] // int(model.pipe.vae_scale_factor)
    latents = torch.randn(paths.n, 4, size, size)
    started = time.perf_counter()
    for _ in range(repeats):
        latents_to_rgb(latents.detach().float().cpu().numpy(), model.family, int(model.pipe.vae_scale_factor))
    return 1000 * (time.perf_counter() - started) / repeats


class Panel:
    """The studio's window with the Image Canvas showing the model folder; :meth:`sample` is Sample."""

    def __init__(self, folder: Path, steps: int, scratch: Path) -> None:
        os.environ["STUDIO_WORKSPACE"] = str(scratch / "workspace")
        os.environ["XDG_CONFIG_HOME"] = str(scratch / "config")
        from PySide6.QtCore import QEvent, QObject, QSettings

        from studio.core.plugins import discover
        from studio.core.workspace import choose_workspace
        from studio.ui.app import StudioApp, make_qapplication
        from studio.ui.settings import Settings

        QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, str(scratch / "config"))
        self.qt = make_qapplication()
        self.app = StudioApp(discover(), Settings(), "cpu")
        if not self.app.open(choose_workspace()):
            raise RuntimeError("the studio's window did not open")
        self.app.window.show_panel("image-canvas")
        self.panel = self.app.window.panels["image-canvas"]
        self.state = self.panel.state
        self._loop = None
        self.state.events.grid.connect(self._check)
        self.state.events.info.connect(self._check)
        self._import(folder)
        self.state.change(count=BATCH, seed=SEED, seed_mode="fixed", steps=steps, sampler=SAMPLER, prompt=PROMPT)
        self.painted_ms: list[float] = []
        self.delivered_ms: list[float] = []
        self._started = self._delivered = self._painted = None

        panel = self

        class PaintWatch(QObject):
            def eventFilter(self, _watched, event):  # noqa: N802 (Qt naming)
                if event.type() == QEvent.Paint and panel._delivered is not None and panel._painted is None:
                    panel._painted = time.perf_counter()
                return False

        self._watch = PaintWatch()
        self.panel.grid_view.installEventFilter(self._watch)
        self.state.events.preview.connect(self._previewed)  # after the panel's own handler: handed to the view

    def _import(self, folder: Path) -> None:
        """Import and choose the folder as a drop on the canvas does; the grid it starts sampling once it
        knows the model (of the canvas's default settings) is cancelled."""
        spec = self.state.importers(str(folder))[0]
        outcome = []
        self.state.import_model(spec, str(folder), outcome.append)
        self._wait(lambda: outcome)
        if outcome != [True]:
            raise RuntimeError("the canvas could not import the model folder")
        self._wait(lambda: self.state.info is not None)
        self.state.work.cancel()

    def _previewed(self, _preview) -> None:
        if self._delivered is None:
            self._delivered = time.perf_counter()

    def _wait(self, done, timeout_s: float = WAIT_S) -> None:
        """Run Qt's event loop, as the studio's GUI thread does, until ``done()``: checked when the canvas
        shows another grid or learns its model, and every 100 ms (checking more often would take the GIL
        from the inference thread, as the studio's GUI thread does not)."""
        from PySide6.QtCore import QEventLoop, QTimer

        self._loop, self._done, self._deadline = QEventLoop(), done, time.monotonic() + timeout_s
        timer = QTimer()
        timer.timeout.connect(self._check)
        timer.start(100)
        if not done():
            self._loop.exec()
        timer.stop()
        self._loop = None
        if not done():
            raise RuntimeError("the canvas did not finish in time")

    def _check(self) -> None:
        if self._loop is not None and (self._done() or time.monotonic() > self._deadline):
            self._loop.quit()

    def sample(self) -> np.ndarray:
        before = self.state.grid
        self._delivered = self._painted = None
        self._started = time.perf_counter()
        self.state.sample()
        self._wait(lambda: self.state.grid is not before)
        if self._painted is None:
            raise RuntimeError("no step preview was painted on the canvas")
        self.delivered_ms.append(1000 * (self._delivered - self._started))
        self.painted_ms.append(1000 * (self._painted - self._started))
        return self.state.grid.images

    def forget_timings(self) -> None:
        self.painted_ms.clear()
        self.delivered_ms.clear()

    def close(self) -> None:
        self.app.close()


def full_size_sd15(device: str) -> StableDiffusionModel:
    """SD 1.5 at full size with random weights, from the shipped configs, in half precision on ``device``."""
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    configs = config_folder("sd1")
    tokenizer = CLIPTokenizer.from_pretrained(str(write_tokenizer(Path(tempfile.mkdtemp()) / "tokenizer")),
                                              local_files_only=True)
    text_config = CLIPTextConfig.from_pretrained(str(configs / "text_encoder"), local_files_only=True)
    text_config.vocab_size = len(tokenizer)  # the tokenizer written here is byte-level, far smaller than CLIP's
    text_config.bos_token_id, text_config.eos_token_id = tokenizer.bos_token_id, tokenizer.eos_token_id
    text_config.pad_token_id = tokenizer.pad_token_id
    unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(str(configs / "unet")))
    vae = AutoencoderKL.from_config(AutoencoderKL.load_config(str(configs / "vae")))
    scheduler = PNDMScheduler.from_config(PNDMScheduler.load_config(str(configs / "scheduler")))
    pipe = StableDiffusionPipeline(unet=unet, vae=vae, text_encoder=CLIPTextModel(text_config), tokenizer=tokenizer,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return StableDiffusionModel(pipe.to(device, torch.float16), "sd1", configs, device)


def full_size(steps: int = 20) -> tuple[dict[str, float | str], dict[str, str]]:
    """SD 1.5's seconds per 512x512 image, canvas and direct (without CUDA: a note instead)."""
    if not torch.cuda.is_available():
        return {"s_per_image_512_20_steps": "skipped: no CUDA device"}, {}
    paths = Paths(full_size_sd15("cuda"), steps, n=1)

    def synced(fn):
        def run():
            images = fn()
            torch.cuda.synchronize()
            return images
        return run

    fns = {"direct": synced(paths.direct), "canvas": synced(paths.canvas)}
    for fn in fns.values():
        fn()
    seconds = {name: min(1 / timed(fn)[0] for _ in range(RUNS)) for name, fn in fns.items()}
    paths.worker.stop()
    return ({"s_per_image_512_20_steps": seconds["canvas"], "canvas_s_per_image_512_20_steps": seconds["canvas"],
             "direct_s_per_image_512_20_steps": seconds["direct"]},
            {"s_per_image_512_20_steps": f"{torch.cuda.get_device_name()}, fp16, best of {RUNS}"})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-panel", action="store_true", help="leave out the canvas panel (no Qt window)")
    args = parser.parse_args()
    steps = 10 if args.quick else 20
    use_inference_threads()  # the direct calls run on the inference thread's thread count too
    with tempfile.TemporaryDirectory() as scratch:
        folder = tiny_folder(Path(scratch), widths=(64, 128), latent_size=32)
        paths = Paths(load_stable_diffusion(str(folder), "cpu"), steps)
        panel = None
        try:
            panel = None if args.no_panel else Panel(folder, steps, Path(scratch))
            metrics, notes = overhead(paths, panel)
        finally:
            paths.worker.stop()
            if panel is not None:
                panel.close()
    metrics.update({"steps": steps, "batch": BATCH, "image_size": paths.model.image_shape[0],
                    "torch_threads": torch.get_num_threads(), "preview_ms_per_step": preview_cost(paths)})
    cuda_metrics, cuda_notes = full_size()
    metrics.update(cuda_metrics)
    notes.update(cuda_notes)
    report("sd", metrics, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
