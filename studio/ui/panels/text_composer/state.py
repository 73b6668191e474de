"""What the Text Composer works on (Qt-free): the sampling settings, the generations whose tokens
are in the text, the alternatives to pick from, and the request writing now.

The text itself lives in the editor (a Qt document); the state is handed the
prompt (the text before the cursor) and hands back tokens through events, so
it can be driven with a fake model and no window. One request writes at a
time (a continuation or a round of alternatives): a newer one overtakes it,
and Stop (:meth:`ComposerState.cancel`) keeps what was written.
"""

from __future__ import annotations

import dataclasses
import random
import time
from dataclasses import dataclass, field
from typing import Any, Optional

from studio.core.provenance import RestoreError, settings_of
from studio.ui.kit.state import PanelState
from studio.ui.panels.text_composer import record
from studio.ui.panels.text_composer.files import PANEL
from studio.ui.panels.text_composer.generation import (
    Alternative,
    Generation,
    Generations,
    PromptTokens,
    Sampling,
    alternatives,
    continuation,
)

#: the most tokens one Generate writes: far beyond any context, short of a runaway
MAX_LENGTH = 20_000
MAX_SEED = 2**31 - 1
#: alternatives written side by side
COUNT = 3


@dataclass
class Run:
    """One request writing: a continuation (one generation) or a round of alternatives."""

    generations: list[Generation]
    alternatives: bool = False
    started: float = field(default_factory=time.monotonic)
    unreadable: int = 0  #: characters of the prompt the model could not read

    @property
    def written(self) -> int:
        return sum(len(g.texts) for g in self.generations)

    def summary(self, done: bool) -> str:
        """The status line at its end."""
        n = self.unreadable
        unreadable = (f"; {n} character{'s' if n != 1 else ''} before the cursor the model never saw "
                      f"{'were' if n != 1 else 'was'} replaced by similar ones or skipped" if n else "")
        if not done:
            return f"Stopped after {self.written} tokens; what was written is kept{unreadable}"
        seconds = time.monotonic() - self.started
        return (f"Wrote {self.written} tokens in {seconds:.1f} s ({self.written / max(seconds, 1e-3):.0f} tokens/s)"
                f"{unreadable}")


