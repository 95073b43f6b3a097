"""MNIST from its standard IDX files.

Accepted layouts under ``root``: the four files directly (``train-images-idx3-ubyte[.gz]`` ...),
torchvision's ``MNIST/raw/``, or ``MNIST/``. With ``download=True`` torchvision fetches them
(needs internet); nothing here downloads unless asked.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch

from core.data.base import DataError, ImageSet

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (raw or .gz) into a uint8 array, checking its header against its size."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as err:
        raise DataError(f"cannot read {path}: {err}") from err
    if len(data) < 8:
        raise DataError(f"{path} is too short to be an IDX file")
    magic = int.from_bytes(data[:4], "big")
    ndim = magic & 0xFF
    if magic >> 8 != 0x08 or ndim not in (1, 3):
        raise DataError(f"{path} is not a uint8 IDX file (magic number {magic})")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    expected = int(np.prod(dims))
    if len(data) - offset != expected:
        raise DataError(f"{path}: header says {dims} ({expected} bytes) but the file holds {len(data) - offset}")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(dims)


def _find(root: Path, stem: str) -> Path:
    for folder in (root, root / "MNIST" / "raw", root / "MNIST", root / "raw"):
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
    raise DataError(f"MNIST file {stem}[.gz] not found under {root} (looked in ., MNIST/raw, MNIST, raw); "
                    "pass --data-dir pointing at the folder with the IDX files, or --download")


def load_mnist(root: str | Path, split: str = "train", *, download: bool = False) -> ImageSet:
    """MNIST ``split`` ("train" or "test") as an ImageSet of (N, 1, 28, 28) uint8 images."""
    if split not in FILES:
        raise ValueError(f"unknown MNIST split {split!r}; valid: {', '.join(FILES)}")
    root = Path(root)
    if download:
        from torchvision.datasets import MNIST

        MNIST(str(root), train=split == "train", download=True)
    if not root.is_dir():
        raise DataError(f"MNIST folder {root} does not exist")
    image_file, label_file = (_find(root, stem) for stem in FILES[split])
    images, labels = read_idx(image_file), read_idx(label_file)
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise DataError(f"{image_file} and {label_file} do not match: {images.shape} images, {labels.shape} labels")
    if labels.max(initial=0) > 9:
        raise DataError(f"{label_file} holds labels above 9")
    return ImageSet(torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64)),
                    [str(d) for d in range(10)], f"mnist-{split}")
