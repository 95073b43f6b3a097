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

from core.data import REGISTRY, load_dataset
from core.data.base import DataError, ImageSet
from core.data.faces import LIGHT_DIRECTIONS, LIGHT_FACTOR, light_direction_bins, with_light_directions

POSE_FACTORS = {name: spec.pose_factor for name, spec in REGISTRY.items() if spec.pose_factor}  # the registry's


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


__all__ = ["LIGHT_DIRECTIONS", "LIGHT_FACTOR", "POSE_FACTORS", "light_direction_bins", "load_pose_dataset", "pose_factor_name",
           "with_light_directions"]
