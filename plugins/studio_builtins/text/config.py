"""The text models' settings: plain dataclasses, cheap to import (no torch).

Every default makes a working model. Training settings live here too, so a job's
``--set name=value`` reaches them and a checkpoint records them. The learned
tokenizer is part of the config (``tokenizer_json``, filled in by the trainer),
because a checkpoint rebuilds its model from the config alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Marks a field the trainer fills in: the Train dialog does not offer it.
LEARNED = {"learned": True}

#: Tokenizer kinds: one token per character, or byte-level BPE learned from the training text.
TOKENIZER_KINDS = ("char", "bpe")
#: Recurrent cells the LSTM model can stack.
CELLS = ("lstm", "gru")


@dataclass
class LSTMConfig:
    """Chapter 5's recurrent language model: embedding, stacked LSTM (or GRU), linear."""

    cell: str = "lstm"  # "lstm" or "gru": a GRU has fewer weights and often trains as well
    embedding_dim: int = 128  # size of each token's learned vector
    hidden_size: int = 256  # units per recurrent layer
    num_layers: int = 2  # recurrent layers stacked on each other
    dropout: float = 0.0  # dropout between recurrent layers (only with 2 or more)
    block_size: int = 128  # tokens per training window: how far back gradients flow
    tokenizer: str = "char"  # "char" (one token per character) or "bpe" (byte-level BPE)
    bpe_vocab_size: int = 1024  # tokens the BPE tokenizer learns (at least 256, its bytes)
    tokenizer_json: str = field(default="", metadata=LEARNED)  # the learned tokenizer, filled in by the trainer
    batch_size: int = 32  # windows per optimisation step
    learning_rate: float = 2e-3  # peak AdamW learning rate, after warm-up
    min_learning_rate: float = 2e-4  # the cosine decay ends here at the last step
    warmup_steps: int = 100  # steps of linear warm-up from 0 to learning_rate
    weight_decay: float = 0.0  # AdamW decay on weight matrices (never on biases or norms)
    beta2: float = 0.99  # AdamW's second-moment decay; 0.99 suits small batches
    grad_clip: float = 1.0  # clip the gradient norm to this (0: no clipping)
    validation_windows: int = 240  # fixed, evenly spaced validation windows averaged by validate()


@dataclass
class GPTConfig:
    """Chapter 9's decoder-only transformer, shaped like nanoGPT's (pre-LN, tied embeddings).

    The defaults are nanoGPT's Shakespeare-character settings for a CPU.
    """

    n_layer: int = 4  # transformer blocks
    n_head: int = 4  # attention heads per block (must divide n_embd)
    n_embd: int = 128  # width of the residual stream
    block_size: int = 64  # the longest context, in tokens; also the training window
    dropout: float = 0.0  # dropout on attention and residual paths while training
    bias: bool = False  # biases in linear layers and LayerNorms (GPT-2 has them; a bit faster without)
    tokenizer: str = "char"  # "char" (one token per character) or "bpe" (byte-level BPE)
    bpe_vocab_size: int = 1024  # tokens the BPE tokenizer learns (at least 256, its bytes)
    tokenizer_json: str = field(default="", metadata=LEARNED)  # the learned tokenizer, filled in by the trainer
    batch_size: int = 12  # windows per optimisation step
    learning_rate: float = 1e-3  # peak AdamW learning rate, after warm-up
    min_learning_rate: float = 1e-4  # the cosine decay ends here at the last step
    warmup_steps: int = 100  # steps of linear warm-up from 0 to learning_rate
    weight_decay: float = 0.1  # AdamW decay on weight matrices and embeddings (not biases or norms)
    beta2: float = 0.99  # AdamW's second-moment decay; 0.99 suits small batches
    grad_clip: float = 1.0  # clip the gradient norm to this (0: no clipping)
    validation_windows: int = 240  # fixed, evenly spaced validation windows averaged by validate()


@dataclass
class HFCausalLMConfig:
    """A Hugging Face causal language model in a local folder (GPT-2 style)."""

    folder: str = ""  # the model folder: config.json, model.safetensors and tokenizer files