class ComposerState(PanelState):
    """Events (besides the base's): ``sampling()``, ``started(run)``, ``token(generation_id, index,
    text, probability)``, ``alternative(index, text)``, ``finished(run, done)``, ``opened(text)``,
    ``model_missing(reason)`` when the model that wrote an opened text cannot be found."""

    panel = PANEL
    title = "Text Composer"
    capability = "SequenceGenerator"
    EVENTS = ("sampling", "started", "token", "alternative", "finished", "opened", "model_missing")

    def __init__(self, executor, registry, store, new_seed_each_time: bool = True) -> None:
        self.sampling = Sampling()
        #: after each Generate, a new seed: the seed shown is always the one the next Generate uses
        self.new_seed_each_time = new_seed_each_time
        self.generations = Generations()
        self.last_params: dict[str, Any] = {}  #: what wrote the latest text
        self.opened: list[dict[str, Any]] = []  #: the generation records of the text as it was opened
        self.choices: list[Generation] = []  #: the latest round of alternatives
        self.run_now: Optional[Run] = None
        super().__init__(executor, registry, store)

    # -- settings ------------------------------------------------------------------------------
    def set_sampling(self, sampling: Sampling) -> None:
        """The settings of the next generation, checked; raises :class:`ValueError`."""
        if not 0.0 <= sampling.temperature <= 5.0:
            raise ValueError(f"The temperature goes from 0 (greedy) to 5, not {sampling.temperature}.")
        if sampling.top_k is not None and sampling.top_k < 1:
            raise ValueError(f"Top-k is off or at least 1, not {sampling.top_k}.")
        if sampling.top_p is not None and not 0.0 < sampling.top_p <= 1.0:
            raise ValueError(f"Top-p is off or between 0 and 1, not {sampling.top_p}.")
        if not 1 <= sampling.max_new_tokens <= MAX_LENGTH:
            raise ValueError(f"A generation writes 1 to {MAX_LENGTH:,} tokens, not {sampling.max_new_tokens}.")
        if not 0 <= sampling.seed <= MAX_SEED:
            raise ValueError(f"A seed is a whole number from 0 to {MAX_SEED}, not {sampling.seed}.")
        self.sampling = sampling
        self.events.sampling.emit()

    def _used(self) -> None:
        """A generation started with the seed shown: move on to a new one if the artist asked for that."""
        if self.new_seed_each_time:
            self.set_sampling(dataclasses.replace(self.sampling, seed=random.randrange(MAX_SEED)))

    def model_changed(self) -> None:
        if self.run_now is not None:  # the model it wrote with is gone: it stops, and what it wrote stays
            self._finish(self.run_now, done=False)

    # -- writing -------------------------------------------------------------------------------
    def generate(self, prompt: str) -> None:
        """Continue ``prompt`` (the text before the cursor): its tokens arrive as ``token`` events."""
        if self.choice is None:
            return
        sampling = self.sampling
        run = Run([self.generations.new(self._params(prompt, sampling))])
        self._start(run, lambda model, ctx: continuation(model, ctx, prompt, sampling))

    def write_alternatives(self, prompt: str) -> None:
        """Write :data:`COUNT` continuations side by side, with seeds seed, seed + 1, ..."""
        if self.choice is None:
            return
        sampling = self.sampling
        params = self._params(prompt, sampling)
        self.choices = [self.generations.new({**params, "seed": sampling.seed + i}) for i in range(COUNT)]
        self._start(Run(self.choices, alternatives=True),
                    lambda model, ctx: alternatives(model, ctx, prompt, sampling, COUNT))

    def _params(self, prompt: str, sampling: Sampling) -> dict[str, Any]:
        return self.result_params(prompt=prompt, **sampling.params())

    def _start(self, run: Run, work) -> None:
        self.cancel()
        self.run_now = run
        self.events.started.emit(run)
        self.run("write", work, on_step=lambda _step, _total, payload: self._stepped(run, payload),
                 on_result=lambda _count: self._finish(run, done=True), on_cancelled=lambda: self._finish(run, False),
                 on_error=lambda message, detail: self._failed(run, message, detail),
                 label="Writing alternatives" if run.alternatives else "Writing")
        self._used()

    def cancel(self) -> None:
        """Stop writing; what was written stays, and later tokens are dropped."""
        self.work.cancel("write")

    @property
    def writing(self) -> bool:
        return self.run_now is not None

    def _stepped(self, run: Run, payload: Any) -> None:
        if isinstance(payload, PromptTokens):
            run.unreadable = payload.unreadable
            for generation in run.generations:
                generation.prompt_pieces = payload.pieces
                generation.params["checkpoint_sha256"] = self.digest  # known by now: asked for first
                generation.params["prompt"] = payload.prompt  # the end of it the model was given
        elif isinstance(payload, Alternative):
            self.generations.add(run.generations[payload.index], payload.step)
            self.events.alternative.emit(payload.index, payload.step.text)
        elif payload is not None:
            generation = run.generations[0]
            index = self.generations.add(generation, payload)
            self.events.token.emit(generation.id, index, payload.text, payload.probability)

    def _finish(self, run: Run, done: bool) -> None:
        """The run ended (its work says so once, and only for the newest run)."""
        self.run_now = None
        if not run.alternatives:
            self.last_params = {**run.generations[0].params, "tokens": len(run.generations[0].texts)}
        self.events.finished.emit(run, done)

    def _failed(self, run: Run, message: str, detail: str) -> None:
        self._finish(run, done=False)
        self.work.events.failed.emit("Writing failed", message, detail)

    def use_alternative(self, index: int) -> Generation:
        """The ``index``-th alternative, now the latest text written."""
        self.cancel()
        generation = self.choices[index]
        self.last_params = {**generation.params, "tokens": len(generation.texts)}
        return generation

    # -- texts and their sidecars ----------------------------------------------------------------
    def sidecar(self, text: str, spans: dict[int, tuple[int, int]]) -> dict[str, Any]:
        """What a save writes beside ``text``: a record of each generation still in it (``spans``:
        where each generation's tokens are, by its id, in the document's positions)."""
        live = record.live_records(text, spans, self.generations.get)
        return record.sidecar(PANEL, record.merged(self.opened, live, text))

    def open_text(self, text: str, params: dict[str, Any], name: str) -> str:
        """A text was opened with ``params`` (its sidecar, or {}): restore the settings and find the model
        that wrote it (on the inference thread: by path, or by its hash if it moved). Returns the status line."""
        self.cancel()
        self.opened = record.opened_records(params)
        self.last_params = {k: v for k, v in params.items() if k != "generations"} if self.opened else {}
        self.events.opened.emit(text)
        if not self.opened:
            return ""
        try:
            self.set_sampling(Sampling.from_params(settings_of(params)))
            status = f"Opened {name} with the settings that wrote it"
        except ValueError as exc:  # a sidecar edited by hand, or damaged
            status = f"Opened {name}; its sampling settings were not restored: {exc}"
        if params.get("checkpoint") and params.get("model"):
            try:
                self.restore(params, name, lambda _params, _name: None, on_failed=self.events.model_missing.emit)
            except RestoreError as exc:
                self.events.model_missing.emit(str(exc))
        return status

