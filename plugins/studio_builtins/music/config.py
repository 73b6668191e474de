"""The music models' settings: plain dataclasses, cheap to import (no torch).

Every default makes a working model. Training settings live here too, so a job's
``--set name=value`` reaches them and a checkpoint records them. What the trainer
learns from the data (the book model's note and duration vocabularies) is part of
the config, because a checkpoint rebuilds its model from the config alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Marks a field the trainer fills in: the Train dialog does not offer it.
LEARNED = {"learned": True}


@dataclass
class MelodyConfig:
    """Chapter 11's music transformer: notes and durations, one transformer block (the book's sizes)."""

    embedding_dim: int = 256  # notes and durations get half each, concatenated (must be even)
    n_heads: int = 5  # attention heads
    key_dim: int = 256  # size of each head's queries and keys (the book's key_dim)
    feed_forward_dim: int = 256  # hidden units of the block's feed-forward layer
    dropout: float = 0.3  # dropout after attention and feed-forward while training
    seq_len: int = 50  # tokens per training window, and the context generation sees
    transpose: int = 5  # training melodies are transposed by up to this many semitones either way (0: never)
    vocab_json: str = field(default="", metadata=LEARNED)  # the notes and durations seen in training (JSON)
    # not in the book: an embedding of where in the bar the next note starts, added to the tokens'
    bar_position: bool = True
    # the bar positions the model knows (1/24-beat steps of the longest training bar); 0: none, the book's model
    # (as every checkpoint made before bar_position loads)
    bar_steps: int = field(default=0, metadata=LEARNED)
    batch_size: int = 64  # windows per optimisation step
    learning_rate: float = 1e-3  # peak AdamW learning rate, after warm-up
    min_learning_rate: float = 1e-4  # the cosine decay ends here at the last step
    warmup_steps: int = 100  # steps of linear warm-up from 0 to learning_rate
    weight_decay: float = 0.0  # AdamW decay on weight matrices (never on biases or norms)
    grad_clip: float = 1.0  # clip the gradient norm to this (0: no clipping)
    validation_windows: int = 400  # fixed, evenly spaced validation windows averaged by validate()


@dataclass
class EventConfig:
    """A polyphonic Music Transformer on 388 event tokens: a small decoder-only GPT."""

    n_layer: int = 4  # transformer blocks
    n_head: int = 4  # attention heads per block (must divide n_embd)
    n_embd: int = 128  # width of the residual stream
    block_size: int = 256  # the longest context, in events; also the training window
    dropout: float = 0.1  # dropout on attention and residual paths while training
    bias: bool = False  # biases in linear layers and LayerNorms
    transpose: int = 5  # training pieces are transposed by up to this many semitones either way (0: never)
    max_note_seconds: float = 2.0  # a generated note held longer is ended here, so it reaches the roll soon
    batch_size: int = 16  # windows per optimisation step
    learning_rate: float = 1e-3  # peak AdamW learning rate, after warm-up
    min_learning_rate: float = 1e-4  # the cosine decay ends here at the last step
    warmup_steps: int = 100  # steps of linear warm-up from 0 to learning_rate
    weight_decay: float = 0.1  # AdamW decay on weight matrices and embeddings (not biases or norms)
    grad_clip: float = 1.0  # clip the gradient norm to this (0: no clipping)
    validation_windows: int = 200  # fixed, evenly spaced validation windows averaged by validate()
