"""Chapter 9's GPT: a decoder-only transformer in the shape of nanoGPT.

Pre-LayerNorm blocks, learned absolute positions, GELU MLPs and an output layer
tied to the token embedding. Generation keeps a key/value cache per layer, so
each new token costs one position's work instead of the whole context's.
Attention runs through ``scaled_dot_product_attention`` (fused kernels) unless
its weights are asked for, when it is computed explicitly to return them.

The blocks' forwards call ``torch.nn.functional`` on their layers' parameters rather
than calling the layers: decoding one token at a time is mostly Python overhead on a
CPU, and each module call costs several microseconds (about a tenth of a token's time
at nanoGPT's width). Dropout is applied only in training, where it does something.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from studio.core.capabilities import ModelError

from .config import GPTConfig
from .sampling import TokenStreamer, Window, evaluating, inference
from .tokenizer import tokenizer_for


class LayerCache:
    """One layer's keys and values so far, in buffers as long as the context."""

    def __init__(self, shape: tuple[int, ...], like: torch.Tensor) -> None:
        self.keys = like.new_empty(shape)
        self.values = like.new_empty(shape)
        self.length = 0

    def append(self, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        end = self.length + keys.size(2)
        self.keys[:, :, self.length:end] = keys
        self.values[:, :, self.length:end] = values
        self.length = end
        return self.keys[:, :, :end], self.values[:, :, :end]


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.dropout = config.dropout
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)

    def forward(self, x: torch.Tensor, cache: Optional[LayerCache] = None,
                need_weights: bool = False) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """``x`` (batch, new positions, n_embd); with a cache, the new positions follow
        those cached. Returns the output and, if asked, the weights (batch, heads, new, all)."""
        batch, new, width = x.shape
        heads, size = self.n_head, width // self.n_head
        parts = _linear(self.c_attn, x).split(width, dim=2)
        if new == 1:  # decoding: (batch, 1, heads, size) is already laid out as (batch, heads, 1, size)
            q, k, v = (t.view(batch, heads, 1, size) for t in parts)
        else:
            q, k, v = (t.view(batch, new, heads, size).transpose(1, 2) for t in parts)
        if cache is not None:
            k, v = cache.append(k, v)
        total = k.size(2)
        weights = None
        if need_weights:
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(k.size(-1))
            if new > 1:
                scores = scores.masked_fill(~_causal_mask(new, total, x.device), float("-inf"))
            weights = torch.softmax(scores, dim=-1)
            y = _dropout(weights, self.dropout, self.training) @ v
        else:
            dropout = self.dropout if self.training else 0.0
            if new > 1 and new == total:  # training, or a first window: the fused causal kernel
                y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True)
            else:
                mask = _causal_mask(new, total, x.device) if new > 1 else None
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
        y = y.reshape(batch, 1, width) if new == 1 else y.transpose(1, 2).contiguous().view(batch, new, width)
        return _dropout(_linear(self.c_proj, y), self.dropout, self.training), weights


