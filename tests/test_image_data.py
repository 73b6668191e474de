"""Image datasets: folders, IDX files, the built-in sets, splits and grids."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
from needs import FASHION_MNIST_MISSING, needs
from PIL import Image

from studio.core.data import DataError
from studio.core.data.images import (
    ImageSet,
    fashion_mnist_available,
    load_digits,
    load_fashion_mnist,
    load_folder,
    load_idx,
)
from studio.core.imaging import make_grid


def write_idx(path, array: np.ndarray, compress: bool = False) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}i", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)


@pytest.fixture
def art_folder(tmp_path):
    """cats/ holds a grey and an RGB image (one nested deeper), dogs/ a wide RGB one and a corrupt PNG."""
    root = tmp_path / "art"
    (root / "cats" / "sleeping").mkdir(parents=True)
    (root / "dogs").mkdir()
    Image.new("L", (40, 40), 200).save(root / "cats" / "grey.png")
    Image.new("RGB", (20, 20), (255, 0, 0)).save(root / "cats" / "sleeping" / "red.jpg")
    wide = np.zeros((10, 30, 3), np.uint8)
    wide[:, 10:20] = 255  # only the centre square is white
    Image.fromarray(wide).save(root / "dogs" / "wide.png")
    (root / "dogs" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    (root / "notes.txt").write_text("not an image, ignored")
    return root


def test_folder_loads_good_images_labels_from_folders_and_reports_corrupt(art_folder):
    data = load_folder(str(art_folder), size=16, channels=3)
    assert data.images.shape == (3, 16, 16, 3) and data.images.dtype == np.uint8
    assert data.class_names == ["cats", "dogs"]
    assert data.labels.tolist() == [0, 0, 1]  # sorted paths: cats/grey, cats/sleeping/red, dogs/wide
    assert len(data.skipped) == 1 and data.skipped[0][0].endswith("broken.png") and data.skipped[0][1]
    grey, red, wide = data.images
    assert (grey == 200).all()
    assert red[..., 0].min() > 240 and red[..., 1:].max() < 15
    assert (wide > 250).all()  # centre-cropped: the black sides are gone


def test_folder_converts_rgb_to_greyscale(art_folder):
    data = load_folder(art_folder, size=8, channels=1)
    assert data.images.shape == (3, 8, 8, 1)
    assert abs(int(data.images[1].mean()) - 76) <= 2  # pure red has luma 0.299 * 255


def test_loose_images_are_unlabelled(tmp_path):
    Image.new("L", (8, 8), 0).save(tmp_path / "a.png")
    Image.new("L", (8, 8), 255).save(tmp_path / "b.bmp")
    data = load_folder(tmp_path, size=8, channels=1)
    assert len(data) == 2 and data.labels is None and data.class_names == []


def test_missing_empty_and_unreadable_folders_say_what_to_do(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_folder(tmp_path / "nowhere", size=32, channels=1)
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(DataError, match="No images were found .* Put PNG or JPEG files there"):
        load_folder(tmp_path / "empty", size=32, channels=1)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"None of the 1 image files .* x\.png"):
        load_folder(tmp_path / "bad", size=32, channels=1)


@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip_with_labels_beside(tmp_path, compress):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5], np.uint8)
    suffix = ".gz" if compress else ""
    write_idx(tmp_path / f"train-images-idx3-ubyte{suffix}", images, compress)
    write_idx(tmp_path / f"train-labels-idx1-ubyte{suffix}", labels, compress)
    data = load_idx(str(tmp_path / f"train-images-idx3-ubyte{suffix}"), size=28, channels=1)
    assert np.array_equal(data.images[..., 0], images)
    assert data.labels.tolist() == [3, 1, 4, 1, 5] and data.class_names == [str(i) for i in range(6)]
    padded = load_idx(str(tmp_path / f"train-images-idx3-ubyte{suffix}"), size=32, channels=3)
    assert padded.images.shape == (5, 32, 32, 3)
    assert np.array_equal(padded.images[:, 2:30, 2:30, 1], images) and padded.images[:, :2].max() == 0


def test_idx_without_labels_file_is_unlabelled(tmp_path):
    write_idx(tmp_path / "my-images.idx", np.zeros((2, 4, 4)))
    data = load_idx(tmp_path / "my-images.idx", size=8, channels=1)
    assert data.images.shape == (2, 8, 8, 1) and data.labels is None


def test_truncated_or_wrong_idx_is_a_data_error(tmp_path):
    path = tmp_path / "images-idx3-ubyte"
    write_idx(path, np.zeros((10, 28, 28)))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match="truncated or damaged"):
        load_idx(path, size=28, channels=1)
    gz = tmp_path / "images-idx3-ubyte.gz"
    write_idx(gz, np.zeros((10, 28, 28)), compress=True)
    gz.write_bytes(gz.read_bytes()[:-50])
    with pytest.raises(DataError, match="damaged or truncated gzip"):
        load_idx(gz, size=28, channels=1)
    labels_only = tmp_path / "labels-idx1-ubyte"
    write_idx(labels_only, np.zeros(10))
    with pytest.raises(DataError, match="expected unsigned bytes"):
        load_idx(labels_only, size=28, channels=1)
    with pytest.raises(DataError, match="no IDX file"):
        load_idx(tmp_path / "nothing", size=28, channels=1)


def test_idx_labels_that_do_not_match_are_refused(tmp_path):
    write_idx(tmp_path / "images-idx3-ubyte", np.zeros((3, 4, 4)))
    write_idx(tmp_path / "labels-idx1-ubyte", np.zeros(2))
    with pytest.raises(DataError, match="2 labels but .* 3 images"):
        load_idx(tmp_path / "images-idx3-ubyte", size=4, channels=1)


def test_split_is_deterministic_disjoint_and_complete():
    n = 1000
    ids = np.arange(n)
    # each image spells its own index in two pixels, so the parts can be read back as indices
    data = ImageSet(np.stack([ids // 256, ids % 256], axis=1).astype(np.uint8).reshape(n, 1, 2, 1), name="ids")

    def indices(part):
        return part.images[:, 0, 0, 0].astype(int) * 256 + part.images[:, 0, 1, 0]

    first, again, other = data.split(seed=3), data.split(seed=3), data.split(seed=4)
    assert np.array_equal(indices(first.validation), indices(again.validation))
    assert not np.array_equal(indices(first.validation), indices(other.validation))
    assert len(first.validation) == 100 and len(first.train) == 900
    assert sorted(indices(first.train).tolist() + indices(first.validation).tolist()) == ids.tolist()
    with pytest.raises(DataError, match="at least 2"):
        data.subset(np.arange(1)).split()


def test_split_uses_the_sources_own_validation_part(tmp_path):
    write_idx(tmp_path / "images-idx3-ubyte", np.arange(5 * 4).reshape(5, 2, 2))
    data = load_idx(tmp_path / "images-idx3-ubyte", size=2, channels=1)
    data.validation_start = 3
    split = data.split(seed=99)
    assert len(split.train) == 3 and len(split.validation) == 2
    assert split.validation.images[0, 0, 0, 0] == 12


def test_digits_loader():
    data = load_digits(size=32, channels=3)
    assert data.images.shape == (1797, 32, 32, 3) and data.images.dtype == np.uint8
    assert data.images.max() == 255 and data.class_names == [str(d) for d in range(10)]
    assert set(data.labels.tolist()) == set(range(10))


def test_fashion_mnist_is_padded_to_32_with_its_test_set_as_validation():
    needs(fashion_mnist_available(), FASHION_MNIST_MISSING)
    data = load_fashion_mnist(size=32, channels=1)
    split = data.split()
    assert len(split.train) == 60000 and len(split.validation) == 10000
    assert data.images.shape == (70000, 32, 32, 1)
    assert data.images[:, :2].max() == 0 and data.images[:, :, -2:].max() == 0  # the 2-pixel border
    assert data.class_names[9] == "Ankle boot" and data.labels[:3].tolist() == [9, 0, 0]


def test_fashion_mnist_elsewhere_explains_how_to_get_it(tmp_path):
    with pytest.raises(DataError, match="dataset-fashion-mnist"):
        load_fashion_mnist(tmp_path, size=32, channels=1)


def test_make_grid_tiles_and_keeps_dtype():
    images = np.stack([np.full((2, 3, 1), v, np.uint8) for v in (10, 20, 30)])
    grid = make_grid(images, columns=2, padding=1)
    assert grid.dtype == np.uint8 and grid.shape == (2 * 3 + 1, 2 * 4 + 1, 1)
    assert grid[1, 1, 0] == 10 and grid[1, 5, 0] == 20 and grid[4, 1, 0] == 30
    assert grid[4, 5, 0] == 255 and grid[0, 0, 0] == 255  # the empty tile and the border are white
    floats = make_grid(images.astype(np.float32) / 255, columns=8, padding=0)
    assert floats.dtype == np.float32 and floats.shape == (2, 9, 1)
