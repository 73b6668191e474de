"""C, the World Models controller: its size at the defaults, CMA-ES generations that keep the best, scores that
do not depend on the number of workers, a stopped run that resumes exactly, a checkpoint that is a world model
the controller drives, and its evaluation in the real CarRacing."""

import json
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from needs import BOX2D, needs_module

from studio.core.capabilities import WorldModel
from studio.core.checkpoint import read_checkpoint, save_checkpoint
from studio.core.config import config_from_dict
from studio.core.errors import UserError
from studio.core.plugins import discover
from studio.engine.train_request import TrainRequest
from studio.engine.training import run
from studio_builtins.world_models.config import ControllerConfig, MDNRNNConfig
from studio_builtins.world_models.control import Controller, ControllerTrainer, evaluate
from studio_builtins.world_models.memory import MDNRNN
from studio_builtins.world_models.rollouts import Episode, episode_name, save_episode

TARGET = np.array([0.5, 0.8, 0.0], dtype=np.float32)  #: the action the fake world rewards


@dataclass
class TrackConfig:
    latent_dim: int = 4
    hidden: int = 8


class Track(torch.nn.Module):
    """A fake M whose dream pays for driving close to :data:`TARGET`, whatever z and h are."""

    frame_shape = (64, 64, 3)

    def __init__(self, config=None):
        super().__init__()
        self.config = config or TrackConfig()
        self.register_buffer("scale", torch.ones(1))

    def dream(self):
        return TrackDream(self.config)


class TrackDream:
    def __init__(self, config):
        self.config = config

    def reset(self, *, seed, frame=None):
        rng = np.random.default_rng(seed)
        self.z = rng.standard_normal(self.config.latent_dim).astype(np.float32)
        self.h = np.zeros(self.config.hidden, np.float32)
        return np.zeros((64, 64, 3), np.float32)

    def advance(self, action, *, temperature=1.0):
        self.h = np.tanh(self.h + 0.1 * np.resize(action, self.config.hidden)).astype(np.float32)
        return 1.0 - float(np.sum((np.asarray(action) - TARGET) ** 2)), False


def small(**fields):
    values = dict(population=6, rollouts_per_candidate=2, workers=1, max_steps=10, sigma0=0.5)
    return ControllerConfig(**{**values, **fields})


def tiny_memory():
    torch.manual_seed(0)
    return MDNRNN(MDNRNNConfig(latent_dim=4, hidden=8, gaussians=2)).eval()


def test_the_default_controller_has_867_parameters_and_acts_within_carracing_s_bounds():
    controller = Controller(ControllerConfig())
    assert controller.parameter_count == 3 * (32 + 256) + 3 == 867
    assert isinstance(controller, WorldModel) and controller.action_shape == (3,)
    controller.set_flat(np.random.default_rng(0).normal(0, 3, 867))
    rng = np.random.default_rng(1)
    actions = np.array([controller.act(rng.normal(0, 3, 32), rng.normal(0, 1, 256)) for _ in range(50)])
    assert actions.min(axis=0) == pytest.approx([-1, 0, 0], abs=0.05)  # tanh's range, gas and brake moved to [0, 1]
    assert actions.max(axis=0) == pytest.approx([1, 1, 1], abs=0.05)
    assert np.all(actions >= [-1, 0, 0]) and np.all(actions <= [1, 1, 1])


def test_a_controller_on_z_alone_ignores_m_s_memory():
    controller = Controller(small(use_memory=False), Track())
    assert controller.parameter_count == 3 * 4 + 3
    controller.set_flat(np.random.default_rng(0).normal(0, 1, 15))
    z = np.ones(4, np.float32)
    assert np.array_equal(controller.act(z, np.zeros(8, np.float32)), controller.act(z, np.ones(8, np.float32)))
    trainer = ControllerTrainer(small(use_memory=False), None, seed=3, upstream={"mdn-rnn": Track()})
    assert [len(c) for c in trainer.strategy.ask()] == [15] * 6


def test_generations_keep_the_best_score_and_improve_it():
    trainer = ControllerTrainer(small(), None, seed=3, upstream={"mdn-rnn": Track()})
    progress = list(trainer.steps(0, 8))
    best = [p.losses["best_score"] for p in progress]
    assert [p.step for p in progress] == list(range(1, 9))
    assert best == sorted(best) and best[-1] > best[0] + 0.05
    assert best[-1] == max(p.losses["generation_best"] for p in progress)
    assert all(p.losses["mean_score"] <= p.losses["generation_best"] for p in progress)
    # the best candidate drives better than where CMA-ES started, on rollouts it was not chosen on
    untrained = ControllerTrainer(small(), None, seed=3, upstream={"mdn-rnn": Track()})
    assert trainer.validate()["val_score"] > untrained.validate()["val_score"] + 0.5
    z, h = np.zeros(4, np.float32), np.zeros(8, np.float32)
    start = untrained.model.act(z, h)
    assert np.sum((trainer.model.act(z, h) - TARGET) ** 2) < np.sum((start - TARGET) ** 2)


def test_scores_do_not_depend_on_the_number_of_workers():
    memory = tiny_memory()
    runs = {}
    for workers in (1, 2):
        trainer = ControllerTrainer(small(workers=workers, population=4, max_steps=15), None, seed=5,
                                    upstream={"mdn-rnn": memory})
        try:
            runs[workers] = ([p.losses for p in trainer.steps(0, 2)], trainer.validate(), trainer.best)
        finally:
            trainer.close()
    assert runs[1][0] == runs[2][0] and runs[1][1] == runs[2][1]
    assert np.array_equal(runs[1][2], runs[2][2])


