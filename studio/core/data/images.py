"""Image datasets: what the image sources load, as one uint8 array in memory.

Every loader returns an :class:`ImageSet` already at the size and channel count
the model asked for. Whole-array sources (IDX, Fashion-MNIST, digits) are resized
with one vectorised resampling; a folder is read file by file with PIL.
Qt-free and torch-free: the CLI, a training process and a panel all use it.
"""

from __future__ import annotations

import gzip
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image

from studio.core.data import DataError, DataSplit

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
#: File endings the folder source reads (when this PIL build can open them).
FOLDER_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
_RESIZE_CHUNK = 4096  # images resampled at once; bounds the float32 working memory


@dataclass
class ImageSet:
    """Images as uint8 ``(n, height, width, channels)`` with optional integer labels."""

    images: np.ndarray
    labels: Optional[np.ndarray] = None  #: int64 ``(n,)``, indices into ``class_names``
    class_names: list[str] = field(default_factory=list)
    name: str = ""
    skipped: list[tuple[str, str]] = field(default_factory=list)  #: (file, reason) not loaded
    #: where the source's own held-out part starts (Fashion-MNIST's t10k), if it has one; 0 for a set that
    #: is held-out images only (a bundled sample): it validates on all of them and trains on them too
    validation_start: Optional[int] = None

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    def as_float(self, indices: Optional[np.ndarray] = None) -> np.ndarray:
        """The images (or those at ``indices``) as float32 in [0, 1], as models take them."""
        images = self.images if indices is None else self.images[indices]
        return images.astype(np.float32) / 255.0

    def subset(self, indices: np.ndarray, name: str = "") -> ImageSet:
        labels = None if self.labels is None else self.labels[indices]
        return ImageSet(self.images[indices], labels, list(self.class_names), name or self.name)

    def split(self, seed: int = 0, fraction: float = 0.1) -> DataSplit:
        """Training and validation parts. The source's own held-out part is used when
        it has one (``fraction`` is then ignored); otherwise a ``fraction`` of the
        images, chosen by a permutation that depends only on ``seed``."""
        n = len(self)
        if self.validation_start == 0:
            train = validation = np.arange(n)
        elif self.validation_start is not None:
            train, validation = np.arange(self.validation_start), np.arange(self.validation_start, n)
        else:
            if not 0.0 < fraction < 1.0:
                raise DataError(f"The validation fraction must be between 0 and 1, not {fraction}.")
            if n < 2:
                raise DataError(f"{self.name or 'This dataset'} has {n} image(s); training needs at least 2.")
            held_out = min(max(1, round(n * fraction)), n - 1)
            order = np.random.default_rng(seed).permutation(n)
            validation, train = np.sort(order[:held_out]), np.sort(order[held_out:])
        train_set = self.subset(train, self.name)
        train_set.skipped = list(self.skipped)
        return DataSplit(train=train_set, validation=self.subset(validation, f"{self.name} (validation)"),
                         name=self.name)


def _resample_matrix(source: int, target: int) -> np.ndarray:
    """``(target, source)`` weights of a linear (triangle) filter, widened when
    shrinking so every source pixel contributes: PIL's antialiased bilinear."""
    scale = source / target
    support = max(scale, 1.0)
    centres = (np.arange(target) + 0.5) * scale
    offsets = (np.arange(source)[None, :] + 0.5 - centres[:, None]) / support
    weights = np.clip(1.0 - np.abs(offsets), 0.0, None)
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """Resize uint8 ``(n, H, W, C)`` images to ``size`` x ``size`` (vectorised, in chunks)."""
    n, h, w, c = images.shape
    if (h, w) == (size, size):
        return images
    rows, cols = _resample_matrix(h, size), _resample_matrix(w, size).T
    out = np.empty((n, size, size, c), np.uint8)
    for start in range(0, n, _RESIZE_CHUNK):
        chunk = images[start:start + _RESIZE_CHUNK].transpose(0, 3, 1, 2).astype(np.float32)
        resized = rows @ chunk @ cols  # (n, C, size, size)
        out[start:start + _RESIZE_CHUNK] = np.clip(np.rint(resized), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)
    return out


def convert_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """Greyscale <-> RGB for uint8 ``(n, H, W, C)``; RGB to grey uses PIL's luma weights."""
    have = images.shape[-1]
    if have == channels:
        return images
    if have == 1 and channels == 3:
        return np.repeat(images, 3, axis=-1)
    if have == 3 and channels == 1:
        luma = images.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        return np.clip(np.rint(luma), 0, 255).astype(np.uint8)[..., None]
    raise DataError(f"Cannot convert {have}-channel images to {channels} channels.")


