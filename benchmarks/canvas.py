"""Image Canvas: how close each image model's samples come to Fashion-MNIST, and what sampling costs.

    .venv/bin/python benchmarks/canvas.py [--quick] [--samples N] [--ddpm-samples M]
        [--model KIND=CHECKPOINT ...] [--judge CHECKPOINT] [--only KIND ...]

Every distance is on one judge's features (the CNN starter, the chapter-2 classifier, unless
--judge names another) against held-out Fashion-MNIST test images, with the same number of
samples N for every figure (default 1,000) except DDPM-1000, which takes a thousand network calls
per image and uses M (default 500) with its own floor at M:

- fd_real_vs_real / kid_real_vs_real: two disjoint sets of N held-out images (the floor a model
  can reach at this N); fd_real_vs_real_at_ddpm: the same at M.
- fd_ddim20, fd_ddim100, fd_dpm_solver20 (DPM++ 2M), fd_ddpm1000 and kid_* of each: the diffusion
  model, each image from its own seed; a class-conditional one is asked for each class in turn (an
  equal share of the images, as the held-out set has), without guidance (scale 1: the model's own
  distribution of each class; guidance, which the canvas uses to make the class plainer, trades
  variety for it and so raises the distance: 11.8 at scale 3 against 9.1 at 1 and 9.2 at 2 for the
  1,800-step starter). diffusion_class_accuracy: the share of those DDIM-20 images the judge sees as
  the class asked for; fd_ddim20_unconditional: DDIM-20 with no class asked.
- fd_dcgan, fd_wgangp, fd_cgan (the GANs, where a checkpoint of each is given or shipped).
- ddim20_s_per_image, ddpm1000_s_per_image and ddim20_vs_ddpm1000_time_ratio (DDIM-20 time over
  DDPM-1000's), measured while sampling the figures above.
- sampler_overhead_ratio: images/s through the canvas's sampling path (``sample_images`` with DDIM,
  20 steps) over the same U-Net and diffusers scheduler looped by hand on the same batches, in the
  same process (best of three each). bare_full_batch_ratio: that hand loop with all images in one
  batch, over the canvas's path, which runs the network on a fixed batch per call so that each image
  comes back by itself from its seed.
- cgan_class_accuracy: the share of conditional-GAN samples the judge sees as the class asked for.
- judge_accuracy: the judge on all 10,000 test images.

Models come from the starters the studio ships (diffusion, DCGAN, conditional GAN, CNN judge) and from --model
KIND=CHECKPOINT (KIND: diffusion, dcgan, wgan-gp or cgan). Needs Fashion-MNIST (Debian's
dataset-fashion-mnist). --quick uses 100 samples, 30 for DDPM (for checking the script).
--only KIND (repeatable) measures the judge, the floor and only those models, and keeps every other
model's figures from the results file already written (for one model trained again, without the
hour DDPM-1000 takes).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# isort: off
from _common import RESULTS, model_checkpoints, report  # noqa: E402  (first: it imports studio, before torch loads)
# isort: on
import numpy as np  # noqa: E402
import torch  # noqa: E402

from studio.core.capabilities import SampleOptions, sample_images  # noqa: E402
from studio.core.checkpoint import load_model, read_header  # noqa: E402
from studio.core.data import load_data  # noqa: E402
from studio.core.metrics import compare_images, judge_features, measure_fd, measure_kid  # noqa: E402
from studio.core.plugins import discover  # noqa: E402
from studio.core.starters import starters  # noqa: E402
from studio.engine.machine import use_inference_threads  # noqa: E402

REGISTRY = discover().registry
KINDS = ("diffusion", "dcgan", "wgan-gp", "cgan")
CHUNK = 50
OVERHEAD_IMAGES = 16


def sample(model, count: int, options=None, condition=None, first: int = 0) -> tuple[np.ndarray, float]:
    """``count`` images (image i from seed ``first`` + i) and the seconds they took."""
    started = time.perf_counter()
    images = [sample_images(model, min(CHUNK, first + count - start), seed=start, options=options,
                            condition=condition) for start in range(first, first + count, CHUNK)]
    return np.concatenate(images), time.perf_counter() - started


def sample_classes(model, count: int, options) -> tuple[np.ndarray, np.ndarray, float]:
    """``count`` images of a class-conditional diffusion model, an equal share of them asked of each class
    in turn (image i from seed i still), with the classes asked and the seconds they took."""
    shares = [share for share in np.array_split(np.arange(count), len(model.class_names)) if len(share)]
    made = [sample(model, len(share), options, {"label": label}, first=int(share[0]))
            for label, share in enumerate(shares)]
    asked = np.concatenate([np.full(len(share), label) for label, share in enumerate(shares)])
    return np.concatenate([images for images, _ in made]), asked, sum(seconds for _, seconds in made)


def held_out() -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST's test images at 32x32 in a fixed random order, with their labels."""
    from types import SimpleNamespace

    data = load_data(REGISTRY, "images", "fashion-mnist", SimpleNamespace(image_size=32, channels=1))
    test = data.split(seed=0).validation
    order = np.random.default_rng(0).permutation(len(test))
    return test.images[order], test.labels[order]


