"""Codes in and out of a model, for pictures a user gives: encode, decode, swap a pair, an interpolation
strip, a swap grid of sample images and a prior-sampling grid. The Gradio tabs and API call these; their
refusals (``ValueError``, ``LimitError``, ``UploadError``) are worded for the user.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from core import jobs, session, workers
from core.data import DataError
from core.explore import INTERPOLATION_MODES, decode_grid, encode_all, interpolate, sample_prior, swap_grid, tile
from core.features import picture
from core.gallery import framed_swap, random_images, swap_sources
from core.limits import (
    HEAVY_DECODES,
    MAX_GRID_SIDE,
    MAX_INTERPOLATION_STEPS,
    MAX_SAMPLES_PER_ROW,
    LimitError,
    check,
)
from core.upload import UploadError, centre_square, load_image, to_model_input

__all__ = ["INTERPOLATION_MODES", "CodeError", "LimitError", "decode_codes", "encode_image", "gallery_swap_grid",
           "interpolation_strip", "model_input", "picture", "prior_grid", "read_code", "sample_pictures", "swap_pair"]


class CodeError(ValueError):
    """A code that is not a list of the model's number of finite values."""


def model_input(loaded: session.Loaded, data: bytes | None, what: str) -> torch.Tensor:
    """An uploaded picture (its bytes) as the model's input (C, H, W) in [0, 1]: read by ``core.upload`` within its
    limits, centre-cropped to a square, converted to the model's channels and size. ``UploadError`` says why not."""
    if data is None:
        raise UploadError(f"no {what}: upload an image first")
    image = load_image(data, name=f"the {what}")
    return to_model_input(centre_square(image), loaded.model.config.image_shape, equalize=False)[0]


def read_code(values, dim: int, name: str) -> torch.Tensor:
    """A JSON list of ``dim`` finite numbers as a (dim,) tensor; ``CodeError`` otherwise."""
    try:
        t = torch.tensor(values, dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError):
        t = None
    if t is None or t.shape != (dim,) or not torch.isfinite(t).all():
        raise CodeError(f"{name} must be a list of {dim} finite numbers (this checkpoint's {name} size); got {str(values)[:80]}")
    return t


def split_model(loaded: session.Loaded):
    """The model, when it has a z/s split; ``CodeError`` saying why not (DR-GAN) otherwise."""
    why_not = session.no_split_note(loaded.model.config, "This tab")
    if why_not:
        raise CodeError(why_not)
    return loaded.model


def encode_image(loaded: session.Loaded, data: bytes | None) -> dict[str, list[float]]:
    """An image -> {"z_mu": [...], "z_logvar": [...], "s": [...]}."""
    enc = encode_all(split_model(loaded), model_input(loaded, data, "image")[None])
    return {name: values[0].tolist() for name, values in enc._asdict().items()}


def decode_codes(loaded: session.Loaded, z, s) -> np.ndarray:
    """Codes (lists of numbers) -> Dec(z, s)."""
    cfg = split_model(loaded).config
    return picture(decode_grid(loaded.model, read_code(z, cfg.z_dim, "z")[None], read_code(s, cfg.s_dim, "s")[None])[0])


def swap_pair(loaded: session.Loaded, z_image: bytes | None, s_image: bytes | None) -> np.ndarray:
    """Dec(z of z_image, s of s_image): the style of one image with the class of the other."""
    x_z, x_s = model_input(loaded, z_image, "z image"), model_input(loaded, s_image, "s image")
    return picture(swap_grid(split_model(loaded), x_z[None], x_s[None])[0])


def interpolation_strip(loaded: session.Loaded, image_a: bytes | None, image_b: bytes | None, steps: int,
                        mode: str) -> np.ndarray:
    """A strip of ``steps`` images from A to B, moving z, s or both (report Fig. 4.9)."""
    check("interpolation steps", steps, MAX_INTERPOLATION_STEPS)
    if mode not in INTERPOLATION_MODES:
        raise ValueError(f"unknown mode {str(mode)[:40]!r}; valid: {', '.join(INTERPOLATION_MODES)}")
    x_a, x_b = model_input(loaded, image_a, "image A"), model_input(loaded, image_b, "image B")
    return picture(interpolate(split_model(loaded), x_a, x_b, steps=steps, mode=mode))


def gallery_swap_grid(loaded: session.Loaded, rows: int, cols: int, seed: int, data_dir: str = "") -> np.ndarray:
    """Random sample images as z sources (left column), one per class as s sources (top row), framed."""
    check("rows of the swap grid", rows, MAX_GRID_SIDE)
    check("columns of the swap grid", cols, MAX_GRID_SIDE)
    model, images = split_model(loaded), session.gallery(loaded, data_dir)
    z_idx, s_idx = swap_sources(images, rows, cols, seed=seed)
    return framed_swap(model, images, z_idx, s_idx)


def prior_grid(loaded: session.Loaded, n: int, seed: int, owner: str) -> np.ndarray:
    """One row per class (its mean s; at most ``MAX_ROWS``, evenly spread), ``n`` draws of z from the prior (report
    Fig. 4.10). More than ``HEAVY_DECODES`` images are decoded as a heavy job of ``owner`` (``core.jobs``) in a
    worker process. ``CodeError`` when the checkpoint stores no prototypes, ``jobs.Busy`` when the job is refused."""
    check("samples per row", n, MAX_SAMPLES_PER_ROW)
    split_model(loaded)
    try:
        rows = session.prior_rows(loaded)
    except DataError:
        raise CodeError("this checkpoint stores no class prototypes (latents.safetensors)") from None
    count = rows.shape[0] * n
    if count <= HEAVY_DECODES:
        return prior_picture(loaded.model, rows, n, seed)
    return jobs.pool().run(owner, f"{count:,} samples",
                           lambda report: workers.run(prior_picture, loaded.model, rows, n, seed, on_wait=report))


def prior_picture(model, rows: torch.Tensor, n: int, seed: int) -> np.ndarray:
    return tile(sample_prior(model, rows, n=n, seed=seed).flatten(0, 1), nrow=n)


def sample_pictures(loaded: session.Loaded, count: int, seed: int, data_dir: str = "") -> Sequence[np.ndarray]:
    """``count`` random sample images, each as a picture (to fill image inputs)."""
    images = session.gallery(loaded, data_dir)
    return [picture(images.floats(i[None])) for i in random_images(images, count, seed=seed)]

