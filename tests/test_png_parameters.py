"""PNG parameters other tools read: the web UI's ``parameters`` text, written and read, beside the
studio's own JSON chunk; PNGs of earlier studio versions still read."""

import json

import numpy as np
from PIL import Image, PngImagePlugin

from studio.core.imaging import read_png_metadata, read_png_params, save_png
from studio.core.png_parameters import as_size, format_parameters, parse_parameters

SHA = "1a2b3c4d5e6f7a8b9c0d" + "0" * 44
PARAMS = {"model": "diffusion", "checkpoint": "/runs/fashion/checkpoint.safetensors", "checkpoint_sha256": SHA,
          "seed": 42, "steps": 20, "sampler": "DDIM", "guidance_scale": 3.0, "n": 16}


def test_the_text_is_written_as_the_web_ui_writes_it():
    assert format_parameters(PARAMS, (32, 32)) == (
        "Steps: 20, Sampler: DDIM, CFG scale: 3, Seed: 42, Size: 32x32, Model hash: 1a2b3c4d5e, Model: fashion")


def test_a_prompt_comes_first_and_values_with_commas_or_colons_are_quoted():
    params = {**PARAMS, "condition": {"prompt": "a coat, red"}, "sampler": "DPM++ 2M: Karras",
              "class_name": "Coat, long", "guidance_scale": 7.5}
    text = format_parameters(params, (64, 48))
    prompt, last = text.split("\n")
    assert prompt == "a coat, red"
    assert 'Sampler: "DPM++ 2M: Karras"' in last and 'Class: "Coat, long"' in last and "Size: 64x48" in last
    assert "CFG scale: 7.5" in last
    parsed = parse_parameters(text)
    assert parsed["prompt"] == "a coat, red" and parsed["Sampler"] == "DPM++ 2M: Karras"
    assert parsed["Class"] == "Coat, long" and parsed["Seed"] == "42"


def test_one_image_of_a_grid_gives_its_own_seed_when_the_model_seeds_each_image():
    assert "Seed: 45" in format_parameters({**PARAMS, "seed_per_image": True, "index": 3}, (32, 32))
    assert "Seed: 42" in format_parameters({**PARAMS, "index": 3}, (32, 32))


def test_another_tools_text_is_read_with_its_negative_prompt():
    text = ("masterpiece, a cat\nsitting\nNegative prompt: blurry, lowres\n"
            'Steps: 30, Sampler: Euler a, CFG scale: 7, Seed: 1234, Size: 512x768, Model hash: abcdef1234, '
            'Model: sd15, Lora hashes: "detail: 0123abcd", Version: v1.9.0')
    parsed = parse_parameters(text)
    assert parsed["prompt"] == "masterpiece, a cat\nsitting" and parsed["negative_prompt"] == "blurry, lowres"
    assert parsed["Sampler"] == "Euler a" and parsed["Lora hashes"] == "detail: 0123abcd"
    assert as_size(parsed["Size"]) == (512, 768) and parsed["Version"] == "v1.9.0"
    assert parse_parameters("just a description of a photo") == {}


def test_a_saved_png_holds_both_chunks_and_reads_back(tmp_path):
    path = tmp_path / "made.png"
    save_png(np.zeros((8, 8, 1), np.float32), path, {**PARAMS, "size": [32, 32]})
    with Image.open(path) as image:
        assert image.text["parameters"].startswith("Steps: 20, Sampler: DDIM")
        assert "Size: 32x32" in image.text["parameters"]
        assert json.loads(image.text["studio"]) == {**PARAMS, "size": [32, 32]}
    assert read_png_params(path) == {**PARAMS, "size": [32, 32]}


def test_a_png_from_an_earlier_studio_still_reads(tmp_path):
    path = tmp_path / "old.png"
    info = PngImagePlugin.PngInfo()
    for key, value in {"model": "vae", "seed": 7, "n": 4}.items():
        info.add_text(f"studio:{key}", json.dumps(value))
    Image.new("L", (4, 4)).save(path, pnginfo=info)
    assert read_png_params(path) == {"model": "vae", "seed": 7, "n": 4}


def test_a_foreign_png_gives_its_text_and_no_studio_parameters(tmp_path):
    path = tmp_path / "foreign.png"
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "Steps: 20, Seed: 5, Size: 32x32")
    Image.new("RGB", (4, 4)).save(path, pnginfo=info)
    metadata = read_png_metadata(path)
    assert metadata.params == {} and parse_parameters(metadata.parameters)["Seed"] == "5"
