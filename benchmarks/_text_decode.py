"""The GPT's greedy decoding as a bare loop of torch calls, against the studio's stream.

``bare_decode`` reads the model's weights directly and does only what greedy decoding with a
key/value cache needs: per layer q/k/v from ``c_attn``, keys and values written into buffers as
long as the context, ``scaled_dot_product_attention``, the MLP, ``ln_f``, the tied head and an
argmax, under ``torch.inference_mode``. No sampling options, no probabilities, no streaming, no
window: the floor the studio's ``generate`` is measured against (``decode_vs_bare_ratio``).

Both sides run in the same process, in lockstep, so with the same torch threads and the OpenMP wait policy
the studio gives torch (``_common`` imports ``studio`` before torch loads).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

# isort: off
from _common import median  # first: it imports studio, before torch loads
# isort: on
import torch
import torch.nn.functional as F

from studio.engine.machine import inference_mode


def bare_decode(model, prompt_ids: list[int], new_tokens: int) -> Iterator[int]:
    """The ``new_tokens`` greedy tokens after ``prompt_ids`` (which, with them, must fit the model's
    context: the loop has no window to move), each computed when it is asked for."""
    c = model.config
    if len(prompt_ids) + new_tokens > c.block_size:
        raise ValueError(f"{len(prompt_ids)} + {new_tokens} tokens do not fit a context of {c.block_size}")
    heads, width = c.n_head, c.n_embd
    head_size = width // heads
    blocks = list(model.h)
    with torch.inference_mode():
        weight = model.wte.weight
        keys = [weight.new_empty(1, heads, c.block_size, head_size) for _ in blocks]
        values = [weight.new_empty(1, heads, c.block_size, head_size) for _ in blocks]
        positions = torch.arange(c.block_size, device=weight.device)
        idx = torch.tensor([prompt_ids], device=weight.device)
        length = 0
        for _ in range(new_tokens):
            new = idx.size(1)
            end = length + new
            x = F.embedding(idx, weight) + F.embedding(positions[length:end], model.wpe.weight)
            for block, k_cache, v_cache in zip(blocks, keys, values, strict=True):
                attn, mlp = block.attn, block.mlp
                h = F.layer_norm(x, (width,), block.ln_1.weight, block.ln_1.bias)
                q, k, v = F.linear(h, attn.c_attn.weight, attn.c_attn.bias).split(width, dim=2)
                q = q.view(1, new, heads, head_size).transpose(1, 2)
                k_cache[:, :, length:end] = k.view(1, new, heads, head_size).transpose(1, 2)
                v_cache[:, :, length:end] = v.view(1, new, heads, head_size).transpose(1, 2)
                y = F.scaled_dot_product_attention(q, k_cache[:, :, :end], v_cache[:, :, :end], is_causal=new > 1)
                y = y.transpose(1, 2).reshape(1, new, width)
                x = x + F.linear(y, attn.c_proj.weight, attn.c_proj.bias)
                h = F.layer_norm(x, (width,), block.ln_2.weight, block.ln_2.bias)
                h = F.gelu(F.linear(h, mlp.c_fc.weight, mlp.c_fc.bias))
                x = x + F.linear(h, mlp.c_proj.weight, mlp.c_proj.bias)
            x = F.layer_norm(x[:, -1], (width,), model.ln_f.weight, model.ln_f.bias)
            token = int(torch.argmax(F.linear(x, model.lm_head.weight)))
            yield token
            length = end
            idx = torch.tensor([[token]], device=weight.device)


def decode_metrics(model, prompt_ids: list[int], studio: Callable[[], Iterator[int]], new_tokens: int,
                   runs: int = 3) -> dict[str, float]:
    """The bare loop's tokens/s and the studio's ÷ it. The two decode in lockstep, a token of one
    then a token of the other (in turns, which goes first), each side timed only while it works:
    on a shared VM the speed drifts by ±20% from one second to the next, and the lockstep gives
    both sides the same drift. ``studio()`` is the studio's cached greedy stream of tokens, which
    must be the bare loop's; the figures are the medians of ``runs`` runs."""
    studio_rates, bare_rates, ratios = [], [], []
    with inference_mode():  # as the inference thread runs the composer's request
        for _ in range(runs):
            sides = [studio(), bare_decode(model, prompt_ids, new_tokens)]
            seconds, tokens = [0.0, 0.0], ([], [])
            for i in range(new_tokens):
                for side in (0, 1) if i % 2 else (1, 0):
                    start = time.perf_counter()
                    tokens[side].append(next(sides[side]))
                    seconds[side] += time.perf_counter() - start
            assert tokens[0] == tokens[1], "the bare loop chose different greedy tokens from the studio"
            studio_rates.append(new_tokens / seconds[0])
            bare_rates.append(new_tokens / seconds[1])
            ratios.append(seconds[1] / seconds[0])
    return {"studio_decode_tokens_per_s": median(studio_rates), "bare_decode_tokens_per_s": median(bare_rates),
            "decode_vs_bare_ratio": median(ratios)}
