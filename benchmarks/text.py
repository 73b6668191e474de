"""Text models: the GPT's key/value cache, our streaming against transformers' generate,
and nanoGPT's Shakespeare-character run on a CPU.

    .venv/bin/python benchmarks/text.py [--quick]

- ``kv_cache_speedup_512``: tokens/s generating 512 tokens with the cache ÷ without
  (the same untrained GPT, block_size 640 so nothing is cropped, greedy; the medians of
  three interleaved runs of each). ``kv_cache_speedup_512_with_attention``: the same
  with the attention weights returned at every step, as the Text Composer asks.
- ``vs_hf_generate_ratio``: our streaming tokens/s ÷ ``GPT2LMHeadModel.generate`` on the
  same weights copied into an equivalent GPT-2 (greedy, 512 tokens, both on the CPU).
- ``bare_decode_tokens_per_s`` and ``decode_vs_bare_ratio``: the same GPT's greedy
  cached decoding as a bare loop of torch calls (``_text_decode.py``), and the
  studio's streaming tokens/s over it, the two decoding in lockstep (a token each in
  turn) in this process.
- ``shakespeare_char_val_loss`` and ``train_seconds``: nanoGPT's CPU settings for
  shakespeare_char (4 layers, 4 heads, 128 wide, context 64, batch 12, 2000 steps,
  no dropout, learning rate 1e-3 with warm-up and cosine decay), the trainer run as
  the app runs it: a job alone on the machine; nanoGPT reports 1.88 validation loss
  in about 3 minutes on a laptop. ``bare_loop_train_seconds``: the same GPT, data
  and steps in a plain PyTorch loop (a new process too), and
  ``train_speed_vs_bare_loop`` = its seconds / the job's. One round of both per seed
  (0 to 4); the figures are the medians. The losses are the trainer's validation (240 evenly
  spaced windows, as the app shows it); ``*_full_split`` the same models on every token of the
  validation split, each predicted once (the value nanoGPT's random validation batches
  estimate), and ``nanogpt_estimate_sd`` how far nanoGPT's own figure (``estimate_loss`` with
  ``eval_iters`` 20, as its CPU run reports 1.88) spreads for the job's model.

Generation is timed on the inference thread's torch thread count (``torch_threads``:
half the cores) and in its inference mode, as the Text Composer runs it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# isort: off
from _common import median, report  # noqa: E402  (first: it imports studio, before torch loads)
# isort: on
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from _text_decode import decode_metrics  # noqa: E402

from studio.core.checkpoint import load_model  # noqa: E402
from studio.core.data.text import load_text_file  # noqa: E402
from studio.core.plugins import discover  # noqa: E402
from studio.core.training import decay_groups, warmup_cosine  # noqa: E402
from studio.engine.machine import inference_mode, use_inference_threads  # noqa: E402
from studio.engine.run_folder import CHECKPOINT_NAME  # noqa: E402
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


def greedy_tokens(model: GPT) -> Iterator[int]:
    """The cached greedy stream's tokens, each made when it is taken."""
    return (step.token for step in model.generate(PROMPT, max_new_tokens=NEW_TOKENS, temperature=0))


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


#: nanoGPT's CPU settings for shakespeare_char, as `studio train --set` takes them
NANOGPT_CPU = {"n_layer": "4", "n_head": "4", "n_embd": "128", "block_size": "64", "batch_size": "12",
               "dropout": "0.0", "learning_rate": "1e-3", "min_learning_rate": "1e-4", "warmup_steps": "100"}


#: one training round per seed (a job's seed sets the weights and the batches; the split is nanoGPT's)
SEEDS = (0, 1, 2, 3, 4)


def nanogpt_trainer(seed: int) -> GPTTrainer:
    """The trainer a job at nanoGPT's settings with ``seed`` builds."""
    from studio.core.config import apply_overrides

    split = load_text_file(str(SHAKESPEARE)).split(seed=seed)
    return GPTTrainer(apply_overrides(GPTConfig(), NANOGPT_CPU), split, device="cpu", seed=seed)


