"""Tiny Stable Diffusion models built from configs, saved as an artist keeps them (issue 16).

A UNet, VAE and CLIP text encoder a few hundred kilobytes each, and a byte-level CLIP tokenizer
written here (every byte, alone and word-final, and a few merges), so nothing comes from a hub.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

#: the tiny text encoder's width, which its UNet attends to
TEXT_WIDTH = 32


def _byte_chars() -> list[str]:
    """GPT-2's (and CLIP's) printable stand-ins for the 256 bytes."""
    chars = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    extra = [b for b in range(256) if b not in chars]
    return [chr(c) for c in chars] + [chr(256 + i) for i in range(len(extra))]


def write_tokenizer(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    chars = _byte_chars()
    merges = ["a t</w>", "c at</w>", "p h", "o t", "ph ot", "phot o</w>"]
    tokens = chars + [c + "</w>" for c in chars] + [m.replace(" ", "") for m in merges]
    vocab = {token: i for i, token in enumerate(tokens)}
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"model_max_length": 77, "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
         "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "tokenizer_class": "CLIPTokenizer"}))
    return folder


def tiny_pipeline(seed: int = 0, widths: tuple[int, int] = (32, 64), latent_size: int = 16,
                  text_width: int = TEXT_WIDTH):
    """A StableDiffusionPipeline of images twice ``latent_size`` wide (32x32 by default), random weights
    of ``seed``; ``widths`` are the UNet's two levels (the benchmark's model is wider)."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=widths, layers_per_block=1, sample_size=latent_size, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=text_width, norm_num_groups=8, attention_head_dim=4)
    vae = AutoencoderKL(block_out_channels=[16, 32], in_channels=3, out_channels=3,
                        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                        latent_channels=4, norm_num_groups=8, sample_size=2 * latent_size)
    tokenizer_dir = write_tokenizer(Path(tempfile.mkdtemp()) / "tokenizer")
    tokenizer = CLIPTokenizer.from_pretrained(str(tokenizer_dir), local_files_only=True)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        hidden_size=text_width, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
        vocab_size=len(tokenizer), projection_dim=text_width))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False)
    return StableDiffusionPipeline(unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)


def tiny_folder(root: Path, seed: int = 0, **sizes) -> Path:
    """The tiny pipeline (of ``sizes``, see :func:`tiny_pipeline`) saved as a diffusers folder."""
    folder = root / "tiny-sd"
    tiny_pipeline(seed, **sizes).save_pretrained(str(folder), safe_serialization=True)
    return folder