def hand_loop(model, n: int, steps: int, batch: int) -> float:
    """Images/s of the U-Net and diffusers' DDIM looped by hand (unconditional), ``batch`` per call."""
    from studio_builtins.diffusion.sampling import make_scheduler

    started = time.perf_counter()
    with torch.no_grad():
        for begin in range(0, n, batch):
            rows = min(batch, n - begin)
            scheduler = make_scheduler("DDIM", model)
            scheduler.set_timesteps(steps)
            x = torch.randn(rows, model.config.channels, *model.image_shape[:2])
            labels = torch.full((rows,), model.null_label) if model.class_names else None
            for t in scheduler.timesteps:
                x = scheduler.step(model(x, t.expand(rows), labels), t, x).prev_sample
    return n / (time.perf_counter() - started)


def canvas_path(model, n: int, steps: int) -> float:
    started = time.perf_counter()
    sample_images(model, n, seed=0, options=SampleOptions(steps=steps, sampler="DDIM"))
    return n / (time.perf_counter() - started)


def find_models(given: list[str]) -> dict[str, Path]:
    return {**{s.spec: s.checkpoint for s in starters()}, **model_checkpoints(given, KINDS)}


def measured_by(kind: str, metric: str) -> bool:
    """Whether measuring model ``kind`` writes ``metric`` (the judge's and the floor's figures are always
    measured)."""
    if metric.startswith(("judge_", "fd_real", "kid_real")) or metric in ("samples", "ddpm_samples", "torch_threads"):
        return True
    if kind == "diffusion":
        return any(key in metric for key in ("ddim", "ddpm", "dpm_solver", "sampler_overhead", "bare_full",
                                             "diffusion"))
    return metric.split("_")[1:2] == [kind.replace("-", "")] or metric.startswith(kind)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--ddpm-samples", type=int, default=500)
    parser.add_argument("--model", action="append", default=[], metavar="KIND=CHECKPOINT")
    parser.add_argument("--judge", type=Path)
    parser.add_argument("--only", action="append", choices=KINDS, metavar="KIND")
    args = parser.parse_args()
    use_inference_threads()  # as the canvas's inference thread runs (half the cores: faster here than all)
    n, m = (100, 30) if args.quick else (args.samples, args.ddpm_samples)
    models = find_models(args.model)
    kept: dict[str, float] = {}
    if args.only:
        if not (RESULTS / "canvas.json").is_file():
            raise SystemExit("--only keeps the other models' figures from results/canvas.json, which is not there yet")
        kept = {name: value for name, value in json.loads((RESULTS / "canvas.json").read_text()).items()
                if not any(measured_by(kind, name) for kind in args.only)}
        models = {kind: path for kind, path in models.items() if kind in args.only or kind == "cnn-classifier"}
    judge_path = args.judge or models.get("cnn-classifier")
    if judge_path is None:
        raise SystemExit("No judge: ship the CNN starter or pass --judge CHECKPOINT")
    judge = load_model(REGISTRY, read_header(judge_path).spec, judge_path)
    images, labels = held_out()
    metrics: dict[str, float] = {"samples": n, "ddpm_samples": m, "torch_threads": torch.get_num_threads()}
    notes: dict[str, str] = {}

    accuracy = float((judge.classify(images.astype(np.float32) / 255).argmax(1) == labels).mean())
    metrics["judge_accuracy"] = accuracy
    notes["judge_accuracy"] = f"{read_header(judge_path).spec} at step {read_header(judge_path).step}"
    reference = judge_features(judge, images[:n])
    floor = judge_features(judge, images[n:2 * n])
    metrics["fd_real_vs_real"] = measure_fd(floor, reference).value
    metrics["kid_real_vs_real"] = measure_kid(floor, reference).value
    metrics["fd_real_vs_real_at_ddpm"] = measure_fd(floor[:m], reference[:m]).value
    notes["fd_real_vs_real"] = f"two disjoint sets of {n} held-out images"

    def measure(name: str, samples: np.ndarray, against: np.ndarray = images[:n]) -> None:
        distances = compare_images(judge, samples, against)
        metrics[f"fd_{name}"], metrics[f"kid_{name}"] = distances.fd.value, distances.kid.value
        metrics[f"fd_{name}_error"] = distances.fd.error
        print(f"  {name}: FD {distances.fd}  KID {distances.kid}", flush=True)

    if "diffusion" in models:
        model = load_model(REGISTRY, "diffusion", models["diffusion"])
        notes["fd_ddim20"] = f"diffusion at step {read_header(models['diffusion']).step}"
        conditional = bool(model.class_names)
        for name, sampler, steps, count in (("ddim20", "DDIM", 20, n), ("dpm_solver20", "DPM++ 2M", 20, n),
                                            ("ddim100", "DDIM", 100, n), ("ddpm1000", "DDPM", 1000, m)):
            if conditional:
                options = SampleOptions(steps=steps, sampler=sampler, guidance_scale=1.0)
                made, asked, seconds = sample_classes(model, count, options)
            else:
                made, seconds = sample(model, count, SampleOptions(steps=steps, sampler=sampler))
            metrics[f"{name}_s_per_image"] = seconds / count
            measure(name, made, images[:count])
            if conditional and name == "ddim20":
                metrics["diffusion_class_accuracy"] = float((judge.classify(made).argmax(1) == asked).mean())
                made, _ = sample(model, n, SampleOptions(steps=steps, sampler=sampler))
                measure("ddim20_unconditional", made)
        metrics["ddim20_vs_ddpm1000_time_ratio"] = metrics["ddim20_s_per_image"] / metrics["ddpm1000_s_per_image"]
        canvas = max(canvas_path(model, OVERHEAD_IMAGES, 20) for _ in range(3))
        from studio_builtins.diffusion.sampling import rows_per_call

        rows = rows_per_call(model.image_shape, torch.device("cpu"))
        bare = max(hand_loop(model, OVERHEAD_IMAGES, 20, rows) for _ in range(3))
        full = max(hand_loop(model, OVERHEAD_IMAGES, 20, OVERHEAD_IMAGES) for _ in range(3))
        metrics["sampler_overhead_ratio"] = canvas / bare
        metrics["bare_full_batch_ratio"] = full / canvas
        notes["sampler_overhead_ratio"] = f"{canvas:.1f} vs {bare:.1f} images/s, {rows} images per network call"

    for kind, key in (("dcgan", "dcgan"), ("wgan-gp", "wgangp"), ("cgan", "cgan")):
        if kind not in models:
            continue
        model = load_model(REGISTRY, kind, models[kind])
        notes[f"fd_{key}"] = f"{kind} at step {read_header(models[kind]).step}"
        made, _ = sample(model, n)  # the conditional GAN: every class in turn
        measure(key, made)
        if kind == "cgan":
            asked = np.arange(n) % len(model.class_names)
            metrics["cgan_class_accuracy"] = float((judge.classify(made).argmax(1) == asked).mean())

    report("canvas", {**kept, **metrics}, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
