"""Text models: the GPT's key/value cache, our streaming against transformers' generate,
and nanoGPT's Shakespeare-character run on a CPU.

    .venv/bin/python benchmarks/text.py [--quick]

- ``kv_cache_speedup_512``: tokens/s generating 512 tokens with the cache ÷ without
  (the same untrained GPT, block_size 640 so nothing is cropped, greedy; the medians of
  three interleaved runs of each). ``kv_cache_speedup_512_with_attention``: the same
  with the attention weights returned at every step, as the Text Composer asks.
- ``vs_hf_generate_ratio``: our streaming tokens/s ÷ ``GPT2LMHeadModel.generate`` on the
  same weights copied into an equivalent GPT-2 (greedy, 512 tokens, both on the CPU).
- ``shakespeare_char_val_loss`` and ``train_seconds``: nanoGPT's CPU settings for
  shakespeare_char (4 layers, 4 heads, 128 wide, context 64, batch 12, 2000 steps,
  no dropout, learning rate 1e-3 with warm-up and cosine decay) through the trainer's
  ``steps()``; nanoGPT reports 1.88 validation loss in about 3 minutes on a laptop.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# isort: off
from _common import median, report  # noqa: E402  (first: it imports studio, before torch loads)
# isort: on
import torch  # noqa: E402

from studio.core.data.text import load_text_file  # noqa: E402
from studio_builtins.text.config import GPTConfig  # noqa: E402
from studio_builtins.text.gpt import GPT  # noqa: E402
from studio_builtins.text.trainer import GPTTrainer  # noqa: E402

SHAKESPEARE = Path(__file__).resolve().parents[2] / "shared" / "data" / "text" / "tinyshakespeare.txt"
PROMPT = "ROMEO:\nBut soft, what light through yonder window breaks?\n"
NEW_TOKENS = 512
#: the model generation is timed on: nanoGPT's small width, a context long enough for prompt + 512 tokens
GENERATION_CONFIG = GPTConfig(n_layer=4, n_head=4, n_embd=128, block_size=640)


def timed_stream(model: GPT, use_cache: bool, with_attention: bool = False) -> tuple[float, list[int]]:
    start = time.perf_counter()
    tokens = [s.token for s in model.generate(PROMPT, max_new_tokens=NEW_TOKENS, temperature=0, use_cache=use_cache,
                                              with_attention=with_attention)]
    return len(tokens) / (time.perf_counter() - start), tokens


def kv_cache(model: GPT, runs: int = 3) -> dict[str, float]:
    """Cached and uncached runs interleaved (load from other processes hits both alike), compared by
    their medians; without attention weights (the benchmark's figure) and with them, as the
    composer asks for them."""
    metrics: dict[str, float] = {}
    for suffix, with_attention in (("", False), ("_with_attention", True)):
        cached, uncached = [], []
        for _ in range(runs):
            rate, cached_tokens = timed_stream(model, True, with_attention)
            cached.append(rate)
            rate, uncached_tokens = timed_stream(model, False, with_attention)
            uncached.append(rate)
            assert cached_tokens == uncached_tokens, "the cache changed the greedy tokens"
        metrics.update({f"kv_cache_speedup_512{suffix}": median(cached) / median(uncached),
                        f"cached_tokens_per_s{suffix}": median(cached),
                        f"uncached_tokens_per_s{suffix}": median(uncached)})
    return metrics


def as_gpt2(model: GPT):
    """The same network as a transformers GPT2LMHeadModel (exact GELU; missing biases are zeros)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    c = model.config
    hf = GPT2LMHeadModel(GPT2Config(
        n_layer=c.n_layer, n_head=c.n_head, n_embd=c.n_embd, n_positions=c.block_size,
        vocab_size=model.tokenizer.vocab_size, activation_function="gelu", layer_norm_epsilon=1e-5,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=None, eos_token_id=None)).eval()
    ours = model.state_dict()
    with torch.no_grad():
        for name, target in hf.state_dict().items():
            source = name.removeprefix("transformer.")
            if source in ours:
                value = ours[source]
                if value.dim() == 2 and source.startswith("h."):
                    value = value.t()  # GPT-2 stores its linear weights as (in, out)
                target.copy_(value)
            elif name.endswith(".bias"):
                target.zero_()  # a bias our bias-free model does not have
            else:
                raise KeyError(f"no weights for {name}")
    return hf


def versus_transformers(model: GPT) -> dict[str, float]:
    hf = as_gpt2(model)
    ids = torch.tensor([model.encode(PROMPT)])
    with torch.no_grad():
        same = torch.allclose(hf(ids).logits[0, -1], model(ids)[0, -1], atol=1e-4)
    assert same, "the GPT-2 copy computes different logits"

    def hf_rate() -> tuple[float, list[int]]:
        start = time.perf_counter()
        out = hf.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=NEW_TOKENS, do_sample=False,
                          pad_token_id=0)
        return NEW_TOKENS / (time.perf_counter() - start), out[0, ids.size(1):].tolist()

    ours, theirs = [], []
    for _ in range(3):  # interleaved, so load from other processes hits both alike
        ours.append(timed_stream(model, True)[0])
        rate, hf_tokens = hf_rate()
        theirs.append(rate)
    assert hf_tokens == timed_stream(model, True)[1], "transformers' greedy tokens differ from ours"
    return {"vs_hf_generate_ratio": median(ours) / median(theirs), "hf_generate_tokens_per_s": median(theirs)}


def shakespeare_char(steps: int) -> dict[str, float]:
    split = load_text_file(str(SHAKESPEARE)).split(seed=0)
    config = GPTConfig(n_layer=4, n_head=4, n_embd=128, block_size=64, batch_size=12, dropout=0.0,
                       learning_rate=1e-3, min_learning_rate=1e-4, warmup_steps=100)
    start = time.perf_counter()
    trainer = GPTTrainer(config, split, device="cpu", seed=1337)
    for progress in trainer.steps(0, steps):
        if progress.step % 250 == 0:
            print(f"  step {progress.step}: loss {progress.losses['loss']:.3f}", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - start
    return {"shakespeare_char_val_loss": trainer.validate()["loss"], "train_seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="train 200 steps instead of 2000 (a smoke test)")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = GPT(GENERATION_CONFIG).eval()
    metrics = {**kv_cache(model), **versus_transformers(model)}
    metrics.update(shakespeare_char(200 if args.quick else 2000))
    report("text", metrics, {
        "kv_cache_speedup_512": "target >= 5 (4x128 GPT, block 640, greedy)",
        "kv_cache_speedup_512_with_attention": "the same, with attention weights as the composer asks",
        "vs_hf_generate_ratio": "target >= 1.0 (same weights in GPT2LMHeadModel.generate)",
        "shakespeare_char_val_loss": "nanoGPT: 1.88 after 2000 CPU iterations",
        "train_seconds": "nanoGPT: about 3 minutes on a laptop",
    })


if __name__ == "__main__":
    main()
