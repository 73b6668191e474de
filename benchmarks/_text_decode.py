"""The GPT's greedy decoding as a bare loop of torch calls, against the studio's stream.

``bare_decode`` reads the model's weights directly and does only what greedy decoding with a
key/value cache needs: per layer q/k/v from ``c_attn``, keys and values written into buffers as
long as the context, ``scaled_dot_product_attention``, the MLP, ``ln_f``, the tied head and an
argmax, under ``torch.inference_mode``. No sampling options, no probabilities, no streaming, no
window: the floor the studio's ``generate`` is measured against (``decode_vs_bare_ratio``).

Both sides run in the same process, so with the same torch threads and the OpenMP wait policy
the studio gives torch (``_common`` imports ``studio`` before torch loads).
"""

from __future__ import annotations

import time
from collections.abc import Callable

# isort: off
from _common import median  # first: it imports studio, before torch loads
# isort: on
import torch
import torch.nn.functional as F


def bare_decode(model, prompt_ids: list[int], new_tokens: int) -> tuple[float, list[int]]:
    """Tokens/s and the ``new_tokens`` greedy tokens after ``prompt_ids`` (which, with them,
    must fit the model's context: the loop has no window to move)."""
    c = model.config
    if len(prompt_ids) + new_tokens > c.block_size:
        raise ValueError(f"{len(prompt_ids)} + {new_tokens} tokens do not fit a context of {c.block_size}")
    heads, width = c.n_head, c.n_embd
    head_size = width // heads
    blocks = list(model.h)
    start = time.perf_counter()
    with torch.inference_mode():
        weight = model.wte.weight
        keys = [weight.new_empty(1, heads, c.block_size, head_size) for _ in blocks]
        values = [weight.new_empty(1, heads, c.block_size, head_size) for _ in blocks]
        positions = torch.arange(c.block_size, device=weight.device)
        idx = torch.tensor([prompt_ids], device=weight.device)
        length = 0
        tokens = []
        while True:
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
            tokens.append(token)
            if len(tokens) == new_tokens:
                break
            length = end
            idx = torch.tensor([[token]], device=weight.device)
    return len(tokens) / (time.perf_counter() - start), tokens


def decode_metrics(model, prompt_ids: list[int], studio: Callable[[], tuple[float, list[int]]],
                   new_tokens: int, runs: int = 3) -> dict[str, float]:
    """The bare loop's tokens/s and the studio's ÷ it, from the medians of ``runs`` interleaved
    runs of each (load from other processes hits both alike); ``studio()`` gives the studio's
    cached greedy stream's tokens/s and tokens, which must be the bare loop's."""
    studio_rates, bare = [], []
    for _ in range(runs):
        rate, studio_tokens = studio()
        studio_rates.append(rate)
        rate, bare_tokens = bare_decode(model, prompt_ids, new_tokens)
        bare.append(rate)
        assert studio_tokens == bare_tokens, "the bare loop chose different greedy tokens from the studio"
    return {"bare_decode_tokens_per_s": median(bare), "decode_vs_bare_ratio": median(studio_rates) / median(bare)}