def bare_loop_train(steps: int, seed: int) -> tuple[float, float, float]:
    """(seconds, validation loss, full-split loss): the same GPT, data and schedule trained by a plain PyTorch loop, as
    nanoGPT's train.py does (random windows, AdamW, warm-up and cosine, gradient clipping), ending with
    the validation the job also ends with. The trainer only builds the model and token ids (untimed)."""
    trainer = nanogpt_trainer(seed)
    model, ids, c = trainer.model, trainer.train_ids, trainer.config
    optimizer = torch.optim.AdamW(decay_groups(model, c.weight_decay), lr=c.learning_rate, betas=(0.9, c.beta2))
    offsets = torch.arange(c.block_size + 1)
    generator = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = warmup_cosine(step, steps, c.learning_rate, c.min_learning_rate, c.warmup_steps)
        starts = torch.randint(len(ids) - c.block_size, (c.batch_size,), generator=generator)
        windows = ids[starts[:, None] + offsets].long()
        logits = model(windows[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), windows[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), c.grad_clip)
        optimizer.step()
    seconds, validation = time.perf_counter() - start, trainer.validate()["loss"]
    return seconds, validation, full_split_loss(model.eval(), trainer.validation_ids, c.block_size)


def full_split_loss(model, ids: torch.Tensor, block: int) -> float:
    """Mean cross-entropy over every validation token, each predicted once: the split cut into
    consecutive windows of ``block`` (what nanoGPT's random validation batches estimate, exactly)."""
    usable = (len(ids) - 1) // block * block
    inputs, targets = ids[:usable].view(-1, block).long(), ids[1:usable + 1].view(-1, block).long()
    total = 0.0
    with torch.inference_mode():
        for x, y in zip(inputs.split(64), targets.split(64), strict=True):
            logits = model(x)
            total += F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1), reduction="sum").item()
    return total / usable


def nanogpt_estimate_sd(model, ids: torch.Tensor, block: int, batch: int = 12, iters: int = 20,
                        draws: int = 20) -> float:
    """The standard deviation of nanoGPT's validation figure for ``model``: its ``estimate_loss``
    (``eval_iters`` = 20 random batches of 12 windows at the CPU settings) drawn ``draws`` times."""
    generator, offsets, estimates = torch.Generator().manual_seed(0), torch.arange(block + 1), []
    with torch.inference_mode():
        for _ in range(draws):
            losses = []
            for _ in range(iters):
                windows = ids[torch.randint(len(ids) - block, (batch,), generator=generator)[:, None] + offsets].long()
                logits = model(windows[:, :-1])
                losses.append(F.cross_entropy(logits.reshape(-1, logits.size(-1)), windows[:, 1:].reshape(-1)).item())
            estimates.append(sum(losses) / iters)
    return float(torch.tensor(estimates).std())


def bare_loop_process(steps: int, seed: int) -> tuple[float, float, float]:
    """:func:`bare_loop_train` in a new process with a lone job's environment (as the trainer's job runs)."""
    from studio.engine.thread_policy import job_environment, usable_cores

    out = subprocess.run([sys.executable, __file__, "--bare-train", str(steps), str(seed)], check=True,
                         capture_output=True, text=True, env={**os.environ, **job_environment(usable_cores())})
    seconds, loss, full = out.stdout.split()[-3:]
    return float(seconds), float(loss), float(full)


def trainer_as_job(steps: int, seed: int) -> tuple[float, float, float, float]:
    """(seconds, validation loss, full-split loss, nanoGPT estimate's SD) of the trainer run as the app
    runs it: a job of the job manager, alone, at its default cadence (validation and checkpoint every
    500 steps, samples every 250); timed from its "started" event (torch and the data loaded) to
    "finished". The last two are of its final checkpoint, after it has finished."""
    from studio.core.workspace import Workspace
    from studio.engine.jobs import ACTIVE, JobManager, JobOptions

    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.open(Path(tmp) / "ws")
        manager = JobManager(ws, discover().registry, device="cpu")
        job_id = manager.start(JobOptions(model="gpt", data=str(SHAKESPEARE), steps=steps, seed=seed,
                                               overrides=NANOGPT_CPU))
        while manager.store.job(job_id).status in ACTIVE:
            time.sleep(0.5)
        events, job = manager.history(job_id), manager.store.job(job_id)
        manager.close()
        ws.close()
        if job.status != "finished":
            raise RuntimeError(f"the training job {job.status}: {job.error}")
        model = load_model(discover().registry, "gpt", Path(job.out_dir) / CHECKPOINT_NAME).eval()
        ids, block = nanogpt_trainer(seed).validation_ids, model.config.block_size
        full, spread = full_split_loss(model, ids, block), nanogpt_estimate_sd(model, ids, block)
    started = next(e["time"] for e in events if e["event"] == "started")
    finished = next(e["time"] for e in events if e["event"] == "finished")
    validation = [e for e in events if e["event"] == "validation"][-1]["losses"]["loss"]
    return finished - started, validation, full, spread