def _check_shape(size: int, channels: int) -> None:
    if channels not in (1, 3):
        raise DataError(f"Images can have 1 (greyscale) or 3 (RGB) channels, not {channels}.")
    if size < 1:
        raise DataError(f"The image size must be a positive number of pixels, not {size}.")


def _fit(images: np.ndarray, size: int, channels: int) -> np.ndarray:
    """Whole-array sources: 28x28 is padded to 32x32 as the book does; other sizes resampled."""
    if images.shape[1:3] == (28, 28) and size == 32:
        images = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)))
    return convert_channels(resize_images(images, size), channels)


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped if it is gzipped (told by its magic, not its name)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:  # OSError: gzip.BadGzipFile
        raise DataError(f"{path.name} is a damaged or truncated gzip file ({exc}); copy it again.") from exc


def read_idx(path: Path, dimensions: int) -> np.ndarray:
    """The uint8 array of an IDX file (magic ``0x08`` type, ``dimensions`` axes)."""
    data = _read_bytes(path)
    if len(data) < 4 + 4 * dimensions or data[:2] != b"\0\0":
        raise DataError(f"{path.name} is not an IDX file (it has no IDX header).")
    kind, ndim = data[2], data[3]
    if kind != 0x08 or ndim != dimensions:
        raise DataError(f"{path.name} holds IDX type 0x{kind:02x} with {ndim} axes; expected unsigned bytes "
                        f"(0x08) with {dimensions} axes (magic 0x080{dimensions}).")
    shape = tuple(int(d) for d in np.frombuffer(data, ">i4", count=ndim, offset=4))
    header, expected = 4 + 4 * ndim, int(np.prod(shape))
    if len(data) - header != expected:
        raise DataError(f"{path.name} is truncated or damaged: its header promises {expected:,} bytes of "
                        f"{'x'.join(map(str, shape))} data, but it holds {len(data) - header:,}.")
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape).copy()  # writable, as torch wants


def _labels_file(images_path: Path) -> Optional[Path]:
    """The labels file beside an images file: ``...images...`` -> ``...labels...``, idx3 -> idx1."""
    name = images_path.name.replace("images", "labels").replace("idx3", "idx1")
    if name == images_path.name:
        return None
    stem = name[:-3] if name.endswith(".gz") else name
    return next((p for p in (images_path.with_name(stem), images_path.with_name(stem + ".gz")) if p.is_file()), None)


def _idx_set(images_path: Path) -> tuple[np.ndarray, Optional[np.ndarray]]:
    images = read_idx(images_path, 3)[..., None]
    if (labels_path := _labels_file(images_path)) is None:
        return images, None
    labels = read_idx(labels_path, 1).astype(np.int64)
    if len(labels) != len(images):
        raise DataError(f"{labels_path.name} has {len(labels):,} labels but {images_path.name} has "
                        f"{len(images):,} images; they do not belong together.")
    return images, labels


def load_idx(location, *, size: int, channels: int) -> ImageSet:
    """An images IDX file (raw or gzipped); labels are read from the matching labels file if present."""
    _check_shape(size, channels)
    if not location:
        raise DataError("The idx source needs an images file: --data idx:PATH/train-images-idx3-ubyte.gz")
    path = Path(location).expanduser()
    if path.is_dir():
        raise DataError(f"{path} is a folder; give the images IDX file in it (e.g. train-images-idx3-ubyte.gz).")
    if not path.is_file():
        raise DataError(f"There is no IDX file at {path}.")
    images, labels = _idx_set(path)
    class_names = [] if labels is None else [str(i) for i in range(int(labels.max(initial=-1)) + 1)]
    return ImageSet(_fit(images, size, channels), labels, class_names, name=path.name)


