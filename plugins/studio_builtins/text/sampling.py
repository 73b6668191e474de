"""Token streaming shared by every text model: pick the next token, yield it, repeat.

A model supplies a *session* whose ``feed(tokens)`` runs the network on new
tokens (the prompt first, then each chosen token) and returns the logits for
the next one. :func:`stream` feeds it only when the consumer asks for another
token, so closing the generator stops the work at once.

Only the end of a prompt reaches the model: the last :data:`PROMPT_CHARS_PER_TOKEN`
characters per token of context are encoded (a whole novel before the cursor costs
nothing), and characters the tokenizer cannot cover are replaced or left out
(``encode_lenient``) rather than refused.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Optional, Protocol

import numpy as np
import torch

from studio.core.capabilities import ModelError, TokenStep

from .tokenizer import StreamDecoder

#: How much of a prompt is encoded: this many characters per token of context, enough for the
#: tokens of any ordinary text to fill the context (the window then keeps the last context's worth).
PROMPT_CHARS_PER_TOKEN = 8

#: ``decode_piece(token, final)``: the text a token adds to a stream; ``(None, True)`` flushes the rest.
PieceDecoder = Callable[[Optional[int], bool], str]


class Session(Protocol):
    def feed(self, tokens: Sequence[int]) -> tuple[torch.Tensor, Optional[np.ndarray]]:
        """Logits ``(vocab,)`` for the token after ``tokens`` (given all fed before) and,
        if the session was asked for it, attention ``(layers, heads, context)`` of that prediction."""


class TokenStreamer:
    """The SequenceGenerator methods of a model with a :class:`Tokenizer` in
    ``self.tokenizer`` and a ``session(use_cache, with_attention)`` method."""

    tokenizer: Any
    context_length: int

    def session(self, use_cache: bool, with_attention: bool) -> Session:
        raise NotImplementedError

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``; characters the tokenizer does not cover are replaced by similar
        ones or left out (compare ``decode(encode(text))`` with ``text`` to see which)."""
        return self.tokenizer.encode_lenient(text)

    def prompt_ids(self, prompt: str) -> list[int]:
        """The tokens of the end of ``prompt`` that fit the context (see :data:`PROMPT_CHARS_PER_TOKEN`)."""
        size = max(1, int(self.context_length))
        return self.encode(prompt[-PROMPT_CHARS_PER_TOKEN * size:])[-size:]

    def decode(self, tokens: Sequence[int]) -> str:
        return self.tokenizer.decode(tokens)

    def generate(self, prompt: str, *, max_new_tokens: int, temperature: float = 1.0, top_k: Optional[int] = None,
                 top_p: Optional[float] = None, seed: Optional[int] = None, with_attention: bool = False,
                 use_cache: bool = True) -> Iterator[TokenStep]:
        """Stream a continuation of ``prompt`` (an empty one starts from :meth:`start_id`; only
        its end is read, see :meth:`prompt_ids`). Options are checked and the prompt encoded now;
        the network runs as tokens are taken. ``use_cache=False`` recomputes the whole context
        for every token (for comparisons)."""
        check_options(max_new_tokens, temperature, top_k, top_p)
        ids = self.prompt_ids(prompt) or [self.start_id()]
        return stream(self.session(use_cache, with_attention), ids, self.piece_decoder(),
                      max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed,
                      stop_token=self.stop_token())

    def start_id(self) -> int:
        """The token an empty prompt starts from (a line break for the built-in tokenizers)."""
        return self.tokenizer.start_id

    def stop_token(self) -> Optional[int]:
        """A token that ends the stream (not yielded), if the model has one."""
        return None

    def piece_decoder(self) -> PieceDecoder:
        """A fresh ``decode_piece(token, final)`` for one stream."""
        return StreamDecoder(self.tokenizer).feed


def check_options(max_new_tokens: int, temperature: float, top_k: Optional[int], top_p: Optional[float]) -> None:
    if max_new_tokens < 0:
        raise ModelError(f"max_new_tokens must be 0 or more, not {max_new_tokens}.")
    if temperature < 0:
        raise ModelError(f"The temperature must be 0 (greedy) or more, not {temperature}.")
    if top_k is not None and top_k < 1:
        raise ModelError(f"top_k must be at least 1 (or unset), not {top_k}.")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ModelError(f"top_p must be above 0 and at most 1 (or unset), not {top_p}.")


