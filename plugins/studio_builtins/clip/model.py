"""CLIP scores of images against a prompt (the ``PromptScorer`` capability).

Each image goes through the folder's own image processor (resize, centre crop, normalise) as the
uint8 picture it is saved as, and both encoders' projected embeddings are compared by cosine
similarity; the score is ``max(100 * cos, 0)``, as torchmetrics' ``CLIPScore`` computes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from studio.core.capabilities import ModelError

#: images embedded at once: a grid of 256 ViT-L/14 images at once would need gigabytes
BATCH = 16


class ClipScorer:
    """Offers ``PromptScorer`` over a transformers ``CLIPModel``, its tokenizer and its image processor."""

    def __init__(self, model: Any, tokenizer: Any, processor: Any) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.processor = processor
        #: the longest prompt CLIP reads, in tokens (77); the rest is cut off, as every CLIP score does
        self.context_length = int(model.config.text_config.max_position_embeddings)

    def parameters(self) -> Iterator[torch.nn.Parameter]:
        """The model's parameters: what the inference cache counts against its memory budget."""
        return self.model.parameters()

    def score(self, images: np.ndarray, prompt: str) -> np.ndarray:
        images = np.asarray(images, np.float32)
        if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
            raise ModelError(f"CLIP scores images shaped (n, height, width, 1, 3 or 4 channels), not {images.shape}.")
        if not isinstance(prompt, str) or not prompt.strip():
            raise ModelError("There is no prompt to score the images against.")
        with torch.inference_mode():
            text = self._text_embedding(prompt.strip())
            cosines = [self._image_embeddings(images[i:i + BATCH]) @ text for i in range(0, len(images), BATCH)]
        cosine = torch.cat(cosines) if cosines else torch.zeros(0)
        return np.clip(100.0 * cosine.float().cpu().numpy(), 0.0, 100.0).astype(np.float32)

    @property
    def _device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _text_embedding(self, prompt: str) -> torch.Tensor:
        tokens = self.tokenizer(prompt, truncation=True, max_length=self.context_length, return_tensors="pt")
        out = self.model.text_model(input_ids=tokens.input_ids.to(self._device),
                                    attention_mask=tokens.attention_mask.to(self._device))
        return _unit(self.model.text_projection(out.pooler_output))[0]

    def _image_embeddings(self, images: np.ndarray) -> torch.Tensor:
        pixels = self.processor(images=list(_rgb_bytes(images)), return_tensors="pt",
                                input_data_format="channels_last")["pixel_values"]
        dtype = next(self.model.parameters()).dtype
        out = self.model.vision_model(pixel_values=pixels.to(self._device, dtype))
        return _unit(self.model.visual_projection(out.pooler_output))


def _rgb_bytes(images: np.ndarray) -> np.ndarray:
    """Images in [0, 1] as the 8-bit RGB pictures CLIP's processor expects (grey repeated, alpha dropped)."""
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    return np.round(np.clip(images[..., :3], 0.0, 1.0) * 255.0).astype(np.uint8)


def _unit(vectors: torch.Tensor) -> torch.Tensor:
    return vectors / vectors.norm(dim=-1, keepdim=True).clamp_min(1e-12)
