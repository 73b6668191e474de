"""A base class for PyTorch trainers: the parts every model family repeats.

A plugin's trainer subclasses :class:`TorchTrainer` and writes what is its own:
:meth:`build_model`, :meth:`train_step` and :meth:`validation_losses` (and
optionally :meth:`preview`). The base class provides the rest of the
:class:`~studio.core.capabilities.Trainer` protocol:

- seeded, resumable batches: the order of examples depends only on the seed
  and the step, so a resumed run sees exactly the batches it would have seen;
- checkpointable state: model and optimizer tensors, the optimizers' settings
  and the torch random state (CPU, and CUDA when training on it), with no pickling.
  A trainer has one optimizer (:meth:`build_optimizer`) or several by name
  (:meth:`build_optimizers`: a GAN's generator and critic), each saved apart;
- data parallelism: when ``torch.distributed`` is initialised (``torchrun``),
  the model is wrapped in ``DistributedDataParallel`` and each rank trains on its
  own slice of every global batch. A checkpoint holds rank 0's state: after a
  restore every rank takes rank 0's weights, and draws its own random stream,
  seeded by (seed, rank, step), so ranks never share noise;
- a cancel during validation: :attr:`stop_requested` is checked before every
  forward pass of the model while validating.

Import this module only from trainer modules: it imports torch.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Iterator, Mapping, Optional

import numpy as np
import torch
import torch.distributed as dist

from studio.core.capabilities import Cancelled, ModelError, TrainProgress, TrainState

OPTIM_PREFIX = "optim."
#: The name :meth:`TorchTrainer.build_optimizers` gives a trainer's only optimizer. Its state keeps the names
#: checkpoints had before a trainer could have several: tensors ``optim.{param_id}.{key}``, meta ``optimizer``.
#: A named optimizer's are ``optim.{name}.{param_id}.{key}`` and ``optimizers[name]``.
SINGLE_OPTIMIZER = ""


class TorchTrainer:
    """Subclasses set :attr:`batch_size` (per rank) before calling ``super().__init__``
    or through their config, and implement the abstract methods below."""

    batch_size: int = 32
    learning_rate: float = 1e-3

    def __init__(self, config: Any, data: Any, device: str = "cpu", seed: int = 0) -> None:
        self.config = config
        self.data = data
        self.device = torch.device(device)
        self.seed = seed
        #: set by the run: whether a cancel was asked for (checked while validating)
        self.stop_requested: Callable[[], bool] = _never
        torch.manual_seed(seed)  # identical initial weights on every rank
        self.model = self.build_model().to(self.device)
        #: every optimizer by name; checkpointed apart
        self.optimizers: dict[str, torch.optim.Optimizer] = dict(self.build_optimizers())
        for name in self.optimizers:
            if name != SINGLE_OPTIMIZER and not name.isidentifier():
                raise ValueError(f"An optimizer's name must be a Python identifier (its tensors are named "
                                 f"optim.NAME.*), not {name!r}.")
        #: the optimizer of a trainer with one (None when it has several by name)
        self.optimizer = self.optimizers.get(SINGLE_OPTIMIZER)
        self.distributed = dist.is_available() and dist.is_initialized()
        self.rank = dist.get_rank() if self.distributed else 0
        self.world_size = dist.get_world_size() if self.distributed else 1
        #: what train_step calls forward on: the model, or its DDP wrapper
        self.train_module = self.model
        if self.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.train_module = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        torch.manual_seed(seed + self.rank)  # different noise per rank from here on

    # -- for subclasses --------------------------------------------------------
    def build_model(self) -> torch.nn.Module:
        raise NotImplementedError

    def build_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.model.parameters(), lr=self.learning_rate)

    def build_optimizers(self) -> Mapping[str, torch.optim.Optimizer]:
        """The optimizers by name: by default :meth:`build_optimizer`'s alone, which is :attr:`optimizer`.
        A trainer with several (a GAN's generator and critic) returns them under names that are Python
        identifiers; :meth:`state` and :meth:`restore` keep each apart."""
        return {SINGLE_OPTIMIZER: self.build_optimizer()}

    def train_examples(self) -> int:
        """How many training examples there are (batches index 0..n-1)."""
        raise NotImplementedError

    def make_batch(self, indices: np.ndarray) -> Any:
        """The batch of the given example indices, on :attr:`device`."""
        raise NotImplementedError

    def train_step(self, batch: Any) -> Mapping[str, float]:
        """One optimisation step on ``batch`` using :attr:`train_module`; returns losses."""
        raise NotImplementedError

    def validation_losses(self) -> Mapping[str, float]:
        """Losses on held-out data; called in eval mode under ``torch.no_grad()``."""
        raise NotImplementedError

    def preview(self, *, seed: int) -> Optional[np.ndarray]:
        return None

    # -- the Trainer protocol -------------------------------------------------------
    def steps(self, start: int, total: int) -> Iterator[TrainProgress]:
        self.model.train()
        if self.distributed:
            # this rank's own stream; a checkpoint holds only rank 0's, so a resumed run derives it too
            torch.manual_seed(rank_seed(self.seed, self.rank, start))
        n = self.train_examples()
        for step in range(start, total):
            indices = self.batch_indices(step)
            losses = self.train_step(self.make_batch(indices))
            done = (step + 1) * self.batch_size * self.world_size
            yield TrainProgress(step=step + 1, epoch=done / n, losses=dict(losses), items=len(indices))

    def batch_indices(self, step: int) -> np.ndarray:
        """This rank's example indices for ``step``: a slice of the global batch,
        drawn from a per-epoch permutation seeded by (seed, epoch)."""
        n = self.train_examples()
        global_batch = self.batch_size * self.world_size
        start = step * global_batch
        indices: list[int] = []
        while len(indices) < global_batch:
            epoch, offset = divmod(start + len(indices), n)
            order = _permutation(self.seed, epoch, n)
            indices.extend(order[offset:offset + global_batch - len(indices)])
        mine = indices[self.rank * self.batch_size:(self.rank + 1) * self.batch_size]
        return np.asarray(mine, dtype=np.int64)

    @torch.no_grad()
    def validate(self) -> Mapping[str, float]:
        """:meth:`validation_losses` in eval mode; raises :class:`Cancelled` at the next
        forward pass once :attr:`stop_requested` says so."""
        was_training = self.model.training
        self.model.eval()
        hook = self.model.register_forward_pre_hook(self._check_stop)
        try:
            return dict(self.validation_losses())
        finally:
            hook.remove()
            self.model.train(was_training)

    def _check_stop(self, *_: Any) -> None:
        if self.stop_requested():
            raise Cancelled()

    def state(self) -> TrainState:
        tensors = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        meta: dict[str, Any] = {}
        for name, optimizer in self.optimizers.items():
            saved = _save_optimizer(optimizer, _optim_prefix(name), tensors)
            if name == SINGLE_OPTIMIZER:
                meta["optimizer"] = saved
            else:
                meta.setdefault("optimizers", {})[name] = saved
        tensors["rng.torch"] = torch.get_rng_state()
        if self.device.type == "cuda":
            tensors["rng.cuda"] = torch.cuda.get_rng_state(self.device)
        return TrainState(tensors, meta)

    def restore(self, state: TrainState) -> None:
        weights = {k[6:]: v for k, v in state.tensors.items() if k.startswith("model.")}
        self.model.load_state_dict(weights)
        for name, optimizer in self.optimizers.items():
            saved = state.meta.get("optimizer") if name == SINGLE_OPTIMIZER else \
                state.meta.get("optimizers", {}).get(name)
            _load_optimizer(optimizer, _optim_prefix(name), saved or {}, state.tensors, self.device)
        if "rng.torch" in state.tensors:
            torch.set_rng_state(state.tensors["rng.torch"].to(torch.uint8).cpu())
        if "rng.cuda" in state.tensors and self.device.type == "cuda":
            torch.cuda.set_rng_state(state.tensors["rng.cuda"].to(torch.uint8).cpu(), self.device)
        if self.distributed:  # every rank read the file; make sure they all hold rank 0's weights
            for tensor in self.model.state_dict().values():
                dist.broadcast(tensor, src=0)


def _optim_prefix(name: str) -> str:
    return OPTIM_PREFIX if name == SINGLE_OPTIMIZER else f"{OPTIM_PREFIX}{name}."


def _save_optimizer(optimizer: torch.optim.Optimizer, prefix: str, tensors: dict[str, Any]) -> dict[str, Any]:
    """Put the optimizer's tensors into ``tensors`` as ``{prefix}{param_id}.{key}``; its JSON-able rest."""
    optim = optimizer.state_dict()
    numbers: dict[str, dict[str, Any]] = {}
    for param_id, values in optim["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}{param_id}.{key}"] = value
            else:
                numbers.setdefault(str(param_id), {})[key] = value
    return {"param_groups": optim["param_groups"], "numbers": numbers}


def _load_optimizer(optimizer: torch.optim.Optimizer, prefix: str, saved: Mapping[str, Any],
                    tensors: Mapping[str, Any], device: torch.device) -> None:
    """Load what :func:`_save_optimizer` saved. Only names whose next part is a parameter id are this
    optimizer's (``optim.0.exp_avg`` is the single optimizer's, ``optim.critic.0.exp_avg`` the critic's)."""
    per_param: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        param_id, _, key = name[len(prefix):].partition(".")
        if name.startswith(prefix) and param_id.isdigit() and key:
            # a copy: the optimizer must not share tensors with whoever holds the state
            per_param.setdefault(int(param_id), {})[key] = value.to(device, copy=True)
    if saved and per_param:  # a checkpoint of weights alone (a starter) leaves the optimizer new
        for param_id, values in saved.get("numbers", {}).items():
            per_param.setdefault(int(param_id), {}).update(values)
        optimizer.load_state_dict({"state": per_param, "param_groups": saved["param_groups"]})


def decay_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW parameter groups as nanoGPT makes them: weight matrices and embeddings decay, biases and
    norm gains do not."""
    params = [p for p in model.parameters() if p.requires_grad]
    return [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]


def warmup_cosine(step: int, total: int, peak: float, low: float, warmup: int) -> float:
    """nanoGPT's learning-rate schedule: linear warm-up to ``peak``, then cosine decay to ``low`` at
    step ``total``."""
    if step < warmup:
        return peak * (step + 1) / (warmup + 1)
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return low + 0.5 * (1.0 + math.cos(math.pi * progress)) * (peak - low)


def check_image_split(config: Any, data: Any) -> None:
    """Refuse, with a :class:`ModelError` that says why, a ``DataSplit`` an image model cannot train on:
    a part that holds no images, or images of another shape than ``config``'s ``image_size`` and
    ``channels``."""
    expected = (config.image_size, config.image_size, config.channels)
    for part, images in (("training", data.train), ("validation", data.validation)):
        if getattr(images, "images", None) is None:
            raise ModelError(f"This model trains on images; the {part} data of {data.name or 'the dataset'} "
                             "holds none.")
        if len(images) == 0:
            raise ModelError(f"The {part} part of {data.name or 'the dataset'} has no images.")
        if images.image_shape != expected:
            raise ModelError(f"The {part} images are {images.image_shape}, but the model was set up for "
                             f"{expected}; load the data with the model's image_size and channels.")


def rank_seed(seed: int, rank: int, step: int) -> int:
    """The seed of one rank's random stream from ``step`` on (distinct for every rank and step)."""
    return int(np.random.SeedSequence([seed, rank, step]).generate_state(1, dtype=np.uint64)[0] >> 1)


def _never() -> bool:
    return False


@functools.lru_cache(maxsize=2)
def _permutation(seed: int, epoch: int, n: int) -> np.ndarray:
    """An epoch's order of examples, drawn once: a text has an example per token,
    millions of them, and drawing the order every step would cost more than the step."""
    return np.random.default_rng((seed, epoch)).permutation(n)
