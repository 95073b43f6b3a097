"""Shared fixtures: tiny data made on the fly, so the suite needs no dataset and no ../shared."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from core.data.synthetic import digit_arrays, face_picture

torch.set_num_threads(1)  # tests share 2 cores with whatever else runs; one thread each is fastest

ROOT = Path(__file__).resolve().parents[1]


def write_idx(path: Path, array: np.ndarray, *, gz: bool) -> None:
    magic = (0x08 << 8) | array.ndim
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if gz:
        with gzip.open(path.with_name(path.name + ".gz"), "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def toy_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n 28x28 images of 10 classes (``core.data.synthetic``): class k is a bright bar at a class-specific angle,
    with a random position and thickness (a 'style'), so a model can learn both factors in a few hundred steps."""
    return digit_arrays(n, seed)


@pytest.fixture(scope="session")
def mnist_dir(tmp_path_factory) -> Path:
    """A fake MNIST in torchvision's layout (MNIST/raw/*.gz) with 600 train and 200 test images."""
    root = tmp_path_factory.mktemp("mnist")
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for split, n, seed in (("train", 600, 0), ("t10k", 200, 1)):
        images, labels = toy_digits(n, seed)
        write_idx(raw / f"{split}-images-idx3-ubyte", images, gz=True)
        write_idx(raw / f"{split}-labels-idx1-ubyte", labels, gz=True)
    return root


def dry_run_checkpoint(models: Path, name: str, *options: str, evaluate_on: Path | None = None) -> Path:
    """``python -m train --dry-run *options`` (in-process), its checkpoint moved to ``models/name``, the folder a
    page or server lists models from; with ``evaluate_on`` (a data folder) also evaluated, so Metrics has numbers."""
    from train.ccvae import main as train_main
    from train.evaluate import main as evaluate_main

    run = models.parent / f"run-{name}"
    assert train_main(["--dry-run", "--out", str(run), *options]) == 0
    models.mkdir(exist_ok=True)
    (run / "checkpoint").rename(models / name)
    if evaluate_on is not None:
        assert evaluate_main(["--checkpoint", str(models / name), "--data-dir", str(evaluate_on), "--dry-run",
                              "--tsne-points", "0"]) == 0
    return models / name


@pytest.fixture
def tiny_model():
    from core.models import ModelConfig, build_model

    torch.manual_seed(0)
    return build_model(ModelConfig(image_shape=(1, 28, 28), z_dim=4, s_dim=3, class_names=list("0123456789")))


YALE_LIGHTS = ["A+000E+00", "A-035E+15", "A+050E-40", "A+110E+65", "A-070E+00", "A+020E+10"]


def face_like(identity: int, light: int, size: int = 64) -> np.ndarray:
    """A synthetic 'face' (``core.data.synthetic``) with identity-specific eyes/mouth, lit from a light-specific side."""
    return face_picture(identity, 2 * np.pi * light / len(YALE_LIGHTS), size)


@pytest.fixture(scope="session")
def yale_dir(tmp_path_factory) -> Path:
    """A synthetic Extended Yale B (CroppedYale layout): 6 seen + 2 unseen identities x 6 lightings."""
    from PIL import Image

    from core.data import UNSEEN_YALE

    root = tmp_path_factory.mktemp("yale") / "CroppedYale"
    seen = [f"yaleB{k:02d}" for k in (1, 2, 4, 5, 6, 7)]
    for k, ident in enumerate(seen + list(UNSEEN_YALE[:2])):
        (root / ident).mkdir(parents=True)
        for j, light in enumerate(YALE_LIGHTS):
            Image.fromarray(face_like(k, j, 96)).resize((84, 96)).save(root / ident / f"{ident}_P00{light}.pgm")
    return root.parent
