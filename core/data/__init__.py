"""Datasets: each loader returns an in-memory ``ImageSet``; ``load_dataset`` picks one by name.

The data folder comes from the caller (``--data-dir``) or the ``CCVAE_DATA_DIR`` environment
variable; nothing here knows where any particular machine keeps its data.
"""

from __future__ import annotations

from pathlib import Path

import torch

from core import settings
from core.data.base import DataError, ImageSet
from core.data.faces import UNSEEN_CELEBA, UNSEEN_YALE, load_celeba, load_multipie, load_orl, load_utkface, load_yale
from core.data.folders import load_folder
from core.data.mnist import load_mnist, read_idx
from core.data.registry import REGISTRY, DatasetSpec, dataset_spec, spec_for
from core.data.sprites import load_sprites
from core.data.synthetic import is_synthetic, recorded_name, synthetic_digits, synthetic_faces
from core.settings import DATA_DIR_ENV


def resolve_data_dir(data_dir: str | Path | None, dataset: str) -> Path:
    """``data_dir`` if given, else $CCVAE_DATA_DIR (for MNIST, its MNIST/ sub-folder if present)."""
    if data_dir:
        return Path(data_dir)
    env = settings.current().data_dir
    if not env:
        raise DataError(f"no data folder given: pass --data-dir or set {DATA_DIR_ENV}")
    root = Path(env)
    sub = REGISTRY[dataset].subfolder if dataset in REGISTRY else ""
    return root / sub if sub and (root / sub).is_dir() else root


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
                 channels: int = 1, download: bool = False, factor: str = "") -> ImageSet:
    """Load ``split`` of a named dataset: "train" or "test"; Yale B and Sprites also have "unseen"
    (held-out identities), Sprites "val" (its validation characters).

    ``factor`` picks the labelled factor where a dataset has several (UTKFace: age, gender, race;
    MultiPIE: identity, pose, expression; Sprites: identity, action, view or an attribute, see
    ``core.data.sprites``). Datasets without an official split get a fixed per-class 10% test
    holdout (``holdout_split``). Sprites images are always (3, 64, 64): ``channels`` does not apply.
    """
    spec = dataset_spec(dataset)
    if split not in spec.splits:
        raise ValueError(f"unknown split {split!r} for {dataset}; valid: {', '.join(spec.splits)}")
    root = resolve_data_dir(data_dir, dataset)
    data = spec.load(root, split, image_size=image_size, channels=channels, download=download, factor=factor)
    return holdout_split(data, split) if spec.holdout else data


__all__ = ["DATA_DIR_ENV", "REGISTRY", "UNSEEN_CELEBA", "UNSEEN_YALE", "DataError", "DatasetSpec",
           "ImageSet", "dataset_spec", "holdout_split", "is_synthetic", "load_celeba", "load_dataset",
           "load_folder", "load_mnist", "load_multipie", "load_orl", "load_sprites", "load_utkface", "load_yale", "read_idx",
           "recorded_name", "resolve_data_dir", "spec_for", "synthetic_digits", "synthetic_faces"]
