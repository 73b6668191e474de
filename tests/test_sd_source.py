"""Recognising a Stable Diffusion model on disk (issue 16, item 1): every refusal names what is wrong.

No torch, diffusers or transformers: checkpoints are safetensors files of tiny numpy arrays whose
key names are those of the real families; diffusers folders are configs and tiny files.
"""

import json
import struct
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import save_file

from studio.core.capabilities import ModelError
from studio_builtins.stable_diffusion.source import (
    FAMILIES,
    MAX_HEADER_BYTES,
    config_folder,
    inspect_source,
)

T = np.zeros(1, dtype=np.float32)
UNET = {
    "model.diffusion_model.input_blocks.0.0.weight": np.zeros((1, 4, 1, 1), np.float32),
    "model.diffusion_model.output_blocks.11.0.skip_connection.weight": T,
}
VAE = {"first_stage_model.decoder.conv_out.weight": T}
SD1 = {**UNET, **VAE, "cond_stage_model.transformer.text_model.embeddings.position_embedding.weight": T}
SD2 = {
    **UNET, **VAE,
    "model.diffusion_model.input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight": np.zeros((1, 1024), np.float32),
    "cond_stage_model.model.token_embedding.weight": T,
}
SDXL = {
    **UNET, **VAE,
    "conditioner.embedders.0.transformer.text_model.embeddings.position_embedding.weight": T,
    "conditioner.embedders.1.model.transformer.resblocks.9.mlp.c_proj.bias": T,
    "conditioner.embedders.1.model.positional_embedding": T,
}


