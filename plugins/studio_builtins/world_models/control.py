"""C: the World Models controller, a linear map [z, h] -> (steering, gas, brake) evolved with CMA-ES, and its
evaluation in the real CarRacing.

The :class:`Controller` holds M (and through M, V), so its checkpoint alone is a world model a panel can dream
in and let the controller drive (:meth:`Controller.act`). The :class:`ControllerTrainer` runs one CMA-ES
generation per trainer step (the ``cma`` package's ask/tell; it minimises, so it is told the negative mean
score); its checkpoint holds the strategy as arrays and JSON (:class:`Strategy`), never pickled.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from typing import Any, Optional

import numpy as np
import torch
from torch import nn

from studio.core.capabilities import Cancelled, ModelError, TrainProgress, TrainState
from studio_builtins.world_models.config import ControllerConfig, MDNRNNConfig
from studio_builtins.world_models.scoring import (
    ACTION_HIGH,
    ACTION_LOW,
    Scorer,
    payload_for,
    policy_action,
    rollout_seed,
    unflatten,
)

#: rollouts of the best candidate that :meth:`ControllerTrainer.validate` averages, on fixed seeds
VALIDATION_ROLLOUTS = 4
#: the first coordinate of a rollout's seed after the trainer's: training's and validation's never meet
TRAINING, VALIDATION = 0, 1
#: frames of :meth:`ControllerTrainer.preview`'s strip, and the dream's steps from one to the next
PREVIEW_FRAMES, PREVIEW_EVERY = 8, 10


class Controller(nn.Module):
    """C with the M it drives: ``memory`` is M (a trained MDN-RNN; built from ``config.memory_json`` when not
    given, as a checkpoint is loaded)."""

    def __init__(self, config: ControllerConfig, memory: Optional[nn.Module] = None) -> None:
        super().__init__()
        self.config = config
        self.memory = memory if memory is not None else _memory_from(config)
        probe = self.memory.dream()
        probe.reset(seed=0)
        self.latent_dim, self.hidden = len(probe.z), len(probe.h)
        self.inputs = self.latent_dim + (self.hidden if config.use_memory else 0)
        # float64, as CMA-ES's candidates: the saved controller is exactly the one that scored
        self.linear = nn.Linear(self.inputs, 3, dtype=torch.float64)
        with torch.no_grad():  # CMA-ES starts from all zeros: no steering, half gas, half brake
            self.linear.weight.zero_()
            self.linear.bias.zero_()
        self.frame_shape = tuple(self.memory.frame_shape)
        self.action_shape = (3,)
        self.action_low = tuple(float(v) for v in ACTION_LOW)
        self.action_high = tuple(float(v) for v in ACTION_HIGH)

    @property
    def parameter_count(self) -> int:
        """What CMA-ES evolves: 3 x (len(z) + len(h)) + 3 (3 x len(z) + 3 on z alone)."""
        return self.linear.weight.numel() + self.linear.bias.numel()

    def dream(self) -> Any:
        """M's dream; :meth:`act` on its ``z`` and ``h`` is the controller driving it."""
        return self.memory.dream()

    def environment(self) -> Any:
        """The real CarRacing (the contract's optional ``WorldModel.environment``)."""
        return self.memory.environment()

    def drive(self, dream: Any) -> np.ndarray:
        """The contract's optional ``WorldModel.drive``: the action the controller takes in ``dream`` (one of
        :meth:`dream`'s) as it is now."""
        return self.act(dream.z, dream.h)

    def act(self, z: np.ndarray, h: np.ndarray) -> np.ndarray:
        """The action the controller takes on [z, h], within CarRacing's bounds, float32 (3,)."""
        weight, bias = unflatten(self.flat(), self.inputs)
        return policy_action(weight, bias, np.asarray(z, np.float32), np.asarray(h, np.float32))

    def flat(self) -> np.ndarray:
        """The parameters as CMA-ES sees them: W row by row, then b (float64)."""
        return torch.cat([self.linear.weight.detach().flatten(), self.linear.bias.detach()]).double().cpu().numpy()

    def set_flat(self, params: np.ndarray) -> None:
        weight, bias = unflatten(params, self.inputs)
        with torch.no_grad():
            self.linear.weight.copy_(torch.from_numpy(weight))
            self.linear.bias.copy_(torch.from_numpy(bias))