def test_a_stopped_run_restored_from_its_checkpoint_goes_on_as_if_it_had_never_stopped(tmp_path):
    def trainer():
        return ControllerTrainer(small(), None, seed=7, upstream={"mdn-rnn": Track()})

    whole = trainer()
    losses = [p.losses for p in whole.steps(0, 4)]

    stopped = trainer()
    for _ in stopped.steps(0, 2):
        pass
    save_checkpoint(tmp_path / "c.safetensors", "controller", stopped.config, 2, stopped.state())
    state = read_checkpoint(tmp_path / "c.safetensors").state  # safetensors and JSON, nothing pickled
    assert state.tensors["cma.C"].shape == (39, 39) and state.meta["cma"]["numbers"]["countiter"] == 2

    resumed = trainer()
    resumed.restore(state)
    assert [p.losses for p in resumed.steps(2, 4)] == losses[2:]
    assert np.array_equal(resumed.best, whole.best) and resumed.best_score == whole.best_score
    assert np.array_equal(np.array(resumed.strategy.ask()), np.array(whole.strategy.ask()))  # the same next population


def test_a_controller_checkpoint_is_a_world_model_the_controller_drives(tmp_path):
    trainer = ControllerTrainer(small(population=4, max_steps=5), None, seed=1, upstream={"mdn-rnn": tiny_memory()})
    for _ in trainer.steps(0, 1):
        pass
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, "controller", trainer.config, 1, trainer.state())
    saved = read_checkpoint(path, weights_only=True)
    config = config_from_dict(ControllerConfig, saved.config)
    assert json.loads(config.memory_json)["latent_dim"] == 4
    loaded = Controller(config)  # as the studio loads it: the config alone, then the weights
    loaded.load_state_dict({k[len("model."):]: v for k, v in saved.state.tensors.items()})
    assert np.array_equal(loaded.flat(), trainer.best)
    dream = loaded.dream()
    first = dream.reset(seed=0)
    assert first.shape == (64, 64, 3)
    action = loaded.act(dream.z, dream.h)
    assert action.shape == (3,) and np.array_equal(action, trainer.model.act(dream.z, dream.h))
    assert dream.step(action).frame.shape == (64, 64, 3)
    strip = trainer.preview(seed=0)  # the Jobs dock's picture: the controller driving in the dream
    assert strip.shape[0] == 64 and strip.shape[1] in range(64, 64 * 8 + 1, 64) and strip.shape[2] == 3
    assert 0 <= strip.min() and strip.max() <= 1
    with torch.no_grad():
        trainer.model.memory.mdn.bias[-1] = -20.0  # M's done head: the untrained dream no longer ends at once
    assert trainer.preview(seed=0).shape == (64, 64 * 8, 3)


def test_bad_settings_and_a_missing_mdn_rnn_are_explained():
    with pytest.raises(UserError, match="population must be at least 2, not 1"):
        ControllerTrainer(small(population=1), None, upstream={"mdn-rnn": Track()})
    with pytest.raises(UserError, match="--from mdn-rnn=RUN_FOLDER"):
        ControllerTrainer(small(), None, upstream={})


def test_evaluate_scores_real_tracks_in_worker_processes():
    needs_module("Box2D", BOX2D)
    controller = Controller(small(), tiny_memory())
    heard = []
    scores = evaluate(controller, 2, seed=0, workers=2, on_episode=lambda i, s: heard.append((i, s)), max_steps=20)
    assert len(scores) == 2 and all(np.isfinite(scores))
    assert sorted(heard) == list(enumerate(scores))
    assert scores[0] != scores[1]  # two different tracks (the reward per tile depends on the track's length)


def test_the_controller_stage_trains_in_the_real_environment_and_resumes(tmp_path):
    needs_module("Box2D", BOX2D)
    registry = discover().registry
    memory = tmp_path / "mdn-rnn.safetensors"
    model = tiny_memory()
    save_checkpoint(memory, "mdn-rnn", model.config, 1, _weights(model))
    rollouts = tmp_path / "rollouts"
    rollouts.mkdir()
    save_episode(rollouts / episode_name(0), Episode(np.zeros((3, 64, 64, 3), np.uint8), np.zeros((3, 3), np.float32),
                                                     np.zeros(3, np.float32), np.zeros(3, bool)))
    settings = {"population": "4", "rollouts_per_candidate": "1", "max_steps": "8", "workers": "1",
                "in_dream": "false"}

    def train(out, steps, resume=False):
        given = {} if resume else dict(data=f"carracing-rollouts:{rollouts}", upstream={"mdn-rnn": str(memory)},
                                       overrides=settings)  # a resumed run keeps what it started with
        request = TrainRequest(model="controller", out=out, steps=steps, device="cpu", resume=resume,
                               checkpoint_every=1, **given)
        assert run(registry, request, echo=False) == 0
        return read_checkpoint(out / "checkpoint.safetensors")

    whole = train(tmp_path / "whole", 2)
    train(tmp_path / "stopped", 1)
    resumed = train(tmp_path / "stopped", 2, resume=True)
    assert resumed.step == 2 and json.loads(resumed.config["memory_json"])["hidden"] == 8
    for name in ("model.linear.weight", "cma.mean", "cma.C", "cma.best"):
        assert torch.equal(resumed.state.tensors[name], whole.state.tensors[name]), name


def _weights(model):
    from studio.core.capabilities import TrainState

    return TrainState({f"model.{k}": v for k, v in model.state_dict().items()}, {})
