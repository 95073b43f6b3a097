"""What the feature modules return for a front end to show: a headline number (``Tile``), a picture with its
caption (``View``), pictures as uint8 arrays (``picture``, ``enlarged``)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from core.explore import to_uint8
from core.gallery import evenly_spread


class Tile(NamedTuple):
    """One headline number: ``st.metric(label, value, help=help)`` in a page (never ``*tile``: the third
    positional argument of ``st.metric`` is its delta chip), a line of text in the Gradio app."""

    label: str
    value: str
    help: str | None = None


class View(NamedTuple):
    """A picture and its caption: ``show(*view)`` in a page."""

    picture: np.ndarray  # uint8 (H, W) or (H, W, 3)
    caption: str


def picture(images: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) in [0, 1] -> the images side by side: uint8 (H, N * W), or (H, N * W, 3) in colour."""
    strip = np.concatenate(list(to_uint8(images)), axis=1)
    return strip[..., 0] if strip.shape[-1] == 1 else strip


def enlarged(array: np.ndarray, width: int) -> np.ndarray:
    """A picture (uint8 (H, W) or (H, W, 1 or 3)) repeated pixel by pixel to about ``width`` pixels wide, so a
    28-pixel digit stays crisp when a browser shows it large."""
    factor = max(1, round(width / array.shape[1]))
    flat = array[..., 0] if array.ndim == 3 and array.shape[-1] == 1 else array
    return flat.repeat(factor, axis=0).repeat(factor, axis=1)


__all__ = ["Tile", "View", "enlarged", "evenly_spread", "picture"]
