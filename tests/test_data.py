"""Data sources and the input pipeline, on generated files and the shipped digits."""

import gzip
import os
import struct

import numpy as np
import pytest
import tensorflow as tf

from tfgan import data
from tfgan.data import idx, sources, toy


def _write_idx(path, array, type_code=0x08):
    header = struct.pack(">BBBB", 0, 0, type_code, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + array.astype(">u1").tobytes())


def _fake_mnist(directory, n=20, split="train"):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    img, lbl = idx.MNIST_FILES[split]
    _write_idx(os.path.join(directory, img + ".gz"), images)
    _write_idx(os.path.join(directory, lbl + ".gz"), labels)
    return images, labels


def test_idx_round_trip(tmp_path):
    images, labels = _fake_mnist(str(tmp_path))
    x, y = idx.load_mnist_idx(str(tmp_path), "train")
    np.testing.assert_array_equal(x[..., 0], images)
    np.testing.assert_array_equal(y, labels)


def test_corrupt_idx_names_the_file(tmp_path):
    _fake_mnist(str(tmp_path))
    path = os.path.join(str(tmp_path), "train-images-idx3-ubyte.gz")
    raw = gzip.open(path).read()
    with gzip.open(path, "wb") as f:
        f.write(raw[:-100])  # truncated
    with pytest.raises(idx.IDXError, match="train-images-idx3-ubyte.gz.*truncated or corrupt"):
        idx.load_mnist_idx(str(tmp_path))
    with open(path, "wb") as f:
        f.write(b"not gzip at all")
    with pytest.raises(idx.IDXError, match="train-images-idx3-ubyte.gz"):
        idx.load_mnist_idx(str(tmp_path))


def test_missing_idx_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        idx.load_mnist_idx(str(tmp_path))


def test_embedded_digits():
    source = data.get_source("digits")
    assert source.spec.shape == (28, 28, 1) and source.spec.num_classes == 10 and source.spec.num_examples == 6000
    batch = next(iter(data.make_dataset(source, 32, critic_steps=2)))
    assert batch["x"].shape == (64, 28, 28, 1) and batch["label"].shape == (64,)
    x = batch["x"].numpy()
    assert x.min() >= -1.0 and x.max() <= 1.0 and x.min() < -0.99 and x.max() > 0.99  # scaled for tanh
    counts = np.bincount(np.load(os.path.join(sources.ASSETS, "digits.npz"))["labels"], minlength=10)
    np.testing.assert_array_equal(counts, [600] * 10)


def test_sigmoid_range_and_resize_to_rgb():
    source = data.get_source("digits", image_size=32, channels=3)
    batch = next(iter(data.make_dataset(source, 4, output_range=(0.0, 1.0))))
    assert batch["x"].shape == (4, 32, 32, 3)
    assert 0.0 <= float(tf.reduce_min(batch["x"])) and float(tf.reduce_max(batch["x"])) <= 1.0


def test_mnist_idx_source(tmp_path):
    _fake_mnist(str(tmp_path), n=30)
    source = data.get_source("mnist", data_dir=str(tmp_path))
    assert source.spec.num_examples == 30
    batches = list(data.make_dataset(source, 8, repeat=False, shuffle_buffer=0))
    assert len(batches) == 3  # 30 // 8, remainder dropped


def test_image_folder_with_class_subdirectories(tmp_path):
    from PIL import Image
    for cls, colour in (("cats", 40), ("dogs", 200)):
        os.makedirs(tmp_path / cls)
        for i in range(3):
            Image.fromarray(np.full((40, 30, 3), colour + i, np.uint8)).save(tmp_path / cls / f"{i}.png")
    source = data.get_source("folder", data_dir=str(tmp_path), image_size=16, channels=3)
    assert source.spec.num_classes == 2 and source.spec.num_examples == 6
    elements = list(source.dataset())
    assert elements[0]["x"].shape == (16, 16, 3)
    assert [int(e["label"]) for e in elements] == [0, 0, 0, 1, 1, 1]
    assert float(elements[3]["x"][0, 0, 0]) == pytest.approx(200 / 255, abs=1e-3)


def test_corrupt_image_in_folder_is_named(tmp_path):
    from PIL import Image
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "good.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(ValueError, match="broken.png: not a readable image"):
        data.get_source("folder", data_dir=str(tmp_path), image_size=8)


