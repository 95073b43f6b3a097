"""A digit drawn by hand, read by an MNIST model: which class its s is closest to, and its z in every class.

``mnist_like`` turns a drawing into an MNIST-style image the way MNIST itself was made (LeCun et al.):
the ink's bounding box scaled so its longer side is 20 pixels (aspect kept, anti-aliased), placed in a
28x28 frame with its centre of mass at the centre, white ink on black. ``read_sketch`` encodes it and
compares its s with the checkpoint's stored per-class mean s (``latents["class_mean_s"]``), and decodes
its z with every class's mean s: "your hand, as every digit" (report Fig. 4.8, one row).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from PIL import Image

from core.explore import decode_grid, encode_all

MNIST_SIDE, MNIST_BOX = 28, 20  # frame and the longer side of the digit's box, in pixels
INK = 0.1  # a pixel with at least this much ink (of 1) belongs to the drawing


class SketchError(ValueError):
    """The drawing or the model cannot be used; the message says why, for the user."""


class SketchReading(NamedTuple):
    image: torch.Tensor  # (1, 28, 28) in [0, 1]: what the model saw
    s: torch.Tensor  # (s_dim,)
    z: torch.Tensor  # (z_dim,) posterior mean
    nearest: list[tuple[int, float]]  # (class index, distance of s to its mean s), nearest first
    every_class: torch.Tensor  # (K, 1, 28, 28): Dec(z, mean s of class k) for every class k


def ink(canvas: np.ndarray) -> np.ndarray:
    """How much ink each pixel of a drawing holds, (H, W) float in [0, 1], whatever the canvas's colours.

    RGBA with a transparent background (the ink is what is opaque): the alpha channel. Otherwise the
    brightness, inverted when the background (the median pixel) is light: black on white or white on
    black both give white ink."""
    a = np.asarray(canvas)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] not in (3, 4)) or a.size == 0:
        raise SketchError(f"a drawing is an (H, W), (H, W, 3) or (H, W, 4) image; got shape {a.shape}")
    a = a.astype(np.float32) / (255.0 if a.dtype == np.uint8 or a.max() > 1 else 1.0)
    if a.ndim == 3 and a.shape[-1] == 4 and a[..., 3].min() < 0.5:  # transparent background
        return a[..., 3]
    grey = a[..., :3].mean(-1) if a.ndim == 3 else a
    return 1 - grey if np.median(grey) > 0.5 else grey


def mnist_like(canvas: np.ndarray) -> torch.Tensor:
    """A drawing as MNIST would have it: (1, 28, 28) float in [0, 1], white digit on black, its box
    scaled to 20 pixels on the longer side and its centre of mass at the centre. ``SketchError`` for a
    blank canvas."""
    amount = ink(canvas)
    rows, cols = np.nonzero(amount >= INK)
    if rows.size == 0:
        raise SketchError("the canvas is blank: draw a digit first")
    digit = amount[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    h, w = digit.shape
    scale = MNIST_BOX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(Image.fromarray(digit).resize(size, Image.LANCZOS if min(h, w) > 1 else Image.BILINEAR))
    small = np.clip(small, 0, 1)
    frame = np.zeros((MNIST_SIDE, MNIST_SIDE), np.float32)
    top, left = (MNIST_SIDE - size[1]) // 2, (MNIST_SIDE - size[0]) // 2
    frame[top:top + size[1], left:left + size[0]] = small
    if frame.sum() > 0:  # shift the centre of mass to the centre (whole pixels, as MNIST's own preprocessing)
        yy, xx = np.mgrid[0:MNIST_SIDE, 0:MNIST_SIDE]
        dy = int(round((MNIST_SIDE - 1) / 2 - (yy * frame).sum() / frame.sum()))
        dx = int(round((MNIST_SIDE - 1) / 2 - (xx * frame).sum() / frame.sum()))
        frame = _shift(frame, dy, dx)
    return torch.from_numpy(frame)[None]


def _shift(a: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``a`` moved by (dy, dx) whole pixels, zeros coming in (nothing wraps around)."""
    out = np.zeros_like(a)
    h, w = a.shape
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[yd, xd] = a[ys, xs]
    return out


def check_sketch_model(model, latents: dict[str, torch.Tensor]) -> None:
    """``SketchError`` unless the model reads 28x28 grey digits and stores its per-class mean s."""
    shape = tuple(model.config.image_shape)
    if shape != (1, MNIST_SIDE, MNIST_SIDE):
        raise SketchError(f"drawing works with 28x28 grey digit models (MNIST); this model takes {shape[1]}x{shape[2]} "
                          f"{'grey' if shape[0] == 1 else 'colour'} images")
    if "class_mean_s" not in latents:
        raise SketchError("this checkpoint stores no per-class mean s (latents.safetensors), so a drawing "
                          "cannot be compared with its classes")


@torch.no_grad()
def read_sketch(model, latents: dict[str, torch.Tensor], canvas: np.ndarray, *, top: int = 3) -> SketchReading:
    """Encode a drawing; its ``top`` nearest classes by the distance of its s to each class's mean s, and
    its z decoded with every class's mean s."""
    check_sketch_model(model, latents)
    image = mnist_like(canvas)
    codes = encode_all(model, image[None])
    s, z = codes.s[0], codes.z_mu[0]
    protos = latents["class_mean_s"].to(s)
    distances = torch.linalg.vector_norm(protos - s, dim=1)
    order = torch.argsort(distances)[:top].tolist()
    every = decode_grid(model, z[None], protos)[0]
    return SketchReading(image, s, z, [(k, float(distances[k])) for k in order], every)