def tokenizer_folder(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text("{}")
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return folder


def checkpoint(tmp_path, tensors, name="model.safetensors", tokenizer=True):
    path = tmp_path / name
    save_file(tensors, str(path))
    if tokenizer:
        tokenizer_folder(tmp_path / "tokenizer")
    return path


def raw_file(tmp_path, data, name="model.safetensors"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def message(path, **kwargs):
    with pytest.raises(ModelError) as error:
        inspect_source(path, **kwargs)
    return str(error.value)


@pytest.mark.parametrize(("tensors", "family", "parts"), [
    (SD1, "sd1", ("unet", "vae", "text_encoder")),
    (SD2, "sd2", ("unet", "vae", "text_encoder")),
    (SDXL, "sdxl", ("unet", "vae", "text_encoder", "text_encoder_2")),
])
def test_each_family_is_told_from_its_key_names(tmp_path, tensors, family, parts):
    info = inspect_source(checkpoint(tmp_path, tensors))
    assert (info.kind, info.family, info.parts) == ("single_file", family, parts)
    assert info.tokenizer == tmp_path / "tokenizer"


def test_sd2_needs_the_wide_cross_attention_as_diffusers_checks(tmp_path):
    narrow = {**SD2, "cond_stage_model.transformer.text_model.x": T}
    narrow["model.diffusion_model.input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight"] = np.zeros(
        (1, 768), np.float32)
    assert inspect_source(checkpoint(tmp_path, narrow)).family == "sd1"


def test_a_missing_path_is_named(tmp_path):
    assert "does not exist" in message(tmp_path / "nothing.safetensors")


def test_a_file_that_is_no_model_format_is_refused(tmp_path):
    text = message(raw_file(tmp_path, b"hello", "notes.txt"))
    assert "notes.txt" in text and ".safetensors" in text and "model_index.json" in text


@pytest.mark.parametrize("suffix", [".ckpt", ".pt", ".pth", ".bin"])
def test_pickles_are_refused_saying_why_and_how_to_convert(tmp_path, suffix):
    text = message(raw_file(tmp_path, b"\x80\x04K\x01.", "model" + suffix))
    assert "pickle" in text and "run any code" in text and "convert" in text.lower()
    assert "convert_original_stable_diffusion_to_diffusers.py" in text and f"model{suffix}" in text


@pytest.mark.parametrize("data", [
    b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00}\x94.",  # a bare pickle
    b"PK\x03\x04\x00\x00\x08\x08\x00\x00" + b"\x00" * 40,  # PyTorch's zip format
])
def test_a_pickle_renamed_to_safetensors_is_refused(tmp_path, data):
    text = message(raw_file(tmp_path, data))
    assert "pickle" in text and "renamed" in text and "convert" in text.lower()


def test_a_huge_header_length_is_refused_without_reading_it(tmp_path):
    path = raw_file(tmp_path, struct.pack("<Q", MAX_HEADER_BYTES + 1) + b"{}")
    assert "header" in message(path) and "100 MB" in message(path)


def test_a_truncated_file_is_refused(tmp_path):
    full = checkpoint(tmp_path, SD1).read_bytes()
    assert "truncated" in message(raw_file(tmp_path, full[:-2]))
    assert "truncated" in message(raw_file(tmp_path, full[:20]))
    assert "only 3 bytes" in message(raw_file(tmp_path, b"abc"))


def test_a_header_that_is_not_json_is_refused(tmp_path):
    path = raw_file(tmp_path, struct.pack("<Q", 4) + b"nope")
    assert "not JSON" in message(path)
    path = raw_file(tmp_path, struct.pack("<Q", 2) + b"[]")
    assert "not a table of tensors" in message(path)


@pytest.mark.parametrize(("tensors", "words"), [
    ({"lora_unet_down_blocks_0.lora_up.weight": T, "lora_unet_down_blocks_0.lora_down.weight": T}, "a LoRA"),
    ({"unet.down.lora_A.weight": T, "unet.down.lora_B.weight": T, "x": T}, "a LoRA"),
    ({"encoder.conv_in.weight": T, "decoder.conv_out.weight": T, "quant_conv.weight": T}, "a VAE alone"),
    ({"emb_params": T}, "an embedding"),
    ({"clip_l": T, "clip_g": T}, "an embedding"),
    ({"conv_in.weight": T, "down_blocks.0.resnets.0.conv1.weight": T, "time_embedding.linear_1.weight": T},
     "a diffusers UNet alone"),
    ({"a.b": T, "c.d": T, "e.f": T}, "does not look like a Stable Diffusion checkpoint"),
])
def test_a_file_that_is_not_a_checkpoint_says_what_it_looks_like(tmp_path, tensors, words):
    text = message(checkpoint(tmp_path, tensors))
    assert words in text and "SDXL checkpoint" in text


def test_a_checkpoint_without_its_vae_names_the_part(tmp_path):
    tensors = {k: v for k, v in SD1.items() if not k.startswith("first_stage_model.")}
    text = message(checkpoint(tmp_path, tensors))
    assert "Stable Diffusion 1.x" in text and "vae (the autoencoder" in text


def test_an_sdxl_checkpoint_without_its_second_text_encoder_names_it(tmp_path):
    tensors = {k: v for k, v in SDXL.items() if not k.startswith("conditioner.embedders.1.")}
    tensors["conditioner.embedders.0.transformer.text_model.x"] = T
    text = message(checkpoint(tmp_path, tensors))
    assert "no text encoder" in text  # without embedders.1 there is no SDXL key left: nothing matches


def test_inpainting_and_refiner_checkpoints_are_refused_by_name(tmp_path):
    inpaint = {**SD1, "model.diffusion_model.input_blocks.0.0.weight": np.zeros((1, 9, 1, 1), np.float32)}
    assert "inpainting" in message(checkpoint(tmp_path, inpaint))
    refiner = {**UNET, **VAE, "conditioner.embedders.0.model.transformer.resblocks.9.mlp.c_proj.bias": T}
    assert "refiner" in message(checkpoint(tmp_path, refiner))


def test_the_tokenizer_can_come_from_a_tokenizer_folder_or_a_diffusers_folder(tmp_path):
    path = checkpoint(tmp_path, SD1, tokenizer=False)
    own = tokenizer_folder(tmp_path / "clip-tok")
    assert inspect_source(path, tokenizer_from=own).tokenizer == own
    diffusers_folder = tmp_path / "sd15"
    tokenizer_folder(diffusers_folder / "tokenizer")
    assert inspect_source(path, tokenizer_from=diffusers_folder).tokenizer == diffusers_folder / "tokenizer"


def test_a_missing_tokenizer_says_which_files_and_where(tmp_path):
    path = checkpoint(tmp_path, SD1, tokenizer=False)
    text = message(path)
    assert str(tmp_path / "tokenizer") in text and "vocab.json and merges.txt" in text
    half = tmp_path / "half"
    half.mkdir()
    (half / "vocab.json").write_text("{}")
    text = message(path, tokenizer_from=half)
    assert f"{half} lacks merges.txt" in text and f"{half / 'tokenizer'} lacks vocab.json and merges.txt" in text


def diffusers_folder(root, xl=False):
    """A fake diffusers folder: real layout, configs and tiny weight files."""
    parts = {"unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
             "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
             "scheduler": ["diffusers", "EulerDiscreteScheduler"],
             "safety_checker": [None, None], "feature_extractor": ["transformers", "CLIPImageProcessor"]}
    if xl:
        parts |= {"text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
                  "tokenizer_2": ["transformers", "CLIPTokenizer"]}
    name = "StableDiffusionXLPipeline" if xl else "StableDiffusionPipeline"
    root.mkdir()
    (root / "model_index.json").write_text(json.dumps({"_class_name": name, **parts}))
    for part in parts:
        if part.startswith("tokenizer"):
            tokenizer_folder(root / part)
        elif part == "scheduler":
            (root / part).mkdir()
            (root / part / "scheduler_config.json").write_text("{}")
        elif part in ("unet", "vae") or part.startswith("text_encoder"):
            (root / part).mkdir()
            config = {"cross_attention_dim": 2048 if xl else 768} if part == "unet" else {}
            (root / part / "config.json").write_text(json.dumps(config))
            save_file({"w": T}, str(root / part / "model.safetensors"))
    return root


@pytest.mark.parametrize(("xl", "family"), [(False, "sd1"), (True, "sdxl")])
def test_a_good_diffusers_folder_passes_and_lists_its_parts(tmp_path, xl, family):
    folder = diffusers_folder(tmp_path / "model", xl)
    info = inspect_source(folder)
    assert (info.kind, info.family, info.tokenizer) == ("folder", family, folder / "tokenizer")
    expected = {"unet", "vae", "text_encoder", "tokenizer", "scheduler", "feature_extractor"}
    assert set(info.parts) == expected | ({"text_encoder_2", "tokenizer_2"} if xl else set())


def test_a_folder_missing_its_unet_says_so(tmp_path):
    folder = diffusers_folder(tmp_path / "model")
    (folder / "unet" / "config.json").unlink()
    (folder / "unet" / "model.safetensors").unlink()
    (folder / "unet").rmdir()
    assert "has no unet/ (the denoising network)" in message(folder)


@pytest.mark.parametrize(("part", "file", "words"), [
    ("vae", "config.json", "has no config.json"),
    ("scheduler", "scheduler_config.json", "has no scheduler_config.json"),
    ("tokenizer", "merges.txt", "has no merges.txt"),
    ("text_encoder", "model.safetensors", "has no weights"),
])
def test_a_part_missing_a_file_names_part_and_file(tmp_path, part, file, words):
    folder = diffusers_folder(tmp_path / "model")
    (folder / part / file).unlink()
    text = message(folder)
    assert str(folder / part) in text and words in text


def test_a_folder_part_with_only_pickled_weights_is_refused(tmp_path):
    folder = diffusers_folder(tmp_path / "model")
    (folder / "unet" / "model.safetensors").unlink()
    (folder / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"\x80\x04.")
    text = message(folder)
    assert "unet" in text and "diffusion_pytorch_model.bin" in text and "pickle" in text and "onvert" in text


def test_a_folder_with_a_broken_model_index_says_so(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    assert "no model_index.json" in message(folder)
    (folder / "model_index.json").write_text("{not json")
    assert "not valid JSON" in message(folder)
    (folder / "model_index.json").write_text("{}")
    assert "_class_name" in message(folder)


@pytest.mark.parametrize("family", FAMILIES)
def test_the_shipped_configs_are_a_diffusers_layout_of_the_family(family):
    folder = config_folder(family)
    index = json.loads((folder / "model_index.json").read_text())
    for part in ("unet", "vae", "text_encoder") + (("text_encoder_2",) if family == "sdxl" else ()):
        assert part in index and json.loads((folder / part / "config.json").read_text())
    assert json.loads((folder / "scheduler" / "scheduler_config.json").read_text())["num_train_timesteps"] == 1000
    unet = json.loads((folder / "unet" / "config.json").read_text())
    assert unet["cross_attention_dim"] == {"sd1": 768, "sd2": 1024, "sdxl": 2048}[family]
    with pytest.raises(ValueError):
        config_folder("sd3")


def test_the_module_imports_neither_torch_nor_diffusers():
    code = ("import sys, studio_builtins.stable_diffusion.source; "
            "print([m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
