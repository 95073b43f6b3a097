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
from core.data.sprites import load_sprites
from core.data.synthetic import synthetic_digits, synthetic_faces
from core.settings import DATA_DIR_ENV

DATASETS = ("mnist", "yaleb", "orl", "celeba", "utkface", "multipie", "sprites", "folder")
# when $CCVAE_DATA_DIR holds several datasets, each is looked for in its usual sub-folder
SUBFOLDERS = {"mnist": "MNIST", "yaleb": "CroppedYale", "orl": "orl_faces", "celeba": "celeba_subset", "utkface": "UTKFace",
              "sprites": "sprites"}
# splits besides train/test: identities never used in training ("unseen"), Sprites' validation characters ("val")
SPLITS = {"yaleb": ("train", "test", "unseen"), "celeba": ("train", "test", "unseen"),
          "sprites": ("train", "test", "unseen", "val")}


def resolve_data_dir(data_dir: str | Path | None, dataset: str) -> Path:
    """``data_dir`` if given, else $CCVAE_DATA_DIR (for MNIST, its MNIST/ sub-folder if present)."""
    if data_dir:
        return Path(data_dir)
    env = settings.current().data_dir
    if not env:
        raise DataError(f"no data folder given: pass --data-dir or set {DATA_DIR_ENV}")
    root = Path(env)
    sub = SUBFOLDERS.get(dataset)
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
    valid = SPLITS.get(dataset, ("train", "test"))
    if split not in valid:
        raise ValueError(f"unknown split {split!r} for {dataset}; valid: {', '.join(valid)}")
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; valid: {', '.join(DATASETS)}")
    root = resolve_data_dir(data_dir, dataset)
    if dataset == "mnist":
        return load_mnist(root, split, download=download)
    if dataset == "yaleb":
        return load_yale(root, split, size=image_size)
    if dataset == "celeba":
        return load_celeba(root, split, size=image_size, channels=channels)
    if dataset == "sprites":
        if image_size != 64:
            raise ValueError(f"Sprites images are 60x60, padded to 64x64; image_size must be 64, got {image_size}")
        return load_sprites(root, split, factor=factor or "identity")
    if dataset == "orl":
        full = load_orl(root, size=image_size)
    elif dataset == "utkface":
        full = load_utkface(root, factor=factor or "gender", size=image_size, channels=channels)
    elif dataset == "multipie":
        full = load_multipie(root, factor=factor or "identity", size=image_size, channels=channels)
    else:
        full = load_folder(root, size=image_size, channels=channels)
    return holdout_split(full, split)


__all__ = ["DATASETS", "DATA_DIR_ENV", "SPLITS", "UNSEEN_CELEBA", "UNSEEN_YALE", "DataError", "ImageSet", "holdout_split",
           "load_celeba",
           "load_dataset", "load_folder", "load_mnist", "load_multipie", "load_orl", "load_sprites", "load_utkface",
           "load_yale", "read_idx", "resolve_data_dir", "synthetic_digits", "synthetic_faces"]
