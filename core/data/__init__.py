"""Datasets: each loader returns an in-memory ``ImageSet``; ``load_dataset`` picks one by name.

The data folder comes from the caller (``--data-dir``) or the ``CCVAE_DATA_DIR`` environment
variable; nothing here knows where any particular machine keeps its data.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from core.data.base import DataError, ImageSet
from core.data.folders import load_folder
from core.data.mnist import load_mnist, read_idx

DATASETS = ("mnist", "folder")
DATA_DIR_ENV = "CCVAE_DATA_DIR"


def resolve_data_dir(data_dir: str | Path | None, dataset: str) -> Path:
    """``data_dir`` if given, else $CCVAE_DATA_DIR (for MNIST, its MNIST/ sub-folder if present)."""
    if data_dir:
        return Path(data_dir)
    env = os.environ.get(DATA_DIR_ENV)
    if not env:
        raise DataError(f"no data folder given: pass --data-dir or set {DATA_DIR_ENV}")
    root = Path(env)
    return root / "MNIST" if dataset == "mnist" and (root / "MNIST").is_dir() else root


def holdout_split(data: ImageSet, split: str, *, fraction: float = 0.1, seed: int = 0) -> ImageSet:
    """Deterministic per-class split: ``fraction`` of each class (at least 1 image) is "test"."""
    g = torch.Generator().manual_seed(seed)
    test = torch.zeros(len(data), dtype=torch.bool)
    for label in torch.unique(data.labels):
        idx = torch.nonzero(data.labels == label).flatten()
        idx = idx[torch.randperm(idx.numel(), generator=g)]
        test[idx[: max(1, round(fraction * idx.numel()))]] = True
    keep = test if split == "test" else ~test
    return data.subset(torch.nonzero(keep).flatten())


def load_dataset(dataset: str, data_dir: str | Path | None, split: str = "train", *, image_size: int = 64,
                 channels: int = 1, download: bool = False) -> ImageSet:
    """Load ``split`` ("train" or "test") of a named dataset."""
    if split not in ("train", "test"):
        raise ValueError(f"unknown split {split!r}; valid: train, test")
    if dataset == "mnist":
        return load_mnist(resolve_data_dir(data_dir, dataset), split, download=download)
    if dataset == "folder":
        full = load_folder(resolve_data_dir(data_dir, dataset), size=image_size, channels=channels)
        return holdout_split(full, split)
    raise ValueError(f"unknown dataset {dataset!r}; valid: {', '.join(DATASETS)}")


__all__ = ["DATASETS", "DATA_DIR_ENV", "DataError", "ImageSet", "holdout_split", "load_dataset", "load_folder",
           "load_mnist", "read_idx", "resolve_data_dir"]
