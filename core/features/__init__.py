"""What the app does, once, for both front ends: one module per feature, returning what a front end shows.

The Streamlit pages (``pages/``) and the Gradio app (``app_gradio.py``) call these functions and only lay
out widgets, so the two cannot drift apart: the same caps (``core.limits``), the same refusals and the
same texts. Results are pictures as uint8 arrays (``picture``), captions and messages already worded;
errors are ``core.limits.LimitError`` and the ``ValueError`` subclasses of ``core`` (``UploadError``,
``SketchError``, ``DataError``, ``CheckpointError``), whose messages are meant for the user.

- ``codes``: encode an image, decode codes, swap a pair, an interpolation strip, a prior-sampling grid.
- ``photos``: a few-shot session on photos of a new identity (which model, crops, zero-shot, likeness,
  fine-tuning, the mixed grid, the strip from a known identity, the identity map).
- ``digit``: a drawn digit read by a digit model.
- ``grids``, ``sliders``, ``maps``, ``compare``, ``home``: the Streamlit pages of the same names.
- ``scores``: a checkpoint's measured numbers beside the published ones (the Metrics page, the home card).
- ``figures``: Plotly figures of codes (latent maps, the identity map, the compared models' maps).
- ``live``: a live training run (Train live): its state, its training in a worker process, the quick
  evaluation and the save.

The heavy parts run in worker processes (``core.workers``); ``core.features.warm`` readies one before its first job.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from core.explore import to_uint8
from core.gallery import evenly_spread


class Tile(NamedTuple):
    """One headline number: ``st.metric(*tile)`` in a page, a line of text in the Gradio app."""

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
