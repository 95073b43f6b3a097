"""Datasets with a pose-like factor for DR-GAN: identity is the label, the pose factor is a code to render at.

- ``yaleb``: the 64 light positions are binned by azimuth into three light directions (factor
  ``light_direction``; ``--pose-factor lighting`` asks for it). In these crops a positive azimuth
  lights the left half of the image (measured on yaleB01: A+070 gives the left half a mean grey of
  139 and the right half 18), so A > +20 is "lit from left", |A| <= 20 "frontal light" (which holds
  the canonical A+000E+00), A < -20 "lit from right": 22 / 21 / 21 of the 64 positions.
- ``sprites``: the ``view`` factor (4 views) of the Sprites loader.
- ``multipie`` (and ``folder``, the same layout ``root/<identity>/<pose>/<expression>/<image>``):
  the ``pose`` factor.
"""

from __future__ import annotations

from pathlib import Path

import torch

from core.data import REGISTRY, load_dataset
from core.data.base import DataError, ImageSet

POSE_FACTORS = {name: spec.pose_factor for name, spec in REGISTRY.items() if spec.pose_factor}  # the registry's
LIGHT_DIRECTIONS = ["lit from left", "frontal light", "lit from right"]
LIGHT_FACTOR = "light_direction"
FRONTAL_EDGE = 20  # |azimuth| <= this (degrees) counts as frontal


def light_direction_bins(lighting_names: list[str], *, edge: int = FRONTAL_EDGE) -> torch.Tensor:
    """Yale B light names "A+035E+15" (azimuth, elevation) -> bin index per name (0 left, 1 frontal, 2 right)."""
    bins = []
    for name in lighting_names:
        if len(name) < 5 or name[0] != "A" or not name[1:5].lstrip("+-").isdigit():
            raise DataError(f"cannot read an azimuth from the Yale B light name {name!r} (expected 'A+035E+15')")
        azimuth = int(name[1:5])
        bins.append(0 if azimuth > edge else 2 if azimuth < -edge else 1)
    return torch.tensor(bins, dtype=torch.long)


def with_light_directions(data: ImageSet) -> ImageSet:
    """Yale B with a ``light_direction`` factor (3 bins) beside its 64-valued ``lighting`` factor."""
    if "lighting" not in data.factors:
        raise DataError(f"{data.name} has no lighting factor to bin into light directions")
    direction = light_direction_bins(data.factor_names["lighting"])[data.factors["lighting"]]
    return ImageSet(data.images, data.labels, data.class_names, data.name,
                    data.factors | {LIGHT_FACTOR: direction}, data.factor_names | {LIGHT_FACTOR: list(LIGHT_DIRECTIONS)})


def pose_factor_name(dataset: str, pose_factor: str = "") -> str:
    """The factor DR-GAN renders at: ``pose_factor`` or the dataset's default; Yale B lighting means its bins."""
    name = pose_factor or POSE_FACTORS.get(dataset, "")
    if not name:
        raise ValueError(f"no default pose factor for dataset {dataset!r}; pass --pose-factor "
                         f"(defaults: {', '.join(f'{k}: {v}' for k, v in POSE_FACTORS.items())})")
    return LIGHT_FACTOR if dataset == "yaleb" and name == "lighting" else name


def load_pose_dataset(dataset: str, data_dir: str | Path | None, split: str = "train", *, pose_factor: str = "",
                      image_size: int = 64, channels: int = 1) -> ImageSet:
    """``split`` of ``dataset`` with identity as the label and ``pose_factor`` among its factors.

    ``folder`` is read as a MultiPIE-style folder. Raises DataError if the pose factor is missing.
    """
    factor = pose_factor_name(dataset, pose_factor)
    kind = "multipie" if dataset == "folder" else dataset
    data = load_dataset(kind, data_dir, split, image_size=image_size, channels=channels,
                        factor="identity" if kind == "multipie" else "")
    if kind == "yaleb":
        data = with_light_directions(data)
    if factor not in data.factors:
        raise DataError(f"{data.name} has no factor {factor!r} to use as the pose; its factors: "
                        f"{', '.join(sorted(data.factors)) or 'none'}")
    return data