def fashion_mnist_available() -> bool:
    return (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file()


def load_fashion_mnist(location=None, *, size: int, channels: int) -> ImageSet:
    """Fashion-MNIST's 60,000 training images followed by its 10,000 test images,
    which become the validation part (``validation_start`` = 60000)."""
    _check_shape(size, channels)
    folder = Path(location).expanduser() if location else FASHION_MNIST_DIR
    if not (folder / "train-images-idx3-ubyte.gz").is_file():
        raise DataError(f"Fashion-MNIST is not installed in {folder}. Install Debian's dataset-fashion-mnist "
                        "package, or point --data idx:PATH at a downloaded train-images-idx3-ubyte.gz.")
    train, train_labels = _idx_set(folder / "train-images-idx3-ubyte.gz")
    test, test_labels = _idx_set(folder / "t10k-images-idx3-ubyte.gz")
    if train_labels is None or test_labels is None:
        raise DataError(f"Fashion-MNIST's label files are missing from {folder}; reinstall the dataset.")
    images = _fit(np.concatenate([train, test]), size, channels)
    labels = np.concatenate([train_labels, test_labels])
    return ImageSet(images, labels, list(FASHION_MNIST_CLASSES), "Fashion-MNIST", validation_start=len(train))


#: The Fashion-MNIST test images the studio ships (resources/datasets), for the starter VAE's map.
SAMPLE_IMAGES = "sample-images-idx3-ubyte.gz"


def fashion_mnist_sample_folder() -> Path:
    from importlib import resources

    return Path(str(resources.files("studio_resources") / "datasets" / "fashion-mnist-sample"))


def load_fashion_mnist_sample(location=None, *, size: int, channels: int) -> ImageSet:
    """A few thousand of Fashion-MNIST's held-out test images, shipped with the studio: the starter VAE's
    map on a machine without the dataset. They are all held out (``validation_start`` 0)."""
    _check_shape(size, channels)
    images, labels = _idx_set(fashion_mnist_sample_folder() / SAMPLE_IMAGES)
    return ImageSet(_fit(images, size, channels), labels, list(FASHION_MNIST_CLASSES), "Fashion-MNIST sample",
                    validation_start=0)


def load_digits(location=None, *, size: int, channels: int) -> ImageSet:
    """scikit-learn's 1,797 handwritten 8x8 digits (values 0..16), scaled to 0..255."""
    _check_shape(size, channels)
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    return ImageSet(_fit(images, size, channels), digits.target.astype(np.int64), [str(d) for d in range(10)], "Digits")


def open_image(path: Path, size: int, channels: int) -> np.ndarray:
    """One file as uint8 ``(size, size, channels)``: transparency onto white, centre square, resized.
    An image of more pixels than PIL's limit (a decompression bomb: a small file that decodes to gigabytes)
    is refused with PIL's warning as the error, not decoded."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        image = Image.open(path)
    with image:
        image.load()
        if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
            rgba = image.convert("RGBA")
            image = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
        image = image.convert("L" if channels == 1 else "RGB")
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    image = image.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(image, np.uint8).reshape(size, size, channels)


def load_folder(location, *, size: int, channels: int) -> ImageSet:
    """Every PNG/JPEG/BMP/WebP file under ``location``, recursively.

    When every image lies in a sub-folder, the first-level sub-folder names are
    the class labels; otherwise the set is unlabelled. Files that cannot be read
    are left out and listed in ``skipped``.
    """
    _check_shape(size, channels)
    if not location:
        raise DataError("The image-folder source needs a folder: --data image-folder:PATH")
    root = Path(location).expanduser()
    if not root.exists():
        raise DataError(f"The folder {root} does not exist. Choose a folder of PNG or JPEG images.")
    if not root.is_dir():
        raise DataError(f"{root} is a file, not a folder. Choose the folder that holds your images.")
    readable = set(FOLDER_EXTENSIONS) & set(Image.registered_extensions())
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in readable and p.is_file())
    if not files:
        raise DataError(f"No images were found in {root} or its sub-folders. Put PNG or JPEG files there "
                        "(sub-folders become class labels), or choose another folder.")
    images, kept, skipped = [], [], []
    for path in files:
        try:
            images.append(open_image(path, size, channels))
            kept.append(path.relative_to(root))
        except Exception as exc:  # PIL reports damage with many exception types
            skipped.append((str(path.relative_to(root)), str(exc) or type(exc).__name__))
    if not images:
        file, reason = skipped[0]
        raise DataError(f"None of the {len(files)} image files in {root} could be read (e.g. {file}: {reason}). "
                        "Check that they are valid PNG or JPEG files.")
    labels, class_names = None, []
    if all(len(p.parts) > 1 for p in kept):
        class_names = sorted({p.parts[0] for p in kept})
        index = {name: i for i, name in enumerate(class_names)}
        labels = np.array([index[p.parts[0]] for p in kept], np.int64)
    return ImageSet(np.stack(images), labels, class_names, root.name, skipped)


load_folder.extensions = FOLDER_EXTENSIONS  # checked before a job starts (studio.core.data)
