"""What the Latent Explorer asks of the inference thread: load and encode a dataset, decode, sample.

Every ``*_request`` returns a function ``fn(model, ctx)`` for ``InferenceClient.submit``;
it runs on the inference thread, so nothing here touches Qt. The model is any
:class:`~studio.core.capabilities.LatentCodec`.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from studio.core.latent import Principal, Projection, fit_projection, principal_directions

#: Images a map shows at most: enough to see the clusters, quick to encode and hover.
MAP_CAP = 5000
#: Images encoded per step: each is a progress tick and a chance to cancel.
ENCODE_CHUNK = 500
#: Datasets a panel keeps loaded (see :class:`DatasetCache`).
CACHE_SIZE = 4


@dataclass
class MapData:
    """An encoded dataset and its 2-D map."""

    argument: str  #: the data argument it came from (``fashion-mnist``, ``image-folder:PATH``)
    title: str
    images: np.ndarray  #: uint8 (n, H, W, C)
    labels: Optional[np.ndarray]
    class_names: list[str]
    latents: np.ndarray  #: (n, latent_dim)
    points: np.ndarray  #: (n, 2), the latents on the map
    projection: Projection
    principal: Optional[Principal]  #: None when there are too few images for PCA
    dim_std: np.ndarray  #: (latent_dim,) spread of the latents along each latent dimension

    def caption(self, index: int) -> str:
        if self.labels is not None and self.class_names:
            return f"{self.class_names[int(self.labels[index])]} · image {index}"
        return f"image {index}"

    def direction(self, name: str) -> np.ndarray:
        """A walk's step of one standard deviation: along "PC<k>" (a principal direction) or "z<k>"."""
        if name.startswith("PC") and self.principal is not None:
            k = int(name[2:]) - 1
            return (self.principal.directions[k] * self.principal.std[k]).astype(np.float32)
        k = int(name.lstrip("zPC")) - 1
        return (np.eye(self.latents.shape[1], dtype=np.float32)[k] * self.dim_std[k]).astype(np.float32)


@dataclass
class Endpoint:
    """An end of a morph: a latent, the image it came from (if known) and what to call it."""

    latent: np.ndarray
    image: Optional[np.ndarray]
    caption: str


class DatasetCache:
    """The built-in datasets (no location) one panel has loaded, newest last: switching between models
    trained on the same data, or mapping it again, does not load it again. Each panel has its own, used
    only on the inference thread."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._sets: OrderedDict[tuple, Any] = OrderedDict()

    def get(self, key: tuple) -> Any:
        if key in self._sets:
            self._sets.move_to_end(key)
        return self._sets.get(key)

    def put(self, key: tuple, images: Any) -> None:
        self._sets[key] = images
        while len(self._sets) > self.size:
            self._sets.popitem(last=False)


def load_images(registry, argument: str, image_shape: tuple[int, int, int], seed: int = 0, cap: int = MAP_CAP,
                cache: Optional[DatasetCache] = None):
    """The validation part of a dataset, shaped for the model, at most ``cap`` images; a built-in
    source (no location) is kept in ``cache``."""
    from studio.core.data import held_out_images, resolve_data_argument

    _source, location = resolve_data_argument(registry, "images", argument)
    key = (argument, tuple(image_shape), seed, cap)
    if cache is not None and location is None and cache.get(key) is not None:
        return cache.get(key)
    images = held_out_images(registry, argument, image_shape, seed=seed, cap=cap)
    if cache is not None and location is None:
        cache.put(key, images)
    return images


def _chunks(n: int) -> int:
    return max(1, -(-n // ENCODE_CHUNK))


def encode(model, images: np.ndarray, ctx, first_step: int = 0, total: Optional[int] = None) -> np.ndarray:
    """Encode uint8 images in chunks, reporting each chunk to ``ctx`` (which may cancel)."""
    chunks = _chunks(len(images))
    total = total or chunks
    latents = []
    for i in range(chunks):
        ctx.step(first_step + i, total)
        batch = images[i * ENCODE_CHUNK:(i + 1) * ENCODE_CHUNK].astype(np.float32) / 255.0
        latents.append(np.asarray(model.encode(batch), np.float32))
    ctx.step(first_step + chunks, total)
    return np.concatenate(latents)


def map_request(registry, argument: str, seed: int, cap: int = MAP_CAP, cache: Optional[DatasetCache] = None):
    """Load the dataset (step 0 of 0: busy) and encode it; the result is a :class:`MapData`."""
    def run(model, ctx) -> MapData:
        ctx.step(0, 0)
        dataset = load_images(registry, argument, tuple(model.image_shape), seed, cap, cache)
        latents = encode(model, dataset.images, ctx)
        principal = principal_directions(latents) if len(latents) >= 2 else None
        projection = fit_projection(latents, principal)
        return MapData(argument, dataset.name, dataset.images, dataset.labels, list(dataset.class_names),
                       latents, projection.to_map(latents), projection, principal, latents.std(axis=0))
    return run


def folders_request(folder_a: str, folder_b: str):
    """Encode two folders of images; the result is ``(latents of A, latents of B)``."""
    from studio.core.data.images import load_folder

    def run(model, ctx):
        height, _, channels = model.image_shape
        sets = [load_folder(folder, size=height, channels=channels).images for folder in (folder_a, folder_b)]
        first_chunks = _chunks(len(sets[0]))
        total = first_chunks + _chunks(len(sets[1])) + 1
        return encode(model, sets[0], ctx, 0, total), encode(model, sets[1], ctx, first_chunks, total)
    return run


def decode_request(latents: np.ndarray):
    """Decode ``(n, latent_dim)`` latents; the result is ``(n, H, W, C)`` float images."""
    latents = np.asarray(latents, np.float32)
    return lambda model, ctx: np.asarray(model.decode(latents))


def prior_request(count: int, seed: int):
    """``count`` latents from the model's prior and their images: ``(latents, images)``."""
    def run(model, ctx):
        latents = np.asarray(model.sample_prior(count, seed=seed), np.float32)
        return latents, np.asarray(model.decode(latents))
    return run