class Strategy:
    """``cma``'s CMA-ES (CSA step-size adaptation) with a state made of arrays and JSON.

    :meth:`state` saves what the next generations depend on: the mean, sigma, the covariance C with its
    eigenbasis B and axis lengths D (``cma`` refreshes B and D from C only every few generations, so they are
    saved rather than recomputed), the evolution paths pc and ps, the counters and the random generator's
    state. :meth:`restore` builds a new strategy and puts them back: it asks the same populations the original
    would have.
    """

    #: the saved arrays: name -> (which object of the strategy holds it, its attribute)
    ARRAYS = {"mean": ("", "mean"), "mean_old": ("", "mean_old"), "pc": ("", "pc"), "pc2": ("", "pc2"),
              "ps": ("adapt_sigma", "ps"), "C": ("sm", "C"), "B": ("sm", "B"), "D": ("sm", "D")}
    #: the saved numbers, likewise
    NUMBERS = {"sigma": ("", "sigma"), "sigma_old": ("", "_sigma_old"), "countiter": ("", "countiter"),
               "countevals": ("", "countevals"), "delta": ("adapt_sigma", "delta"),
               "ps_updated_iteration": ("adapt_sigma", "_ps_updated_iteration"),
               "count_tell": ("sm", "count_tell"), "last_update": ("sm", "last_update"),
               "count_eigen": ("sm", "count_eigen")}

    def __init__(self, dimension: int, sigma0: float, population: int, seed: int) -> None:
        #: cma's options (JSON): no mirrored samples (``cma`` mirrors populations under 6, with state of its own);
        #: besides, the strategy samples with :attr:`_rng` (seeded by ``seed``) and adapts sigma with CSA
        #: (``cma`` would switch to TPA from 300 dimensions on, which has no path ps)
        self.options = {"popsize": int(population), "CMA_mirrors": 0, "verbose": -9, "verb_disp": 0, "verb_log": 0}
        self.dimension, self.sigma0, self.seed = dimension, float(sigma0), int(seed)
        self._rng = np.random.default_rng(self.seed)
        self.es = self._new(np.zeros(dimension), self.sigma0)

    def _new(self, mean: np.ndarray, sigma: float) -> Any:
        import cma

        options = dict(self.options, AdaptSigma=cma.sigma_adaptation.CMAAdaptSigmaCSA, seed=np.nan,
                       randn=lambda *shape: self._rng.standard_normal(shape))  # our generator: its state is saved
        return cma.CMAEvolutionStrategy(mean, sigma, options)

    @property
    def sigma(self) -> float:
        return float(self.es.sigma)

    def ask(self) -> list[np.ndarray]:
        return [np.asarray(x, dtype=np.float64) for x in self.es.ask()]

    def tell(self, candidates: list[np.ndarray], losses: np.ndarray) -> None:
        self.es.tell(candidates, [float(v) for v in losses])

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays = {name: np.array(getattr(self._owner(where), attr), dtype=np.float64)
                  for name, (where, attr) in self.ARRAYS.items()}
        numbers = {name: _plain(getattr(self._owner(where), attr)) for name, (where, attr) in self.NUMBERS.items()}
        return arrays, {"options": self.options, "dimension": self.dimension, "sigma0": self.sigma0,
                        "seed": self.seed, "numbers": numbers, "random": self._rng.bit_generator.state}

    def restore(self, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
        if meta["dimension"] != self.dimension:
            raise ModelError(f"The saved CMA-ES state evolves {meta['dimension']} parameters; this controller has "
                             f"{self.dimension}.")
        self.options, self.sigma0, self.seed = dict(meta["options"]), float(meta["sigma0"]), int(meta["seed"])
        self._rng = np.random.default_rng()
        self._rng.bit_generator.state = meta["random"]
        self.es = self._new(np.array(arrays["mean"]), self.sigma0)  # CSA keeps sigma / sigma0: same sigma0
        for name, (where, attr) in self.ARRAYS.items():
            setattr(self._owner(where), attr, np.array(arrays[name], dtype=np.float64))
        for name, (where, attr) in self.NUMBERS.items():
            setattr(self._owner(where), attr, meta["numbers"][name])
        from cma.utilities.utils import ElapsedWCTime

        self.es.timer = ElapsedWCTime()  # made by the first ask of a new strategy, which this one has had

    def _owner(self, where: str) -> Any:
        return getattr(self.es, where) if where else self.es


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python number JSON takes."""
    return value.item() if hasattr(value, "item") else value


def _memory_from(config: ControllerConfig) -> nn.Module:
    """M rebuilt from the config its trainer saved (the default MDN-RNN when there is none)."""
    from studio.core.config import config_from_dict
    from studio_builtins.world_models.memory import MDNRNN

    settings = json.loads(config.memory_json) if config.memory_json else {}
    return MDNRNN(config_from_dict(MDNRNNConfig, settings))


def _check(config: ControllerConfig) -> None:
    problems = [f"{name} must be at least {low}, not {getattr(config, name)}"
                for name, low in (("population", 2), ("rollouts_per_candidate", 1), ("workers", 1),
                                  ("max_steps", 1)) if getattr(config, name) < low]
    if not config.sigma0 > 0:
        problems.append(f"sigma0 must be above 0, not {config.sigma0}")
    if not config.temperature > 0:
        problems.append(f"temperature must be above 0, not {config.temperature}")
    if problems:
        raise ModelError("The controller's settings do not work: " + "; ".join(problems) + ".")


class ControllerTrainer:
    """CMA-ES on the controller's parameters; one generation per step. Scores are rollouts in M's dream
    (``in_dream``) or in CarRacing, ``rollouts_per_candidate`` per candidate, in ``workers`` processes."""

    def __init__(self, config: ControllerConfig, data: Any, device: str = "cpu", seed: int = 0,
                 upstream: Optional[Mapping[str, Any]] = None) -> None:
        _check(config)
        memory = (upstream or {}).get("mdn-rnn")
        if memory is None:
            raise ModelError("The controller is evolved in a trained MDN-RNN's dream: name one with "
                             "--from mdn-rnn=RUN_FOLDER.")
        memory = memory.to("cpu").eval()  # rollouts step one observation at a time: the CPU is the faster
        from studio.core.config import config_dict

        self.config = replace(config, memory_json=json.dumps(config_dict(memory.config)))
        self.seed = seed
        self.model = Controller(self.config, memory)
        self.stop_requested: Callable[[], bool] = lambda: False
        self.strategy = Strategy(self.model.parameter_count, config.sigma0, config.population, seed)
        self.best_score = -np.inf  #: the best mean score of any candidate so far
        self.best = self.model.flat()
        self._scorer = Scorer(payload_for(memory, self.model.inputs, in_dream=config.in_dream,
                                          max_steps=config.max_steps, temperature=config.temperature),
                              config.workers)

    def steps(self, start: int, total: int) -> Iterator[TrainProgress]:
        rollouts = self.config.rollouts_per_candidate
        for generation in range(start, total):
            candidates = self.strategy.ask()
            seeds = [[rollout_seed(self.seed, TRAINING, generation, c, r) for r in range(rollouts)]
                     for c in range(len(candidates))]
            means = np.array([np.mean(s) for s in self._scorer.scores(candidates, seeds)])
            self.strategy.tell(candidates, -means)
            top = int(np.argmax(means))
            if means[top] > self.best_score:
                self.best_score, self.best = float(means[top]), np.array(candidates[top])
                self.model.set_flat(self.best)
            yield TrainProgress(step=generation + 1, epoch=0.0,  # C reads no training data: no passes over it
                                losses={"best_score": self.best_score, "generation_best": float(means[top]),
                                        "mean_score": float(means.mean()), "sigma": self.strategy.sigma},
                                items=len(candidates) * rollouts)

    def validate(self) -> Mapping[str, float]:
        """The best candidate's mean score over fixed-seed rollouts (the same ones at every checkpoint)."""
        if self.stop_requested():
            raise Cancelled()
        seeds = [rollout_seed(self.seed, VALIDATION, r) for r in range(VALIDATION_ROLLOUTS)]
        (scores,) = self._scorer.scores([self.best], [seeds])
        return {"val_score": float(np.mean(scores))}

    @torch.no_grad()
    def preview(self, *, seed: int) -> Optional[np.ndarray]:
        """The best controller driving in M's dream: a strip of frames, one every :data:`PREVIEW_EVERY` steps
        (fewer when M dreams the end of the episode)."""
        dream = self.model.dream()
        frames = [dream.reset(seed=seed)]
        for step in range(1, PREVIEW_FRAMES * PREVIEW_EVERY):
            dreamt = dream.step(self.model.act(dream.z, dream.h), temperature=self.config.temperature)
            if step % PREVIEW_EVERY == 0:
                frames.append(dreamt.frame)
            if dreamt.done:
                break
        return np.concatenate(frames, axis=1)

    def state(self) -> TrainState:
        tensors = {f"model.{k}": v.detach().clone() for k, v in self.model.state_dict().items()}
        arrays, meta = self.strategy.state()
        tensors.update({f"cma.{k}": torch.from_numpy(v) for k, v in arrays.items()})
        tensors["cma.best"] = torch.from_numpy(np.array(self.best))
        return TrainState(tensors, {"cma": meta, "best_score": self.best_score})

    def restore(self, state: TrainState) -> None:
        arrays = {k[len("cma."):]: v.numpy() for k, v in state.tensors.items() if k.startswith("cma.")}
        self.best = np.array(arrays.pop("best"), dtype=np.float64)
        self.best_score = float(state.meta["best_score"])
        self.strategy.restore(arrays, state.meta["cma"])
        self.model.set_flat(self.best)

    def close(self) -> None:
        """Stop the scoring processes (they also end with this process)."""
        self._scorer.close()


def evaluate(controller: Controller, episodes: int, seed: int, workers: int,
             on_episode: Optional[Callable[[int, float], None]] = None, max_steps: int = 1000) -> list[float]:
    """The controller's score on ``episodes`` real CarRacing tracks (seeds ``seed``..``seed+episodes-1``), in
    ``workers`` processes; ``on_episode(i, score)`` hears each as it finishes. Scores in track order."""
    if episodes < 1:
        raise ModelError(f"Evaluate on at least one track, not {episodes}.")
    payload = payload_for(controller.memory, controller.inputs, in_dream=False, max_steps=max_steps,
                          temperature=1.0)
    scorer = Scorer(payload, max(1, min(workers, episodes)))
    params = controller.flat()
    try:
        results = scorer.scores([params] * episodes, [[seed + i] for i in range(episodes)],
                                on_result=None if on_episode is None else lambda i, s: on_episode(i, s[0]))
    finally:
        scorer.close()
    return [scores[0] for scores in results]