def stream(session: Session, prompt_ids: list[int], decode_piece: PieceDecoder, *,
           max_new_tokens: int, temperature: float, top_k: Optional[int], top_p: Optional[float],
           seed: Optional[int], stop_token: Optional[int] = None) -> Iterator[TokenStep]:
    """Yield up to ``max_new_tokens`` :class:`TokenStep` (fewer if ``stop_token`` comes up).
    ``decode_piece(token, final)`` gives each token's text, so the texts add up to the decoded
    tokens. The stop token is not yielded, unless text the tokens before it held back (a
    character split across tokens) is still to come out: then it comes with the stop token."""
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    tokens = prompt_ids
    for i in range(max_new_tokens):
        logits, attention = session.feed(tokens)
        token, probability = choose(logits, temperature, top_k, top_p, generator)
        if token == stop_token:
            rest = decode_piece(None, True)
            if rest:
                yield TokenStep(token=token, text=rest, probability=probability, attention=attention)
            return
        text = decode_piece(token, i == max_new_tokens - 1)
        yield TokenStep(token=token, text=text, probability=probability, attention=attention)
        tokens = [token]


def choose(logits: torch.Tensor, temperature: float, top_k: Optional[int], top_p: Optional[float],
           generator: torch.Generator) -> tuple[int, float]:
    """The next token and the probability the model gave it (before temperature and
    filtering, so it shows the model's own confidence). Temperature 0 is greedy."""
    if logits.requires_grad or logits.dtype != torch.float32 or logits.device.type != "cpu":
        logits = logits.detach().float().cpu()
    probabilities = torch.softmax(logits, dim=-1)
    if temperature == 0:
        token = int(torch.argmax(logits))
        return token, float(probabilities[token])
    scaled = logits / temperature
    if top_k is not None and top_k < scaled.numel():
        threshold = torch.topk(scaled, top_k).values[-1]
        scaled = scaled.masked_fill(scaled < threshold, float("-inf"))
    if top_p is not None and top_p < 1.0:
        ordered, order = torch.sort(scaled, descending=True)
        sorted_probabilities = torch.softmax(ordered, dim=-1)
        # drop a token once the ones before it already reach top_p; the first always stays
        drop = torch.cumsum(sorted_probabilities, dim=-1) - sorted_probabilities >= top_p
        scaled = scaled.masked_fill(torch.zeros_like(drop).scatter(0, order, drop), float("-inf"))
    token = int(torch.multinomial(torch.softmax(scaled, dim=-1), 1, generator=generator))
    return token, float(probabilities[token])


def inference() -> contextlib.AbstractContextManager:
    """torch's inference mode, unless it is on already (the inference thread runs every request in
    it). Entering it again is not free: the ops after a switch run slower, which cost about 4% of a
    token's time when a session entered it for every token."""
    return contextlib.nullcontext() if torch.is_inference_mode_enabled() else torch.inference_mode()


@contextmanager
def evaluating(module: torch.nn.Module) -> Iterator[None]:
    """Run one forward pass in eval mode without gradients, then restore the mode.
    Sessions use it per call: a ``with`` around a ``yield`` would leak into the consumer."""
    was_training = module.training
    if was_training:  # switching walks every submodule: a cost per token worth skipping
        module.eval()
    try:
        # no_grad only where gradients are on: setting the grad mode, even to what it is, slows the
        # ops that follow (a few % of a token's time in inference mode, as on the inference thread)
        with torch.no_grad() if torch.is_grad_enabled() else contextlib.nullcontext():
            yield
    finally:
        if was_training:
            module.train()


class Window:
    """The tokens a model with a fixed context (absolute positions) sees.

    When the tokens outgrow ``size``, the window restarts from the most recent
    three quarters of it, and a key/value cache must be rebuilt from those (their
    positions changed). Rebuilding every ``size // 4`` tokens rather than every
    token keeps generation past the context cheap; cached and uncached runs use
    the same windows, so they see exactly the same context.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.ids: list[int] = []
        self.start = 0

    def add(self, tokens: Sequence[int]) -> bool:
        """Append ``tokens``; True when the window moved. A long prompt keeps its last ``size`` tokens."""
        first = not self.ids
        self.ids.extend(tokens)
        if len(self.ids) - self.start <= self.size:
            return False
        keep = self.size if first else max(1, self.size * 3 // 4)
        self.start = len(self.ids) - keep
        return True

    @property
    def length(self) -> int:
        """How many tokens the window holds (``len(tokens)``, without copying them)."""
        return len(self.ids) - self.start

    @property
    def tokens(self) -> list[int]:
        return self.ids[self.start:]
