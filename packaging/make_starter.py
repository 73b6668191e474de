"""Make the starter models and the data they ship (for the maintainers; resources/starters/README.md
records each command and its run).

    .venv/bin/python packaging/make_starter.py starter RUN_FOLDER DEST --title TITLE [--map-data SOURCE]
    .venv/bin/python packaging/make_starter.py fashion-mnist-sample DEST [--count 3000]

``starter`` turns a finished `studio train` run into a starter: its weights (``model.*``, and the random
state) without the optimizers' state or anything else a resume needs (a diffusion run's trained weights
beside the averaged ones it samples: training further starts from the averaged ones and a new
optimizer), ``--half`` storing the weights as float16 (half the size; the model computes in float32 as
ever, from weights rounded to float16's 11 significant bits), its job.json
(with ``map_data``, the data a latent map of it shows), and starter.json with the command that
trained it, rebuilt from its job.json. ``fashion-mnist-sample`` writes ``count`` of Fashion-MNIST's
held-out test images, chosen evenly across the classes with a fixed seed, as gzipped IDX files.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import sys
from pathlib import Path

import numpy as np


def make_starter(run: Path, dest: Path, title: str, map_data: str | None, description: str,
                 half: bool = False) -> None:
    import torch

    from studio.core.capabilities import TrainState
    from studio.core.checkpoint import read_checkpoint, save_checkpoint
    from studio.core.config import config_from_dict
    from studio.core.plugins import discover

    registry = discover().registry
    checkpoint = read_checkpoint(run / "checkpoint.safetensors")
    job = json.loads((run / "job.json").read_text())
    spec = registry.model(checkpoint.spec)
    config = config_from_dict(spec.config, checkpoint.config)
    kept = {k: v for k, v in checkpoint.state.tensors.items() if k.startswith(("model.", "rng."))}
    if half:
        # float32 weights only: a controller's float64 parameters are CMA-ES's exact candidate, and small
        kept = {k: v.half() if k.startswith("model.") and v.dtype == torch.float32 else v for k, v in kept.items()}
    meta = {k: v for k, v in checkpoint.state.meta.items() if k not in ("optimizer", "optimizers")}
    dest.mkdir(parents=True, exist_ok=True)
    save_checkpoint(dest / "checkpoint.safetensors", spec.name, config, checkpoint.step, TrainState(kept, meta))
    if map_data:
        job["map_data"] = map_data
    command = _command(spec, job)
    job.pop("start_from", None)
    (dest / "job.json").write_text(json.dumps(job, indent=2) + "\n")
    about = {"title": title, "spec": spec.name, "step": checkpoint.step, "description": description,
             "command": command}
    (dest / "starter.json").write_text(json.dumps(about, indent=2) + "\n")
    size = (dest / "checkpoint.safetensors").stat().st_size / 2**20
    print(f"wrote {dest} ({spec.name} at step {checkpoint.step}, {size:.1f} MB): {about['command']}")


def _command(spec, job: dict) -> str:
    """The `studio train` command of a run, from its job.json: settings other than the defaults as --set
    (the fields the trainer learns, a tokenizer, are left out), a --from for each model it is built on, and
    --start-from START for a run that trained a checkpoint further (the README names which)."""
    defaults = dataclasses.asdict(spec.config())
    learned = {f.name for f in dataclasses.fields(spec.config) if f.metadata.get("learned")}
    sets = [f"--set {k}={v}" for k, v in job["config"].items() if k not in learned and defaults.get(k) != v]
    upstream = [f"--from {name}=RUN_OF_{name.upper()}" for name in job.get("upstream", {})]
    start = ["--start-from", "START"] if job.get("start_from") else []
    words = ["studio train", spec.name, "--data", job["data"], "--steps", str(job["steps"]), "--seed",
             str(job["seed"]), *sets, *upstream, *start, "--out", "RUN"]
    return " ".join(words)


def fashion_mnist_sample(dest: Path, count: int) -> None:
    from studio.core.data.images import FASHION_MNIST_DIR, _idx_set

    images, labels = _idx_set(FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz")
    rng = np.random.default_rng(0)
    per_class = count // 10
    chosen = np.sort(np.concatenate([rng.choice(np.flatnonzero(labels == c), per_class, replace=False)
                                     for c in range(10)]))
    dest.mkdir(parents=True, exist_ok=True)
    picked = images[chosen, :, :, 0]
    _write_idx(dest / "sample-images-idx3-ubyte.gz", picked)
    _write_idx(dest / "sample-labels-idx1-ubyte.gz", labels[chosen].astype(np.uint8))
    print(f"wrote {len(chosen)} held-out test images to {dest}")


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    starter = sub.add_parser("starter")
    starter.add_argument("run", type=Path)
    starter.add_argument("dest", type=Path)
    starter.add_argument("--title", required=True)
    starter.add_argument("--map-data")
    starter.add_argument("--description", default="")
    starter.add_argument("--half", action="store_true", help="store the weights as float16")
    sample = sub.add_parser("fashion-mnist-sample")
    sample.add_argument("dest", type=Path)
    sample.add_argument("--count", type=int, default=3000)
    args = parser.parse_args()
    if args.what == "starter":
        make_starter(args.run, args.dest, args.title, args.map_data, args.description, args.half)
    else:
        fashion_mnist_sample(args.dest, args.count)
    return 0


if __name__ == "__main__":
    sys.exit(main())