def shakespeare_char(steps: int) -> dict[str, float]:
    """A round per seed: the bare loop, then the job (each in a new process). Losses are the medians
    over the seeds (measured: they spread over 0.02, four times the margin to nanoGPT's 1.88);
    the speed is the median of the rounds' ratios (a round's two sides see the same machine)."""
    rounds = []
    for seed in SEEDS:
        bare, job = bare_loop_process(steps, seed), trainer_as_job(steps, seed)
        rounds.append((bare, job))
        print(f"  seed {seed}: bare loop {bare[0]:.1f} s, loss {bare[1]:.4f} (full split {bare[2]:.4f}); "
              f"job {job[0]:.1f} s, loss {job[1]:.4f} (full split {job[2]:.4f})", file=sys.stderr, flush=True)
    per_seed = {}
    for seed, (_, job) in zip(SEEDS, rounds, strict=True):
        per_seed[f"shakespeare_char_val_loss_seed_{seed}"] = job[1]
        per_seed[f"shakespeare_char_val_loss_full_split_seed_{seed}"] = job[2]
    return {"shakespeare_char_val_loss": median(job[1] for _, job in rounds),
            "bare_loop_val_loss": median(bare[1] for bare, _ in rounds),
            "shakespeare_char_val_loss_full_split": median(job[2] for _, job in rounds),
            "bare_loop_val_loss_full_split": median(bare[2] for bare, _ in rounds),
            "nanogpt_estimate_sd": median(job[3] for _, job in rounds), **per_seed,
            "train_seconds": median(job[0] for _, job in rounds),
            "bare_loop_train_seconds": median(bare[0] for bare, _ in rounds),
            "train_speed_vs_bare_loop": median(bare[0] / job[0] for bare, job in rounds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="train 200 steps instead of 2000 (a smoke test)")
    parser.add_argument("--bare-train", type=int, nargs=2, metavar=("STEPS", "SEED"),
                        help=argparse.SUPPRESS)  # one side of a ratio
    args = parser.parse_args()
    if args.bare_train:
        print(*bare_loop_train(*args.bare_train))
        return
    use_inference_threads()  # generation runs on the composer's inference thread, with its thread count
    torch.manual_seed(0)
    model = GPT(GENERATION_CONFIG).eval()
    with inference_mode():
        metrics = {"torch_threads": torch.get_num_threads(), **kv_cache(model), **versus_transformers(model),
                   **decode_metrics(model, model.prompt_ids(PROMPT), lambda: greedy_tokens(model), NEW_TOKENS)}
    metrics.update(shakespeare_char(200 if args.quick else 2000))
    report("text", metrics, {
        "kv_cache_speedup_512": "target >= 5 (4x128 GPT, block 640, greedy)",
        "kv_cache_speedup_512_with_attention": "the same, with attention weights as the composer asks",
        "vs_hf_generate_ratio": "target >= 1.0 (same weights in GPT2LMHeadModel.generate)",
        "bare_decode_tokens_per_s": "the same GPT's greedy cached decoding as a bare loop of torch calls",
        "studio_decode_tokens_per_s": "the studio's cached greedy stream, in lockstep with the bare loop",
        "decode_vs_bare_ratio": "the studio's tokens/s / the bare loop's, in lockstep; target >= 0.9",
        "shakespeare_char_val_loss": "the job's, median of seeds 0-4; nanoGPT: 1.88 after 2000 CPU iterations; "
                                     "target <= 1.88",
        "bare_loop_val_loss": "the plain loop's (median of the same seeds), on the same validation windows",
        "shakespeare_char_val_loss_full_split": "the job's final checkpoint on every validation token, median",
        "bare_loop_val_loss_full_split": "the plain loop's model on every validation token, median",
        "nanogpt_estimate_sd": "SD of nanoGPT's own validation figure (20 random batches of 12) for the job's model",
        "train_seconds": "the trainer as a job alone (started to finished), median; nanoGPT: about 3 minutes "
                         "on a laptop",
        "bare_loop_train_seconds": "the same GPT, data and steps in a plain PyTorch loop, in a new process, median",
        "train_speed_vs_bare_loop": "bare-loop seconds / the job's (1.0: as fast), median of the rounds; "
                                    "target >= 0.95",
    })


if __name__ == "__main__":
    main()
