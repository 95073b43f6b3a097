import numpy as np
import pytest
import torch
from conftest import toy_digits, write_idx
from PIL import Image

from core.data import REGISTRY, DataError, load_dataset, load_folder, load_mnist, read_idx


def test_mnist_torchvision_layout_gz(mnist_dir):
    train = load_mnist(mnist_dir, "train")
    test = load_dataset("mnist", mnist_dir, "test")
    assert train.images.shape == (600, 1, 28, 28) and train.images.dtype == torch.uint8
    assert test.images.shape == (200, 1, 28, 28)
    assert train.class_names == [str(d) for d in range(10)]
    images, labels = toy_digits(600, 0)
    assert np.array_equal(train.images[:, 0].numpy(), images)
    assert np.array_equal(train.labels.numpy(), labels)


def test_mnist_raw_files_flat_layout(tmp_path):
    images, labels = toy_digits(20, 3)
    for split in ("train", "t10k"):
        write_idx(tmp_path / f"{split}-images-idx3-ubyte", images, gz=False)
        write_idx(tmp_path / f"{split}-labels-idx1-ubyte", labels, gz=False)
    data = load_mnist(tmp_path, "train")
    assert np.array_equal(data.images[:, 0].numpy(), images)


def test_mnist_data_dir_from_environment(mnist_dir, monkeypatch):
    monkeypatch.setenv("CCVAE_DATA_DIR", str(mnist_dir))
    assert len(load_dataset("mnist", None, "train")) == 600


def test_mnist_missing_folder_and_files(tmp_path, monkeypatch):
    monkeypatch.delenv("CCVAE_DATA_DIR", raising=False)
    with pytest.raises(DataError, match="does not exist"):
        load_mnist(tmp_path / "nope")
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\[.gz\] not found"):
        load_mnist(tmp_path)
    with pytest.raises(DataError, match="pass --data-dir or set CCVAE_DATA_DIR"):
        load_dataset("mnist", None)


def test_idx_with_a_lying_header_is_refused(tmp_path):
    images, _ = toy_digits(4, 0)
    write_idx(tmp_path / "x", images, gz=False)
    blob = (tmp_path / "x").read_bytes()
    (tmp_path / "x").write_bytes(blob[:-10])
    with pytest.raises(DataError, match="header says"):
        read_idx(tmp_path / "x")
    (tmp_path / "y").write_bytes(b"GIF89a" + bytes(100))
    with pytest.raises(DataError, match="not a uint8 IDX file"):
        read_idx(tmp_path / "y")


def test_unknown_dataset_and_split():
    with pytest.raises(ValueError, match="valid: " + ", ".join(REGISTRY)):
        load_dataset("cifar", "x")
    with pytest.raises(ValueError, match="valid: train, test"):
        load_dataset("mnist", "x", "val")


def _folder(root, classes, n=5, size=(40, 30), mode="RGB"):
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(n):
            shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
            Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8), mode).save(root / c / f"{i}.png")


def test_folder_dataset_resizes_converts_and_splits(tmp_path):
    _folder(tmp_path, ["cat", "dog", "eel"], n=10)
    rgb = load_folder(tmp_path, size=64, channels=3)
    assert rgb.images.shape == (30, 3, 64, 64) and rgb.class_names == ["cat", "dog", "eel"]
    gray = load_folder(tmp_path, size=28, channels=1)
    assert gray.images.shape == (30, 1, 28, 28)
    train = load_dataset("folder", tmp_path, "train", image_size=28)
    test = load_dataset("folder", tmp_path, "test", image_size=28)
    assert len(train) == 27 and len(test) == 3
    assert torch.bincount(test.labels).tolist() == [1, 1, 1]


def test_folder_dataset_reports_unreadable_files(tmp_path):
    _folder(tmp_path, ["a", "b"])
    (tmp_path / "a" / "broken.png").write_bytes(b"<html>not an image</html>")
    with pytest.raises(DataError, match=r"(?s)1 unreadable image\(s\).*broken.png"):
        load_folder(tmp_path)


def test_folder_dataset_needs_two_images_per_class_and_two_classes(tmp_path):
    _folder(tmp_path / "one", ["a", "b"], n=1)
    with pytest.raises(DataError, match=r"fewer than 2 images.*\['a', 'b'\]"):
        load_folder(tmp_path / "one")
    _folder(tmp_path / "single", ["only"])
    with pytest.raises(DataError, match="at least 2 class sub-folders"):
        load_folder(tmp_path / "single")
