"""What the composer asks of a SequenceGenerator, and what it keeps of the answers.

:func:`continuation` and :func:`alternatives` run on the inference thread, never
the GUI's. They report every token with ``ctx.step(i, total, payload)``: that
is the progress, the token itself (so it streams), and the point where a cancel
stops the generation within one token. The first payload of each request is a
:class:`PromptTokens`: how the model split the prompt, so the attention view
can name what a generated token looked at, and which characters it could not read.

Only the end of the prompt is given to the model (:func:`prompt_tail`): the text
before the cursor may be a whole book, and the model reads a context's worth.

No Qt here: the GUI side keeps the tokens in :class:`Generations`.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from studio.core.capabilities import TokenStep

#: attention weights kept in memory, all generations together: GPT-2 gives 12 layers
#: x 12 heads x up to 1024 positions per token, about 300 KB each
ATTENTION_BUDGET = 256 * 2**20
#: the label of context positions before the prompt (the token an empty prompt starts from)
START = "⟨start⟩"
#: characters of the prompt given to the model per token of its context: plenty for the
#: tokens of ordinary text to fill the context (the built-in models read the same tail)
PROMPT_CHARS_PER_TOKEN = 8


@dataclass(frozen=True)
class Sampling:
    """The sampling settings of one generation, as the sidecar of a saved text keeps them."""

    temperature: float = 0.8
    top_k: Optional[int] = None
    top_p: Optional[float] = None
    max_new_tokens: int = 300
    seed: int = 0

    def params(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Sampling:
        """The settings in ``params``; missing or unreadable ones keep their defaults."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            value = params.get(f.name)
            if value is None:
                if f.name in params and f.default is None:  # top-k or top-p saved as "off"
                    values[f.name] = None
                continue
            try:
                values[f.name] = float(value) if f.name in ("temperature", "top_p") else int(value)
            except (TypeError, ValueError, OverflowError):  # OverflowError: a saved Infinity
                continue
        return cls(**values)


@dataclass(frozen=True)
class PromptTokens:
    """The first payload of a request: the prompt's tokens (at most a context's worth),
    one text piece each; the end of the prompt the model was given; and how many of its
    characters the model could not read (it replaced them by similar ones or left them out)."""

    pieces: tuple[str, ...]
    prompt: str = ""
    unreadable: int = 0


@dataclass(frozen=True)
class Alternative:
    """A token of the ``index``-th alternative continuation."""

    index: int
    step: TokenStep


def prompt_tail(model: Any, prompt: str) -> str:
    """The end of ``prompt`` a model is given: :data:`PROMPT_CHARS_PER_TOKEN` characters per token
    of its context."""
    return prompt[-PROMPT_CHARS_PER_TOKEN * max(1, int(model.context_length)):]


def continuation(model: Any, ctx: Any, prompt: str, sampling: Sampling) -> int:
    """Stream one continuation of ``prompt``; returns how many tokens it wrote."""
    total = sampling.max_new_tokens
    tail = prompt_tail(model, prompt)
    ctx.step(0, total, prompt_tokens(model, tail))
    written = 0
    for written, step in enumerate(tokens(model, tail, sampling), start=1):
        ctx.step(written, total, step)
    return written


def alternatives(model: Any, ctx: Any, prompt: str, sampling: Sampling, count: int) -> int:
    """Stream ``count`` continuations with seeds ``seed, seed + 1, ...``, a token of each in turn, so
    they grow side by side. Each is the text it would be on its own."""
    total = count * sampling.max_new_tokens
    tail = prompt_tail(model, prompt)
    ctx.step(0, total, prompt_tokens(model, tail))
    done = 0
    with ExitStack() as streams:
        running = {index: streams.enter_context(closing(tokens(
            model, tail, dataclasses.replace(sampling, seed=sampling.seed + index)))) for index in range(count)}
        while running:
            for index, stream in list(running.items()):
                step = next(stream, None)
                if step is None:
                    del running[index]
                    continue
                done += 1
                ctx.step(done, total, Alternative(index, step))
    return done


