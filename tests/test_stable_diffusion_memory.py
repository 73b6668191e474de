"""Stable Diffusion within the GPU's memory (issue 16): the measures decided from the free memory and the
batch, applied to the tiny pipeline of sd_support, and an out-of-memory error the artist can act on.

There is no GPU here: the CUDA path runs with the free memory it reads patched, on a model whose
device says CUDA while its pipeline computes on the CPU.
"""

import numpy as np
import pytest
import torch
from sd_support import tiny_folder

from studio.core.capabilities import ModelError, SampleOptions, sample_images
from studio_builtins.stable_diffusion import memory
from studio_builtins.stable_diffusion.memory import MemoryMeasures, decide

GiB = 2**30
PROMPT = {"prompt": "a photo of a cat"}


def test_plenty_of_memory_needs_no_measure():
    assert decide(80 * GiB, 512, 512, 1, "sd1") == MemoryMeasures()
    assert decide(80 * GiB, 1024, 1024, 4, "sdxl") == MemoryMeasures()


def test_short_memory_slices_attention_and_tiles_the_decode():
    assert decide(2 * GiB, 1024, 1024, 4, "sd1") == MemoryMeasures(attention_slicing=True, vae_tiling=True)


def test_a_big_batch_of_small_images_slices_attention_without_tiling():
    # 8 images of 512x512 with guidance: 16 x 8 heads x 4096² scores, while each decode is small
    assert decide(12 * GiB, 512, 512, 8, "sd1") == MemoryMeasures(attention_slicing=True)
    assert decide(12 * GiB, 512, 512, 2, "sd1") == MemoryMeasures()


def test_an_sdxl_image_on_an_8_gb_card_tiles_its_decode_without_slicing():
    # SDXL attends from half the latents' size, and its VAE decodes in float32
    assert decide(8 * GiB, 1024, 1024, 1, "sdxl") == MemoryMeasures(vae_tiling=True)
    assert decide(8 * GiB, 1024, 1024, 1, "sd1").attention_slicing  # SD 1.x attends at full latent size


def test_cpu_offload_is_the_artists_choice_whatever_the_memory():
    assert decide(80 * GiB, 512, 512, 1, "sd1", cpu_offload=True) == MemoryMeasures(cpu_offload=True)


class RecordingPipe:
    """What prepare asks of a pipeline, on a machine without a GPU."""

    def __init__(self):
        self.calls = []
        self.vae = self
        self.unet = type("Unet", (), {"config": type("Config", (), {"sample_size": 64})})()
        self.vae_scale_factor = 8

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, **kwargs: self.calls.append((name, kwargs))


def test_on_cuda_the_free_memory_and_the_offload_variable_decide(monkeypatch):
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (GiB, 8 * GiB))
    monkeypatch.setenv(memory.CPU_OFFLOAD_VARIABLE, "1")
    pipe = RecordingPipe()
    measures = memory.prepare(pipe, "cuda", "sd1", {"prompt": ["a cat"] * 4, "width": 768, "height": 768})
    assert measures == MemoryMeasures(attention_slicing=True, vae_tiling=True, cpu_offload=True)
    assert pipe.calls == [("enable_model_cpu_offload", {"device": "cuda"}), ("enable_attention_slicing", {}),
                          ("enable_tiling", {})]
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (80 * GiB, 80 * GiB))
    monkeypatch.delenv(memory.CPU_OFFLOAD_VARIABLE)
    pipe.calls.clear()
    assert memory.prepare(pipe, "cuda", "sd1", {"prompt": ["a cat"]}) == MemoryMeasures()  # 512x512, its own size
    assert pipe.calls == [("disable_attention_slicing", {}), ("disable_tiling", {})]


def test_on_the_cpu_nothing_is_changed(monkeypatch):
    monkeypatch.setenv(memory.CPU_OFFLOAD_VARIABLE, "1")
    pipe = RecordingPipe()
    assert memory.prepare(pipe, "cpu", "sd1", {"prompt": ["a cat"] * 64, "width": 4096, "height": 4096}) is None
    assert pipe.calls == []


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from studio_builtins.stable_diffusion.loading import load_stable_diffusion

    return load_stable_diffusion(str(tiny_folder(tmp_path_factory.mktemp("sd"))), "cpu")


def sample(model, n=2, seed=5, **options):
    return sample_images(model, n, seed=seed, condition=PROMPT, options=SampleOptions(steps=3, **options))


def processors(model):
    return {type(p).__name__ for p in model.pipe.unet.attn_processors.values()}


def test_the_measures_keep_the_images_and_turn_off_again(model, monkeypatch):
    plain = sample(model)
    start = np.random.default_rng(0).random((64, 64, 3)).astype(np.float32)  # two of the VAE's tiles wide
    large = sample(model, init_image=start, strength=0.5)
    monkeypatch.setattr(model, "device", "cuda")  # the pipeline still computes on the CPU
    # the estimates are of full-size models: at the tiny one's 32x32, only a kilobyte free is short
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (2**10, 8 * GiB))
    sliced = sample(model)
    assert processors(model) == {"SlicedAttnProcessor"} and model.pipe.vae.use_tiling
    np.testing.assert_allclose(sliced, plain, atol=1e-5)  # measured: 1.5e-6
    # an image larger than one tile is decoded tile by tile: with the tiny VAE's random weights the seams show
    assert np.abs(sample(model, init_image=start, strength=0.5) - large).mean() > 1e-3
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (80 * GiB, 80 * GiB))
    np.testing.assert_array_equal(sample(model), plain)
    np.testing.assert_array_equal(sample(model, init_image=start, strength=0.5), large)
    assert processors(model) == {"AttnProcessor2_0"} and not model.pipe.vae.use_tiling


def test_out_of_memory_says_what_to_lower_and_the_next_sample_works(model, monkeypatch):
    plain = sample(model)

    def out_of_memory(pipe, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 3.00 GiB")

    monkeypatch.setattr(type(model.pipe), "__call__", out_of_memory)
    with pytest.raises(ModelError, match="Out of memory making 2 images of 32x32: make fewer images at once "
                                         "or smaller ones"):
        sample(model)
    monkeypatch.undo()
    np.testing.assert_array_equal(sample(model), plain)
