"""Exploration operations: tensors in, tensors out. Used by the app, the CLIs and the tests."""

from __future__ import annotations

import numpy as np
import torch
from torchvision.utils import make_grid

from core.models import Encoding


@torch.no_grad()
def encode_all(model, images: torch.Tensor, *, batch_size: int = 1000) -> Encoding:
    """Encode uint8 (N, C, H, W) or float [0, 1] images in batches; results on the CPU."""
    device = next(model.parameters()).device
    parts = []
    for start in range(0, images.shape[0], batch_size):
        x = images[start:start + batch_size].to(device)
        x = x.float().div(255) if x.dtype == torch.uint8 else x.float()
        parts.append([t.float().cpu() for t in model.encode(x)])
    return Encoding(*(torch.cat(p) for p in zip(*parts)))


@torch.no_grad()
def swap_grid(model, z_images: torch.Tensor, s_images: torch.Tensor) -> torch.Tensor:
    """Cell (i, j) = Dec(z of z_images[i], s of s_images[j]): (R, C, *image_shape) in [0, 1]."""
    ez, es = model.encode(z_images), model.encode(s_images)
    rows, cols = ez.z_mu.shape[0], es.s.shape[0]
    z = ez.z_mu.repeat_interleave(cols, 0)  # (R*C, z_dim)
    s = es.s.repeat(rows, 1)  # (R*C, s_dim)
    return model.decode(z, s).view(rows, cols, *z_images.shape[1:])


def framed_grid(cells: torch.Tensor, row_sources: torch.Tensor, col_sources: torch.Tensor, *,
                padding: int = 2) -> np.ndarray:
    """A swap grid with the s sources on the top row and the z sources in the left column.

    cells (R, C, ch, H, W), row_sources (R, ch, H, W), col_sources (C, ch, H, W) -> uint8 (H', W', 3).
    The top-left corner is left blank; sources are set apart by a thin grey border.
    """
    rows, cols = cells.shape[:2]
    blank = torch.zeros_like(cells[0, :1])
    top = torch.cat([blank, col_sources.cpu()])
    body = torch.cat([torch.cat([row_sources[i:i + 1].cpu(), cells[i].cpu()]) for i in range(rows)])
    grid = make_grid(torch.cat([top, body]), nrow=cols + 1, padding=padding, pad_value=0.5)  # (3, H', W')
    return grid.clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy()


@torch.no_grad()
def latent_statistics(model, images: torch.Tensor, labels: torch.Tensor, *, num_classes: int,
                      bank_size: int = 2000, seed: int = 0) -> dict[str, torch.Tensor]:
    """What a checkpoint ships instead of images: per-class mean s and a bank of codes.

    class_mean_s (K, s_dim), class_counts (K,), and for ``bank_size`` images drawn evenly over
    classes: bank_z_mu, bank_z_logvar, bank_s and bank_labels. No pixels are stored.
    """
    enc = encode_all(model, images)
    onehot = torch.nn.functional.one_hot(labels.long(), num_classes).float()  # (N, K)
    counts = onehot.sum(0)
    class_mean_s = (onehot.T @ enc.s) / counts.clamp(min=1)[:, None]
    g = torch.Generator().manual_seed(seed)
    per_class = max(1, bank_size // num_classes)
    bank = torch.cat([idx[torch.randperm(idx.numel(), generator=g)[:per_class]]
                      for idx in (torch.nonzero(labels == k).flatten() for k in range(num_classes))])
    return {"class_mean_s": class_mean_s, "class_counts": counts.long(),
            "bank_z_mu": enc.z_mu[bank], "bank_z_logvar": enc.z_logvar[bank], "bank_s": enc.s[bank],
            "bank_labels": labels[bank].long()}