def test_tfds_source_with_mock_data(tmp_path, monkeypatch):
    tfds = pytest.importorskip("tensorflow_datasets")
    monkeypatch.setattr(sources, "_unreachable", lambda host: "")  # mock_data stands in for the download
    with tfds.testing.mock_data(num_examples=12):
        source = sources.tfds_images("mnist", data_dir=str(tmp_path), download=True)
        batch = next(iter(data.make_dataset(source, 4)))
    assert source.spec.shape == (28, 28, 1) and source.spec.num_classes == 10
    assert batch["x"].shape == (4, 28, 28, 1)


def test_tfds_missing_offline_fails_at_once(tmp_path, monkeypatch):
    pytest.importorskip("tensorflow_datasets")
    with pytest.raises(FileNotFoundError, match="tfds:mnist is not prepared.*--download.*IDX files"):
        sources.tfds_images("mnist", data_dir=str(tmp_path), download=False)
    # With --download but no network: one line at once, never TFDS's minutes of retries.
    monkeypatch.setattr(sources, "_unreachable", lambda host: "Name or service not known")
    for name in ("tfds:mnist", "stacked_mnist"):
        with pytest.raises(FileNotFoundError, match=r"cannot be downloaded \(storage.googleapis.com: Name or "
                                                    r"service not known\): offline, point --data_dir at"):
            data.get_source(name, data_dir=str(tmp_path), download=True)


def test_tfds_mnist_and_stacked_mnist_read_idx_files_in_data_dir(tmp_path, monkeypatch):
    images, labels = _fake_mnist(str(tmp_path), n=30)
    monkeypatch.setattr(sources, "_unreachable", lambda host: pytest.fail("IDX files need no network"))
    source = data.get_source("tfds:mnist", data_dir=str(tmp_path), download=True)
    assert source.spec.name == "tfds:mnist" and source.spec.shape == (28, 28, 1) and source.spec.num_examples == 30
    got = sorted((int(e["label"]), np.round(e["x"].numpy() * 255).astype(np.uint8).tobytes())
                 for e in source.dataset(seed=0))
    assert got == sorted((int(y), x[..., None].tobytes()) for x, y in zip(images, labels))
    stacked = data.get_source("stacked_mnist", data_dir=str(tmp_path), download=True)
    lookup = {x[..., None].tobytes(): int(y) for x, y in zip(images, labels)}
    for e in stacked.dataset(seed=1).take(10):
        x = np.round(e["x"].numpy() * 255).astype(np.uint8)
        digits = [lookup[x[..., c:c + 1].tobytes()] for c in range(3)]  # KeyError if not from the IDX files
        assert int(e["label"]) == 100 * digits[0] + 10 * digits[1] + digits[2]


def test_ring_has_eight_distinct_modes_on_the_circle():
    ring = toy.ring()
    assert ring.centers.shape == (8, 2)
    np.testing.assert_allclose(np.linalg.norm(ring.centers, axis=1), 2.0)
    pairwise = np.linalg.norm(ring.centers[:, None] - ring.centers[None], axis=-1) + np.eye(8) * 99
    assert pairwise.min() == pytest.approx(2 * 2.0 * np.sin(np.pi / 8))  # adjacent chord, all distinct
    points, labels = ring.sample(8000, seed=1)
    assert np.bincount(labels, minlength=8).min() > 800
    assert np.abs(np.linalg.norm(points, axis=1) - 2.0).max() < 0.2


def test_grid_and_gaussian_1d():
    grid = toy.grid()
    assert grid.centers.shape == (25, 2) and len({tuple(c) for c in grid.centers}) == 25
    assert set(np.unique(grid.centers)) == {-4.0, -2.0, 0.0, 2.0, 4.0}
    points, _ = toy.gaussian_1d().sample(100_000, seed=0)
    assert points.mean() == pytest.approx(4.0, abs=0.01) and points.std() == pytest.approx(0.5, abs=0.01)
    # The density integrates to 1 (Riemann sum over +-6 std).
    xs = np.linspace(1, 7, 6001)[:, None]
    assert np.sum(toy.gaussian_1d().density(xs)) * (6 / 6000) == pytest.approx(1.0, abs=1e-4)


