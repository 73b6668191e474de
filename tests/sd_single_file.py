"""The tiny Stable Diffusion pipeline of :mod:`sd_support` written as one original-format checkpoint.

A real SD 1.x ``.safetensors`` holds the CompVis/LDM names (``model.diffusion_model.*``,
``first_stage_model.*``, ``cond_stage_model.transformer.*``), not diffusers'. This is the reverse of
diffusers' single-file conversion, following its ``scripts/convert_diffusers_to_original_stable_diffusion.py``;
that script hardcodes SD's four blocks of two layers, so the block numbering here is computed from
the model's config instead (the tiny UNet has two blocks of one layer), by the rule diffusers'
``convert_ldm_unet_checkpoint`` reads it back with: a down block takes ``layers_per_block + 1``
input blocks, its resnets then its downsampler, an up block ``layers_per_block + 1`` output blocks.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sd_support import tiny_pipeline

#: LDM names of a UNet resnet's layers (diffusers name, LDM name)
_UNET_RESNET = (("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("norm2", "out_layers.0"),
                ("conv2", "out_layers.3"), ("time_emb_proj", "emb_layers.1"), ("conv_shortcut", "skip_connection"))
_UNET_TOP = {"time_embedding.linear_1.": "time_embed.0.", "time_embedding.linear_2.": "time_embed.2.",
             "conv_in.": "input_blocks.0.0.", "conv_norm_out.": "out.0.", "conv_out.": "out.2."}
#: LDM names of the VAE's mid-block attention, a 1x1 convolution there where diffusers has a linear layer
_VAE_ATTENTION = (("group_norm.", "norm."), ("to_q.", "q."), ("to_k.", "k."), ("to_v.", "v."),
                  ("to_out.0.", "proj_out."))


def unet_prefixes(config) -> dict[str, str]:
    """Each diffusers prefix of the UNet and the LDM prefix it has in a checkpoint."""
    layers, blocks = int(config["layers_per_block"]), len(config["block_out_channels"])
    prefixes = dict(_UNET_TOP)
    for i, kind in enumerate(config["down_block_types"]):
        for j in range(layers):
            ldm = f"input_blocks.{(layers + 1) * i + j + 1}"
            prefixes[f"down_blocks.{i}.resnets.{j}."] = f"{ldm}.0."
            if "CrossAttn" in kind:
                prefixes[f"down_blocks.{i}.attentions.{j}."] = f"{ldm}.1."
        if i < blocks - 1:
            prefixes[f"down_blocks.{i}.downsamplers.0.conv."] = f"input_blocks.{(layers + 1) * (i + 1)}.0.op."
    for i, kind in enumerate(config["up_block_types"]):
        attention = "CrossAttn" in kind
        for j in range(layers + 1):
            ldm = f"output_blocks.{(layers + 1) * i + j}"
            prefixes[f"up_blocks.{i}.resnets.{j}."] = f"{ldm}.0."
            if attention:
                prefixes[f"up_blocks.{i}.attentions.{j}."] = f"{ldm}.1."
        if i < blocks - 1:
            after = 2 if attention else 1  # the upsampler follows the block's last resnet (and attention)
            prefixes[f"up_blocks.{i}.upsamplers.0."] = f"output_blocks.{(layers + 1) * i + layers}.{after}."
    prefixes["mid_block.attentions.0."] = "middle_block.1."
    for j in range(2):
        prefixes[f"mid_block.resnets.{j}."] = f"middle_block.{2 * j}."
    return prefixes


def vae_prefixes(config) -> dict[str, str]:
    """Each diffusers prefix of the VAE and its LDM prefix (the decoder's blocks numbered in reverse)."""
    blocks, layers = len(config["down_block_types"]), int(config["layers_per_block"])
    prefixes = {"encoder.conv_norm_out.": "encoder.norm_out.", "decoder.conv_norm_out.": "decoder.norm_out."}
    for i in range(blocks):
        for j in range(layers):
            prefixes[f"encoder.down_blocks.{i}.resnets.{j}."] = f"encoder.down.{i}.block.{j}."
        for j in range(layers + 1):
            prefixes[f"decoder.up_blocks.{i}.resnets.{j}."] = f"decoder.up.{blocks - 1 - i}.block.{j}."
        if i < blocks - 1:
            prefixes[f"encoder.down_blocks.{i}.downsamplers.0."] = f"encoder.down.{i}.downsample."
            prefixes[f"decoder.up_blocks.{i}.upsamplers.0."] = f"decoder.up.{blocks - 1 - i}.upsample."
    for half in ("encoder", "decoder"):
        prefixes[f"{half}.mid_block.attentions.0."] = f"{half}.mid.attn_1."
        for j in range(2):
            prefixes[f"{half}.mid_block.resnets.{j}."] = f"{half}.mid.block_{j + 1}."
    return prefixes


def _renamed(key: str, prefixes: dict[str, str]) -> tuple[str, str]:
    """``key`` with its longest known prefix replaced, and the rest of it (unchanged keys come back whole)."""
    for old in sorted(prefixes, key=len, reverse=True):
        if key.startswith(old):
            return prefixes[old], key[len(old):]
    return "", key


def _inner(rest: str, renames) -> str:
    for old, new in renames:
        if rest.startswith(old):
            return new + rest[len(old):]
    return rest


def unet_to_ldm(state: dict, config) -> dict:
    prefixes = unet_prefixes(config)
    converted = {}
    for key, tensor in state.items():
        prefix, rest = _renamed(key, prefixes)
        if ".resnets." in key:
            rest = _inner(rest, [(old + ".", new + ".") for old, new in _UNET_RESNET])
        converted["model.diffusion_model." + prefix + rest] = tensor
    return converted


def vae_to_ldm(state: dict, config) -> dict:
    prefixes = vae_prefixes(config)
    converted = {}
    for key, tensor in state.items():
        prefix, rest = _renamed(key, prefixes)
        if ".resnets." in key:
            rest = _inner(rest, [("conv_shortcut.", "nin_shortcut.")])
        if ".attentions." in key:
            rest = _inner(rest, _VAE_ATTENTION)
            if tensor.ndim == 2:
                tensor = tensor.reshape(*tensor.shape, 1, 1)
        converted["first_stage_model." + prefix + rest] = tensor
    return converted


def text_encoder_to_ldm(state: dict) -> dict:
    """SD 1.x keeps transformers' CLIP names under ``cond_stage_model.transformer.text_model.``
    (transformers 5.6 dropped the ``text_model.`` level from CLIPTextModel's own names)."""
    return {"cond_stage_model.transformer." + (key if key.startswith("text_model.") else "text_model." + key): tensor
            for key, tensor in state.items()}


def write_single_file(pipe, path: Path) -> Path:
    """``pipe``'s UNet, VAE and text encoder as one SD 1.x checkpoint at ``path``."""
    from safetensors.torch import save_file

    tensors = {**unet_to_ldm(pipe.unet.state_dict(), pipe.unet.config),
               **vae_to_ldm(pipe.vae.state_dict(), pipe.vae.config),
               **text_encoder_to_ldm(pipe.text_encoder.state_dict())}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({key: tensor.contiguous() for key, tensor in tensors.items()}, str(path))
    return path


def tiny_checkpoint(root: Path, seed: int = 0) -> tuple[Path, Path, Path]:
    """One tiny pipeline kept three ways: a diffusers folder, a single ``model.safetensors`` with
    the tokenizer/ folder beside it (as an artist keeps one), and the pipeline's configs without
    weights (what ``resources/stable_diffusion/sd1`` is to a full-size file)."""
    pipe = tiny_pipeline(seed)
    folder = root / "tiny-sd"
    pipe.save_pretrained(str(folder), safe_serialization=True)
    checkpoint = write_single_file(pipe, root / "checkpoints" / "model.safetensors")
    shutil.copytree(folder / "tokenizer", checkpoint.parent / "tokenizer")
    configs = root / "tiny-configs"
    shutil.copytree(folder, configs, ignore=shutil.ignore_patterns("*.safetensors", "tokenizer"))
    return folder, checkpoint, configs
