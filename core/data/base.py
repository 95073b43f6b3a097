"""The in-memory dataset every loader returns: uint8 images, integer labels, class names."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch


class DataError(ValueError):
    """A dataset is missing, unreadable or unusable; the message says what and where."""


@dataclass
class ImageSet:
    images: torch.Tensor  # (N, C, H, W) uint8
    labels: torch.Tensor  # (N,) int64, values 0..len(class_names)-1
    class_names: list[str]
    name: str
    # optional per-image factors besides the label, e.g. {"lighting": (N,) int64}, with value names
    factors: dict[str, torch.Tensor] = field(default_factory=dict)
    factor_names: dict[str, list[str]] = field(default_factory=dict)
    # a model's own generations (core.gallery): the codes (z_mu, z_logvar, s) each image was decoded from, and
    # that model; read through core.gallery.encoding
    codes: tuple[torch.Tensor, ...] | None = field(default=None, repr=False)
    coder: object | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise DataError(f"{self.name}: images must be a uint8 (N, C, H, W) tensor, got "
                            f"{self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.shape != (self.images.shape[0],):
            raise DataError(f"{self.name}: {self.images.shape[0]} images but labels of shape {tuple(self.labels.shape)}")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    def floats(self, index: torch.Tensor | slice | None = None) -> torch.Tensor:
        """Images as float in [0, 1]; all of them, or those at ``index``."""
        images = self.images if index is None else self.images[index]
        return images.float().div_(255)

    def subset(self, index: torch.Tensor) -> ImageSet:
        return ImageSet(self.images[index], self.labels[index], self.class_names, self.name,
                        {k: v[index] for k, v in self.factors.items()}, self.factor_names,
                        None if self.codes is None else tuple(t[index] for t in self.codes), self.coder)

    def random_subset(self, n: int, seed: int | torch.Generator = 0) -> ImageSet:
        """``n`` images drawn at random (``seed``, or a generator to draw from, so that several draws chain); the
        whole set, unchanged and without a draw, when ``n`` is 0 or at least its size."""
        if not 0 < n < len(self):
            return self
        g = seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(seed)
        return self.subset(torch.randperm(len(self), generator=g)[:n])


def data_roots(root: str | Path | list | tuple) -> list[Path]:
    """The folders ``root`` names: a list of folders, folders joined by ``os.pathsep`` (``--data-dir A B`` on the
    command line), or one folder."""
    if isinstance(root, (list, tuple)):
        return [Path(r) for r in root]
    return [Path(r) for r in str(root).split(os.pathsep) if r]