def test_toy_points_are_not_rescaled():
    batch = next(iter(data.make_dataset(data.get_source("grid25"), 512)))
    assert float(tf.reduce_max(batch["x"])) > 3.5


def test_unknown_source_lists_the_valid_names():
    with pytest.raises(ValueError, match="digits, mnist, stacked_mnist, folder, tfds:<name>"):
        data.get_source("imagenet")


def test_stacked_mnist_stacks_three_digits_with_a_1000_class_label():
    source = data.get_source("stacked_mnist")
    assert source.spec.shape == (28, 28, 3) and source.spec.num_classes == 1000
    with np.load(os.path.join(sources.ASSETS, "digits.npz")) as f:
        images, labels = f["images"], f["labels"]
    lookup = {images[i].tobytes(): int(labels[i]) for i in range(len(images))}
    for e in source.dataset(seed=3).take(20):
        x = np.round(e["x"].numpy() * 255).astype(np.uint8)
        digits = [lookup[x[..., c:c + 1].tobytes()] for c in range(3)]
        assert int(e["label"]) == 100 * digits[0] + 10 * digits[1] + digits[2]
    labels_seen = {int(e["label"]) for e in source.dataset(seed=0).take(300)}
    assert len(labels_seen) > 200  # triples are drawn independently, not one digit copied three times


def test_sources_declare_their_splits_and_refuse_others(tmp_path):
    digits = data.get_source("digits")
    assert digits.spec.splits == ("train", "test") and digits.spec.size("test") == 2000
    test = np.stack([e["x"].numpy() for e in digits.dataset("test").take(3)])
    train = np.stack([e["x"].numpy() for e in digits.dataset("train").take(3)])
    assert not np.array_equal(test, train)
    labels = [int(e["label"]) for e in digits.dataset("test")]
    np.testing.assert_array_equal(np.bincount(labels), [200] * 10)
    with pytest.raises(ValueError, match="digits has no split 'validation'; its splits are train, test"):
        digits.dataset("validation")
    _fake_mnist(str(tmp_path), n=30)  # training files only
    assert data.get_source("mnist", data_dir=str(tmp_path)).spec.splits == ("train",)
    assert data.get_source("ring8").spec.splits == ("train", "test")


def test_resplit_takes_disjoint_content_hashed_parts_in_any_order():
    digits = data.get_source("digits")
    parts = sources.resplit(digits, {"train": ("train", (10, 100)), "eval": ("train", (0, 10))})
    assert parts.spec.splits == ("train", "eval") and parts.spec.size("eval") is None

    def keys(split, seed):
        return {e["x"].numpy().tobytes() for e in parts.dataset(split, seed)}

    train, held_out = keys("train", 0), keys("eval", 0)
    assert not train & held_out and len(train) + len(held_out) == len({e["x"].numpy().tobytes()
                                                                      for e in digits.dataset("train")})
    assert 0.05 < len(held_out) / 6000 < 0.15
    assert keys("eval", 7) == held_out  # the same examples whatever the seed (order)
    whole = sources.resplit(digits, {"train": ("train", None), "eval": ("test", None)})
    assert whole.spec.size("eval") == 2000 and whole.spec.num_examples == 6000
    with pytest.raises(ValueError, match="buckets of 'eval' must satisfy"):
        sources.resplit(digits, {"train": ("train", None), "eval": ("train", (5, 500))})


def test_folder_without_image_size_keeps_the_images_own_size(tmp_path):
    from PIL import Image
    for i in range(3):
        Image.fromarray(np.full((32, 32, 3), 10 * i, np.uint8)).save(tmp_path / f"{i}.png")
    source = data.get_source("folder", data_dir=str(tmp_path))
    assert source.spec.shape == (32, 32, 3)
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "big.png")
    with pytest.raises(ValueError, match=r"sizes 32x32 \(3 files\), 64x64 \(1 files\): set an image size"):
        data.get_source("folder", data_dir=str(tmp_path))


def test_unknown_tfds_name_is_one_line_with_close_names(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    with pytest.raises(ValueError) as error:
        sources.tfds_images("mnistt", data_dir=str(tmp_path))
    message = str(error.value)
    assert "\n" not in message and "no TFDS data set of that name" in message and "mnist" in message.split("closest")[1]
