"""Exploration operations: tensors in, tensors out. Used by the app, the CLIs and the tests.

Functions that decode take an optional ``progress(done, total)`` callback, passed to ``model.decode``:
a PixelCNN decoder samples pixel by pixel and reports after each row (``model.autoregressive``).
"""

from __future__ import annotations

import numpy as np
import torch
from torchvision.utils import make_grid

from core.limits import DECODE_BATCH, MAX_DECODES, MAX_ROWS, MAX_SAMPLES_PER_ROW, MAX_ZIP_BYTES, MAX_ZIP_IMAGES, LimitError, check
from core.models import Encoding, Progress


@torch.no_grad()
def decode(model, z: torch.Tensor, s: torch.Tensor, *, progress: Progress | None = None,
           batch_size: int = DECODE_BATCH) -> torch.Tensor:
    """Dec(z[i], s[i]) for codes z (B, z_dim), s (B, s_dim): (B, C, H, W) in [0, 1], on the CPU.

    Decoded ``batch_size`` codes at a time, so the network's activations stay small whatever B is."""
    device = next(model.parameters()).device
    parts, batches = [], max(1, -(-z.shape[0] // batch_size))
    for i, start in enumerate(range(0, z.shape[0], batch_size)):
        zb, sb = z[start:start + batch_size].to(device), s[start:start + batch_size].to(device)
        if progress is None:
            parts.append(model.decode(zb, sb).cpu())
        else:  # one bar over all batches
            parts.append(model.decode(zb, sb, progress=lambda done, total, i=i: progress(i * total + done,
                                                                                          batches * total)).cpu())
    if not parts:
        return torch.empty(0, *model.config.image_shape)
    return torch.cat(parts)


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
def decode_grid(model, z: torch.Tensor, s: torch.Tensor, *, progress: Progress | None = None,
                limit: int | None = MAX_DECODES) -> torch.Tensor:
    """Cell (i, j) = Dec(z[i], s[j]) for codes z (R, z_dim), s (C, s_dim): (R, C, *image_shape).

    At most ``limit`` cells (``LimitError`` beyond; None: no limit, for the command-line tools)."""
    rows, cols = z.shape[0], s.shape[0]
    if limit is not None:
        check("images in one grid", rows * cols, limit, "use fewer rows or columns")
    out = decode(model, z.repeat_interleave(cols, 0), s.repeat(rows, 1), progress=progress)
    return out.view(rows, cols, *model.config.image_shape)


@torch.no_grad()
def swap_grid(model, z_images: torch.Tensor, s_images: torch.Tensor, *, progress: Progress | None = None) -> torch.Tensor:
    """Cell (i, j) = Dec(z of z_images[i], s of s_images[j]): (R, C, *image_shape) in [0, 1]."""
    return decode_grid(model, model.encode(z_images).z_mu, model.encode(s_images).s, progress=progress)


@torch.no_grad()
def swap_effects(model, images: torch.Tensor) -> dict[str, float]:
    """How much the decoded image moves when s is swapped, and when z is swapped (mean absolute pixel change).

    Image i is paired with image i+1 (mod B): ``s_effect`` = |Dec(z_i, s_i) - Dec(z_i, s_i+1)|,
    ``z_effect`` = |Dec(z_i, s_i) - Dec(z_i+1, s_i)|, averaged over pixels and pairs. A decoder that ignores s
    (the degenerate split, where z carries everything) has ``s_effect`` near 0; one that ignores z, ``z_effect``.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    x = images.to(device)
    x = x.float().div(255) if x.dtype == torch.uint8 else x.float()
    enc = model.encode(x)
    z, s_code = enc.z_mu, enc.s
    out = model.decode(torch.cat([z, z, z.roll(1, 0)]), torch.cat([s_code, s_code.roll(1, 0), s_code]))
    own, s_swapped, z_swapped = out.float().chunk(3)
    model.train(was_training)
    return {"s_effect": (own - s_swapped).abs().mean().item(), "z_effect": (own - z_swapped).abs().mean().item()}


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
    return tile(torch.cat([top, body]), nrow=cols + 1, padding=padding)


def class_means(codes: torch.Tensor, labels: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean code of each class (K, D) and the class counts (K,); a class without samples gets zeros."""
    onehot = torch.nn.functional.one_hot(labels.long(), num_classes).float()  # (N, K)
    counts = onehot.sum(0)
    return (onehot.T @ codes.float()) / counts.clamp(min=1)[:, None], counts


@torch.no_grad()
def latent_statistics(model, images: torch.Tensor, labels: torch.Tensor, *, num_classes: int,
                      bank_size: int = 2000, seed: int = 0,
                      factors: dict[str, tuple[torch.Tensor, int]] | None = None) -> dict[str, torch.Tensor]:
    """What a checkpoint ships instead of images: per-class mean s and a bank of codes.

    class_mean_s (K, s_dim), class_counts (K,), and for ``bank_size`` images drawn evenly over
    classes: bank_z_mu, bank_z_logvar, bank_s and bank_labels; pixel_stats = (mean, std) of the
    images' per-image intensity statistics (uploads are matched to them). For each other labelled
    factor ``name`` given as (values (N,), count V), e.g. Yale B's lighting: ``factor_<name>_z_mu``
    (V, z_dim), the mean z of each value, and ``factor_<name>_counts``. No pixels are stored.
    """
    enc = encode_all(model, images)
    class_mean_s, counts = class_means(enc.s, labels, num_classes)
    flat = images.float().flatten(1) / (255 if images.dtype == torch.uint8 else 1)
    extra = {"pixel_stats": torch.stack([flat.mean(1).mean(), flat.std(1).mean()])}
    for name, (values, count) in (factors or {}).items():
        extra[f"factor_{name}_z_mu"], extra[f"factor_{name}_counts"] = class_means(enc.z_mu, values, count)
    g = torch.Generator().manual_seed(seed)
    per_class = max(1, bank_size // num_classes)
    bank = torch.cat([idx[torch.randperm(idx.numel(), generator=g)[:per_class]]
                      for idx in (torch.nonzero(labels == k).flatten() for k in range(num_classes))])
    return {"class_mean_s": class_mean_s, "class_counts": counts.long(),
            "bank_z_mu": enc.z_mu[bank], "bank_z_logvar": enc.z_logvar[bank], "bank_s": enc.s[bank],
            "bank_labels": labels[bank].long()} | extra


def _lerp(a: torch.Tensor, b: torch.Tensor, steps: int) -> torch.Tensor:
    """(D,), (D,) -> (steps, D), from a to b inclusive."""
    t = torch.linspace(0, 1, steps, device=a.device, dtype=a.dtype)[:, None]
    return (1 - t) * a + t * b


INTERPOLATION_MODES = ("z", "s", "both")


@torch.no_grad()
def interpolate(model, x_a: torch.Tensor, x_b: torch.Tensor, *, steps: int = 8, mode: str = "both",
                progress: Progress | None = None) -> torch.Tensor:
    """Decode a straight line between two images (each (C, H, W)) in z, in s, or in both: (steps, C, H, W).

    The factor that is not interpolated is held at image a's value (report Fig. 4.9)."""
    return interpolate_ends(model, model.encode(torch.stack([x_a, x_b])), steps=steps, mode=mode, progress=progress)


@torch.no_grad()
def interpolate_ends(model, ends: Encoding, *, steps: int = 8, mode: str = "both",
                     progress: Progress | None = None) -> torch.Tensor:
    """``interpolate`` between the codes of two images (``ends``: two rows, a then b)."""
    if mode not in INTERPOLATION_MODES:
        raise ValueError(f"unknown interpolation mode {mode!r}; valid: {', '.join(INTERPOLATION_MODES)}")
    if steps < 2:
        raise ValueError(f"steps must be at least 2, got {steps}")
    z = _lerp(ends.z_mu[0], ends.z_mu[1], steps) if mode in ("z", "both") else ends.z_mu[:1].expand(steps, -1)
    s = _lerp(ends.s[0], ends.s[1], steps) if mode in ("s", "both") else ends.s[:1].expand(steps, -1)
    return decode(model, z, s, progress=progress)


@torch.no_grad()
def interpolate_codes(model, z: torch.Tensor, s_a: torch.Tensor, s_b: torch.Tensor, *, steps: int = 8,
                      progress: Progress | None = None) -> torch.Tensor:
    """Decode z (z_dim,) with s moving in a straight line from s_a to s_b: (steps, C, H, W)."""
    return decode(model, z[None].expand(steps, -1), _lerp(s_a, s_b, steps), progress=progress)


@torch.no_grad()
def interpolation_grid(model, x_a: torch.Tensor, x_b: torch.Tensor, *, steps: int = 8,
                       progress: Progress | None = None) -> torch.Tensor:
    """Cell (i, j) = Dec(z_i, s_j): z goes from a to b down the rows, s across the columns. (steps, steps, C, H, W)."""
    return interpolation_grid_ends(model, model.encode(torch.stack([x_a, x_b])), steps=steps, progress=progress)


@torch.no_grad()
def interpolation_grid_ends(model, ends: Encoding, *, steps: int = 8, progress: Progress | None = None) -> torch.Tensor:
    """``interpolation_grid`` between the codes of two images (``ends``: two rows, a then b)."""
    z = _lerp(ends.z_mu[0], ends.z_mu[1], steps).repeat_interleave(steps, 0)
    s = _lerp(ends.s[0], ends.s[1], steps).repeat(steps, 1)
    return decode(model, z, s, progress=progress).view(steps, steps, *model.config.image_shape)


@torch.no_grad()
def sample_prior(model, s: torch.Tensor, *, n: int, seed: int = 0, progress: Progress | None = None,
                 limit: bool = True) -> torch.Tensor:
    """For each s (K, s_dim), decode n draws of z ~ N(0, I): (K, n, C, H, W). The same z across rows.

    K, n and K x n are capped (``core.limits``; ``LimitError`` beyond) unless ``limit=False``."""
    k = s.shape[0]
    if limit:
        check("rows (classes or images)", k, MAX_ROWS, "choose fewer")
        check("samples per row", n, MAX_SAMPLES_PER_ROW)
        check("images in one sampling grid", k * n, MAX_DECODES, "use fewer rows or fewer samples per row")
    z = prior_draws(model, n, seed).to(s.device)
    return decode(model, z.repeat(k, 1), s.repeat_interleave(n, 0), progress=progress).view(k, n, *model.config.image_shape)


def prior_draws(model, n: int, seed: int) -> torch.Tensor:
    """n draws of z ~ N(0, I) from a generator of their own (never the global one): (n, z_dim)."""
    return torch.randn(n, model.config.z_dim, generator=torch.Generator().manual_seed(seed))


def mix(a: torch.Tensor, b: torch.Tensor, weight: float) -> torch.Tensor:
    """(1 - weight) * a + weight * b; e.g. two class prototypes of s."""
    return (1 - weight) * a + weight * b


def nearest_neighbours(codes: torch.Tensor, index: int, *, k: int = 8) -> torch.Tensor:
    """Indices of the k codes closest (Euclidean) to codes[index], itself excluded, nearest first."""
    d = torch.cdist(codes[index:index + 1].float(), codes.float())[0]
    d[index] = float("inf")
    return torch.topk(d, min(k, codes.shape[0] - 1), largest=False).indices


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(..., C, H, W) float [0, 1] -> (..., H, W, C) uint8; C = 1 is kept as a single channel."""
    return images.detach().clamp(0, 1).mul(255).round().byte().movedim(-3, -1).cpu().numpy()


def tile(images: torch.Tensor, *, nrow: int, padding: int = 2) -> np.ndarray:
    """(N, C, H, W) -> one uint8 RGB picture (H', W', 3) with nrow images per row."""
    grid = make_grid(images.detach().cpu(), nrow=nrow, padding=padding, pad_value=0.5)
    return grid.clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy()


def png_bytes(array: np.ndarray) -> bytes:
    """A uint8 (H, W, 3) or (H, W, 1) picture as PNG file bytes."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array if array.shape[-1] == 3 else array[..., 0]).save(buf, format="PNG")
    return buf.getvalue()


def export_zip(images: torch.Tensor, labels: list[str], *, prefix: str = "sample") -> bytes:
    """A zip of PNGs (``<label>/<prefix>_<i>.png``, ImageFolder layout) plus ``labels.csv``."""
    check("images in one zip", images.shape[0], MAX_ZIP_IMAGES)
    return _zip_batches([(images, labels)], prefix=prefix)


def sample_zip(model, s: torch.Tensor, labels: list[str], *, per_row: int, seed: int = 0,
               progress: Progress | None = None) -> bytes:
    """``sample_prior(model, s, n=per_row, seed=seed)`` as a zip of PNG folders (see ``export_zip``),
    decoded and compressed ``DECODE_BATCH`` images at a time: memory stays that of one batch plus the
    zip, which is capped at ``MAX_ZIP_IMAGES`` images and ``MAX_ZIP_BYTES`` bytes."""
    k = s.shape[0]
    check("rows (classes or images)", k, MAX_ROWS, "choose fewer")
    check("images in one zip", k * per_row, MAX_ZIP_IMAGES, "lower the images per row or choose fewer rows")
    if len(labels) != k:
        raise ValueError(f"{len(labels)} labels for {k} rows")
    z = prior_draws(model, per_row, seed).to(s.device)
    rows = torch.arange(k).repeat_interleave(per_row)  # image i: row i // per_row, draw i % per_row
    cols = torch.arange(per_row).repeat(k)

    def batches():
        total = k * per_row
        for start in range(0, total, DECODE_BATCH):
            r, c = rows[start:start + DECODE_BATCH], cols[start:start + DECODE_BATCH]
            yield decode(model, z[c], s[r]), [labels[int(i)] for i in r]
            if progress is not None:
                progress(min(start + DECODE_BATCH, total), total)

    return _zip_batches(batches(), prefix="sample")


def _zip_batches(batches, *, prefix: str) -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    rows = ["file,label"]
    i = 0
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for images, labels in batches:
            for array, label in zip(to_uint8(images), labels, strict=True):
                name = f"{label}/{prefix}_{i:05d}.png"
                zf.writestr(name, png_bytes(array))
                rows.append(f"{name},{label}")
                i += 1
            if buf.tell() > MAX_ZIP_BYTES:
                raise LimitError(f"the zip grew past {MAX_ZIP_BYTES // 2**20} MB after {i:,} images; "
                                 "lower the images per row or choose fewer rows")
        zf.writestr("labels.csv", "\n".join(rows) + "\n")
    return buf.getvalue()


@torch.no_grad()
def pose_grid(model, x: torch.Tensor, poses: torch.Tensor | list[int], *, noise: torch.Tensor | None = None) -> torch.Tensor:
    """DR-GAN: cell (i, j) = G(x[i], poses[j], noise): each input re-rendered at each target pose.

    x (R, C, H, W) in [0, 1]; poses (P,) indices; noise (z_dim,) shared by every cell, None for zero
    noise. Returns (R, P, C, H, W) in [0, 1]. The model needs ``features`` and ``render`` (a DR-GAN).
    """
    device = next(model.parameters()).device
    poses = torch.as_tensor(poses, dtype=torch.long, device=device)
    rows, cols = x.shape[0], poses.shape[0]
    f = model.features(x.to(device)).repeat_interleave(cols, 0)  # (R * P, feature_dim)
    n = None if noise is None else noise.to(device).reshape(1, -1).expand(rows * cols, -1)
    return model.render(f, poses.repeat(rows), n).view(rows, cols, *model.config.image_shape)


def framed_rows(cells: torch.Tensor, row_sources: torch.Tensor, *, padding: int = 2) -> np.ndarray:
    """A grid with each row's source image in the left column: cells (R, C, ch, H, W), row_sources
    (R, ch, H, W) -> uint8 (H', W', 3)."""
    rows, cols = cells.shape[:2]
    body = torch.cat([torch.cat([row_sources[i:i + 1].cpu(), cells[i].cpu()]) for i in range(rows)])
    return tile(body, nrow=cols + 1, padding=padding)
