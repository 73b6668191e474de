"""TorchTrainer's checkpointed optimizers: one (its tensors named as they always were) or several by name."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from studio.core.capabilities import TrainState
from studio.core.data import DataSplit
from studio.core.training import TorchTrainer

POINTS = np.random.default_rng(0).standard_normal((64, 3)).astype(np.float32)


class Line(TorchTrainer):
    """Fits y = 2x to a few points: one optimizer, as every trainer had until GANs."""

    batch_size = 8

    def build_model(self) -> torch.nn.Module:
        return torch.nn.Linear(3, 3)

    def train_examples(self) -> int:
        return len(POINTS)

    def make_batch(self, indices: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(POINTS[indices])

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        return (self.model(x) - 2 * x + 0.01 * torch.randn_like(x)).square().mean()

    def train_step(self, batch: torch.Tensor) -> dict[str, float]:
        loss = self.loss(batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.item()}


class TwoParts(Line):
    """The same, with the weight and the bias each under an optimizer of its own (a GAN's two networks)."""

    def build_optimizers(self):
        return {"weight": torch.optim.Adam([self.model.weight], lr=1e-2),
                "bias": torch.optim.SGD([self.model.bias], lr=1e-2, momentum=0.9)}

    def train_step(self, batch: torch.Tensor) -> dict[str, float]:
        loss = self.loss(batch)
        for optimizer in self.optimizers.values():
            optimizer.zero_grad(set_to_none=True)
        loss.backward()
        for optimizer in self.optimizers.values():
            optimizer.step()
        return {"loss": loss.item()}


class SingleAndNamed(TwoParts):
    """An unnamed optimizer beside a named one: their tensors must not be confused."""

    def build_optimizers(self):
        return {"": torch.optim.Adam([self.model.weight], lr=1e-2),
                "bias": torch.optim.Adam([self.model.bias], lr=1e-3)}


def data():
    return DataSplit(train=POINTS, validation=POINTS)


def optimizer_states(trainer):
    optimizers = getattr(trainer, "optimizers", {"": trainer.optimizer})
    return {name: optimizer.state_dict() for name, optimizer in optimizers.items()}


def assert_same_optimizers(a, b):
    for name, state in optimizer_states(a).items():
        other = optimizer_states(b)[name]
        assert state["param_groups"] == other["param_groups"]
        assert state["state"].keys() == other["state"].keys()
        for param_id, values in state["state"].items():
            for key, value in values.items():
                assert torch.equal(torch.as_tensor(value), torch.as_tensor(other["state"][param_id][key]))


def test_a_trainer_with_one_optimizer_saves_it_under_the_names_checkpoints_always_had():
    trainer = Line(None, data(), seed=0)
    list(trainer.steps(0, 3))
    state = trainer.state()
    optim = sorted(k for k in state.tensors if k.startswith("optim."))
    assert optim == ["optim.0.exp_avg", "optim.0.exp_avg_sq", "optim.0.step",
                     "optim.1.exp_avg", "optim.1.exp_avg_sq", "optim.1.step"]
    assert set(state.meta) == {"optimizer"} and set(state.meta["optimizer"]) == {"param_groups", "numbers"}


@pytest.mark.parametrize("kind", [Line, TwoParts, SingleAndNamed])
def test_resume_is_exact_with_one_optimizer_or_several(kind):
    uninterrupted = [p.losses for p in kind(None, data(), seed=3).steps(0, 8)]
    first = kind(None, data(), seed=3)
    list(first.steps(0, 4))
    state = first.state()
    resumed = kind(None, data(), seed=3)
    resumed.restore(state)
    assert_same_optimizers(resumed, first)
    assert [p.losses for p in resumed.steps(4, 8)] == uninterrupted[4:]


def test_named_optimizers_are_saved_apart():
    trainer = TwoParts(None, data(), seed=0)
    list(trainer.steps(0, 2))
    state = trainer.state()
    assert trainer.optimizer is None  # only a trainer with one has ``optimizer``
    optim = sorted(k for k in state.tensors if k.startswith("optim."))
    assert optim == ["optim.bias.0.momentum_buffer", "optim.weight.0.exp_avg", "optim.weight.0.exp_avg_sq",
                     "optim.weight.0.step"]
    assert set(state.meta) == {"optimizers"} and set(state.meta["optimizers"]) == {"weight", "bias"}
    assert state.meta["optimizers"]["bias"]["param_groups"][0]["momentum"] == 0.9


def test_an_unnamed_optimizer_beside_named_ones_keeps_its_own_tensors():
    trainer = SingleAndNamed(None, data(), seed=0)
    list(trainer.steps(0, 2))
    state = trainer.state()
    names = [k for k in state.tensors if k.startswith("optim.")]
    assert all(re.fullmatch(r"optim\.(bias\.)?0\.(step|exp_avg|exp_avg_sq)", k) for k in names) and len(names) == 6
    restored = SingleAndNamed(None, data(), seed=0)
    restored.restore(state)
    assert_same_optimizers(restored, trainer)


@pytest.mark.parametrize("kind", [Line, TwoParts])
def test_weights_alone_a_starter_leave_every_optimizer_new(kind):
    trainer = kind(None, data(), seed=0)
    list(trainer.steps(0, 3))
    weights = {k: v for k, v in trainer.state().tensors.items() if k.startswith("model.")}
    further = kind(None, data(), seed=1)
    further.restore(TrainState(weights, {}))
    assert all(not state["state"] for state in optimizer_states(further).values())
    assert all(torch.equal(v, trainer.model.state_dict()[k]) for k, v in further.model.state_dict().items())


def test_an_optimizer_name_must_make_a_tensor_name():
    class Dotted(Line):
        def build_optimizers(self):
            return {"the.critic": torch.optim.Adam(self.model.parameters())}

    with pytest.raises(ValueError, match="Python identifier.*'the.critic'"):
        Dotted(None, data())