def tokens(model: Any, prompt: str, sampling: Sampling) -> Iterator[TokenStep]:
    """The model's tokens, attention kept as float16 (half the memory, plenty for a picture).
    The model's generator is closed when the consumer stops, cancelled or not."""
    stream = model.generate(prompt, max_new_tokens=sampling.max_new_tokens, temperature=sampling.temperature,
                            top_k=sampling.top_k, top_p=sampling.top_p, seed=sampling.seed, with_attention=True)
    with closing(stream):
        for step in stream:
            if step.attention is not None:
                step = dataclasses.replace(step, attention=np.asarray(step.attention, dtype=np.float16))
            yield step


def prompt_tokens(model: Any, tail: str) -> PromptTokens:
    """What the model makes of ``tail`` (the prompt's end, see :func:`prompt_tail`)."""
    ids = model.encode(tail) if tail else []
    read = model.decode(ids) if ids else ""
    unreadable = sum((collections.Counter(tail) - collections.Counter(read)).values()) if read != tail else 0
    kept = ids[-max(1, int(model.context_length)):]
    return PromptTokens(tuple(pieces(model.decode, kept)), tail, unreadable)


def pieces(decode: Callable[[Sequence[int]], str], ids: Sequence[int]) -> list[str]:
    """The text each token adds, as a stream shows it: a token that ends inside a character
    (split across tokens) gets "" and the one that completes it the whole character. Only a few
    tokens are decoded at a time, so it is linear in the number of tokens."""
    out: list[str] = []
    prefix = read = 0
    for end in range(1, len(ids) + 1):
        before = decode(ids[prefix:read])
        after = decode(ids[prefix:end])
        if end < len(ids) and (len(after) <= len(before) or after.endswith("\ufffd")):
            out.append("")
            continue
        out.append(after[len(before):])
        prefix, read = read, end
    return out


@dataclass
class Generation:
    """One stream of tokens as the composer keeps them."""

    id: int
    params: dict[str, Any]  #: what made it: model, checkpoint, prompt and sampling settings
    prompt_pieces: tuple[str, ...] = ()
    texts: list[str] = field(default_factory=list)
    probabilities: list[float] = field(default_factory=list)
    attentions: list[Optional[np.ndarray]] = field(default_factory=list)
    #: whether the model returned attention (None until the first token)
    has_attention: Optional[bool] = None

    @property
    def text(self) -> str:
        return "".join(self.texts)

    def attended(self, index: int) -> Optional[tuple[list[str], np.ndarray]]:
        """The text pieces token ``index`` attended over and its weights ``(layers, heads, context)``,
        or None when its attention was not kept. The weights end at the token just before
        ``index``; earlier positions beyond what the composer saw are labelled :data:`START`."""
        weights = self.attentions[index]
        if weights is None:
            return None
        width = weights.shape[-1]
        earlier = [*self.prompt_pieces, *self.texts[:index]][-width:]
        return [START] * (width - len(earlier)) + earlier, weights


class Generations:
    """Every generation whose tokens may still be in the editor, by id.

    Attention weights are the bulk of the memory, so only the most recent
    ``budget`` bytes of them are kept; older tokens lose theirs (the attention
    view says so).
    """

    def __init__(self, budget: int = ATTENTION_BUDGET) -> None:
        self.budget = budget
        self._by_id: dict[int, Generation] = {}
        self._ids = itertools.count(1)
        self._kept: collections.deque[tuple[Generation, int]] = collections.deque()
        self._bytes = 0

    def new(self, params: dict[str, Any], prompt_pieces: tuple[str, ...] = ()) -> Generation:
        generation = Generation(next(self._ids), params, prompt_pieces)
        self._by_id[generation.id] = generation
        return generation

    def get(self, generation_id: int) -> Optional[Generation]:
        return self._by_id.get(generation_id)

    def add(self, generation: Generation, step: TokenStep) -> int:
        """Keep ``step`` as the next token of ``generation``; returns its index."""
        generation.texts.append(step.text)
        generation.probabilities.append(float(step.probability))
        generation.attentions.append(step.attention)
        if generation.has_attention is None:
            generation.has_attention = step.attention is not None
        index = len(generation.texts) - 1
        if step.attention is not None:
            self._kept.append((generation, index))
            self._bytes += step.attention.nbytes
            while self._bytes > self.budget and len(self._kept) > 1:
                old, old_index = self._kept.popleft()
                self._bytes -= old.attentions[old_index].nbytes
                old.attentions[old_index] = None
        return index