class MLP(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = config.dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _dropout(_linear(self.c_proj, F.gelu(_linear(self.c_fc, x))), self.dropout, self.training)


class Block(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, cache: Optional[LayerCache] = None,
                need_weights: bool = False) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        attended, weights = self.attn.forward(_norm(self.ln_1, x), cache, need_weights)
        x = x + attended
        return x + self.mlp.forward(_norm(self.ln_2, x)), weights


class Decoder(nn.Module):
    """The GPT network over ``vocab_size`` tokens (token and position embeddings, the blocks, the tied
    head): the text GPT's, and the music event model's. ``forward(idx)`` gives logits for training."""

    def __init__(self, config: GPTConfig, vocab_size: int) -> None:
        _check(config)
        super().__init__()
        self.config = config
        self.context_length = config.block_size
        self.wte = nn.Embedding(vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.h = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.lm_head = nn.Linear(config.n_embd, vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying, as GPT-2
        self.apply(_init_weights)
        for name, parameter in self.named_parameters():
            if name.endswith("c_proj.weight"):  # GPT-2's scaled init of residual projections
                nn.init.normal_(parameter, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Logits (batch, positions, vocab) for token ids (batch, positions)."""
        return self.run(idx)[0]

    def run(self, idx: torch.Tensor, caches: Optional[list[LayerCache]] = None, start: int = 0,
            need_weights: bool = False, last_only: bool = False) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits for ``idx`` placed at positions ``start ..``, after the cached ones if
        ``caches`` is given; with ``last_only`` only for the last position (all generation needs).
        Also the attention weights of each layer when ``need_weights``."""
        positions = torch.arange(start, start + idx.size(1), device=idx.device)
        x = _dropout(F.embedding(idx, self.wte.weight) + F.embedding(positions, self.wpe.weight),
                     self.config.dropout, self.training)
        weights = []
        for i, block in enumerate(self.h):
            x, w = block.forward(x, None if caches is None else caches[i], need_weights)
            if w is not None:
                weights.append(w)
        if last_only and x.size(1) > 1:
            x = x[:, -1:]
        return F.linear(_norm(self.ln_f, x), self.lm_head.weight), weights

    def new_cache(self) -> list[LayerCache]:
        c = self.config
        like = self.wte.weight
        return [LayerCache((1, c.n_head, c.block_size, c.n_embd // c.n_head), like) for _ in range(c.n_layer)]


class GPT(Decoder, TokenStreamer):
    """Offers ``SequenceGenerator``: the decoder over its tokenizer's vocabulary."""

    def __init__(self, config: GPTConfig) -> None:
        tokenizer = tokenizer_for(config)
        super().__init__(config, tokenizer.vocab_size)
        self.tokenizer = tokenizer

    def session(self, use_cache: bool, with_attention: bool) -> GPTSession:
        return GPTSession(self, use_cache, with_attention)


class GPTSession:
    """One generation: the window of tokens and, with ``use_cache``, its key/value cache."""

    def __init__(self, model: Decoder, use_cache: bool, with_attention: bool) -> None:
        self.model = model
        self.use_cache = use_cache
        self.with_attention = with_attention
        self.window = Window(model.config.block_size)
        self.caches: Optional[list[LayerCache]] = None
        self.device = model.wte.weight.device

    def feed(self, tokens: list[int]) -> tuple[torch.Tensor, Optional[np.ndarray]]:
        moved = self.window.add(tokens)
        if self.use_cache and self.caches is not None and not moved:
            new, start = tokens, self.window.length - len(tokens)
        else:  # first call, window moved, or no cache: run the whole window
            self.caches = self.model.new_cache() if self.use_cache else None
            new, start = self.window.tokens, 0
        idx = torch.tensor([new], dtype=torch.long)
        if self.device.type != "cpu":  # (a device argument costs a CPU's decoding a few % too)
            idx = idx.to(self.device)
        model = self.model
        if model.training or not torch.is_inference_mode_enabled():
            # inference mode skips even no_grad's version counting; the logits are read, never written
            with evaluating(model), inference():
                logits, weights = model.run(idx, self.caches, start, self.with_attention, last_only=True)
        else:  # on the inference thread, in eval mode: nothing to switch, and on a CPU each
            # context a token enters costs more than its own few microseconds (about 2% of a token)
            logits, weights = model.run(idx, self.caches, start, self.with_attention, last_only=True)
        attention = None
        if self.with_attention:
            attention = torch.stack([w[0, :, -1, :] for w in weights]).float().cpu().numpy()
        return logits[0, -1], attention


def _causal_mask(new: int, total: int, device: torch.device) -> torch.Tensor:
    """Query i (at absolute position total - new + i) may look at keys 0 .. total - new + i."""
    return torch.ones(new, total, dtype=torch.bool, device=device).tril(total - new)


def _linear(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    return F.linear(x, layer.weight, layer.bias)


def _norm(layer: nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
    return F.layer_norm(x, layer.normalized_shape, layer.weight, layer.bias, layer.eps)


def _dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    return F.dropout(x, p, training=True) if training and p > 0 else x


def _check(config: GPTConfig) -> None:
    """The decoder's shape (the GPT's, or another config with the same fields)."""
    if config.n_layer < 1 or config.n_head < 1 or config.n_embd < 1 or config.block_size < 1:
        raise ModelError("n_layer, n_head, n_embd and block_size must all be at least 1.")
    if config.n_embd % config.n_head:
        raise ModelError(f"n_embd ({config.n_embd}) must be a multiple of n_head ({config.n_head}).")
    if not 0.0 <= config.dropout < 1.0:
        raise ModelError(f"dropout must be at least 0 and below 1, not {config.dropout}.")


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
