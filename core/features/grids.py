"""Pictures made from a model's sample images (the gallery): the swap grid (report Fig. 4.1/4.8) or, for a
pose-conditioned model, the pose grid (4.0.3.1); interpolation strips and grids (Fig. 4.9); prior samples
and their zip export (Fig. 4.10). Images are picked by gallery number (plain ints), results are ``View``s.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import torch
from PIL import Image

from core import workers
from core.data import ImageSet, spec_for
from core.explore import (
    framed_rows,
    interpolate_ends,
    interpolation_grid_ends,
    pose_grid,
    sample_prior,
    sample_zip,
    tile,
    to_uint8,
)
from core.features import View
from core.gallery import class_columns, encoding, framed_swap, label_name, random_images
from core.limits import MAX_INTERPOLATION_STEPS, MAX_PICK_CHARS, MAX_PICKS, MAX_ZIP_IMAGES, LimitError, check
from core.models import Progress

SOURCE_MODES = ("Random", "One per class", "Pick by hand")
INTERPOLATION_LABELS = {"z": "z only (style changes)", "s": "s only (class changes)", "both": "both"}


def _fresh_generator() -> torch.Generator:
    """A generator of this click's own (the global one is shared by the server's sessions)."""
    g = torch.Generator()
    g.seed()
    return g


# ------------------------------------------------------------------------------------------- swap grid

def candidates(gallery: ImageSet, seed: int, count: int = 36) -> list[int]:
    """Gallery numbers offered for picking by hand (seeded)."""
    return torch.randperm(len(gallery), generator=torch.Generator().manual_seed(seed))[:count].tolist()


def sources(gallery: ImageSet, mode: str, n: int, seed: int) -> list[int]:
    """``n`` gallery numbers: random (seeded), or one per class in class order (cycled)."""
    if mode == SOURCE_MODES[0]:
        return random_images(gallery, n, seed=seed).tolist()
    return class_columns(gallery, n, seed=seed).tolist()


def swap_view(model, gallery: ImageSet, rows: list[int], cols: list[int], *, progress: Progress | None = None) -> View:
    """Dec(z of each row image, s of each column image), framed by the sources."""
    grid = framed_swap(model, gallery, rows, cols, progress=progress)
    spec = spec_for(model.config.dataset)
    s_words = spec.s_words or "the labelled factor: " + ", ".join(gallery.class_names[:2]) + ", ..."
    return View(grid, f"Top row: s sources ({s_words}). Left column: z sources ({spec.z_words}).")


def pose_view(model, gallery: ImageSet, n_rows: int, seed: int, *, by_class: bool, noise_seed: int) -> View:
    """A pose-conditioned model: each row an input image, each column its identity rendered at one pose (noise seed 0:
    the noise's mean)."""
    rows = class_columns(gallery, n_rows, seed=seed, cycle=False) if by_class else random_images(gallery, n_rows, seed=seed)
    noise = None
    if noise_seed:
        noise = model.sample_noise(1, torch.Generator(next(model.parameters()).device).manual_seed(noise_seed))[0]
    x = gallery.floats(rows)
    factor = model.pose_factor.replace("_", " ")
    return View(framed_rows(pose_grid(model, x, list(range(len(model.pose_names))), noise=noise), x),
                f"Left column: inputs. Then one column per {factor}: {', '.join(model.pose_names)}.")


def sheet_labels(gallery: ImageSet, indices: list[int]) -> list[str]:
    return [f"#{i} ({label_name(gallery, int(gallery.labels[i]))})" for i in indices]


# --------------------------------------------------------------------------------------- interpolation

def random_pair(n: int) -> tuple[int, int]:
    a, b = torch.randint(n, (2,), generator=_fresh_generator()).tolist()
    return a, b


def pair_caption(gallery: ImageSet, a: int, b: int) -> str:
    la, lb = (label_name(gallery, int(gallery.labels[i])) for i in (a, b))
    return f"A = #{a} (label {la}), B = #{b} (label {lb})" + (" — the same image" if a == b else "")


def interpolation_strip(model, gallery: ImageSet, a: int, b: int, steps: int, mode: str, *,
                        progress: Progress | None = None) -> tuple[View, bytes]:
    """A, ``steps`` decodings on the line from A to B (moving z, s or both), B; and the strip as a GIF."""
    check("interpolation steps", steps, MAX_INTERPOLATION_STEPS)
    x_a, x_b = gallery.floats(a), gallery.floats(b)
    strip = interpolate_ends(model, encoding(model, gallery, [a, b]), steps=steps, mode=mode, progress=progress)
    picture = tile(torch.cat([x_a[None], strip, x_b[None]]), nrow=steps + 2)
    return (View(picture, f"A, then {steps} decodings interpolating {INTERPOLATION_LABELS[mode]}, then B."),
            gif_bytes(to_uint8(strip)))


def interpolation_square(model, gallery: ImageSet, a: int, b: int, steps: int, *, progress: Progress | None = None) -> View:
    check("interpolation steps", steps, MAX_INTERPOLATION_STEPS)
    grid = interpolation_grid_ends(model, encoding(model, gallery, [a, b]), steps=steps, progress=progress)
    return View(tile(grid.flatten(0, 1), nrow=steps), "Top-left: z and s of A. Bottom-right: z and s of B. "
                "Moving right changes only s (the class); moving down changes only z (the style).")


def gif_bytes(frames) -> bytes:
    """An animated GIF that plays the strip forward and back."""
    images = [Image.fromarray(f[..., 0] if f.shape[-1] == 1 else f).resize((112, 112), Image.NEAREST) for f in frames]
    images = images + images[-2:0:-1]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=120, loop=0)
    return buf.getvalue()


# -------------------------------------------------------------------------------------------- sampling

def parse_picks(text: str, n_gallery: int) -> list[int]:
    """Gallery numbers typed as "0, 7, 42"; ``ValueError`` (``LimitError`` for too many) saying what is wrong."""
    try:
        idx = [int(v) for v in text[:MAX_PICK_CHARS].replace(" ", "").split(",") if v]
    except ValueError:
        raise ValueError("Write gallery numbers as integers separated by commas, e.g. 0, 7, 42.") from None
    if len(idx) > MAX_PICKS:
        raise LimitError(f"{len(idx)} gallery numbers: the limit is {MAX_PICKS} rows.")
    bad = [i for i in idx if not 0 <= i < n_gallery]
    if not idx or bad:
        raise ValueError(f"Gallery numbers go from 0 to {n_gallery - 1}" + (f"; not {bad}" if bad else "."))
    return idx


def class_rows(prototypes: torch.Tensor, chosen: list[int]) -> torch.Tensor:
    return prototypes[chosen]


def image_rows(model, gallery: ImageSet, idx: list[int]) -> tuple[torch.Tensor, list[str]]:
    """s of the chosen gallery images, and their labels."""
    return encoding(model, gallery, idx).s, [label_name(gallery, int(gallery.labels[i])) for i in idx]


def samples_view(model, rows: torch.Tensor, labels: list[str], n: int, seed: int, *,
                 progress: Progress | None = None) -> View:
    """Each row one s, each column one z from the prior (the same down a column). ``LimitError`` over the caps."""
    samples = sample_prior(model, rows, n=n, seed=seed, progress=progress)  # (rows, n, C, H, W)
    return View(tile(samples.flatten(0, 1), nrow=n),
                "Rows: " + ", ".join(labels) + ". Columns: z ~ N(0, I), the same draw down each column.")


def zip_most(rows: int) -> int:
    """The most images per row one zip may offer (a multiple of 10, at least 10)."""
    return max(10, min(500, MAX_ZIP_IMAGES // rows) // 10 * 10)


def zip_work(model, rows: torch.Tensor, labels: list[str], per_row: int, seed: int) -> Callable:
    """The heavy job that writes the zip in a worker process: ``work(report) -> bytes`` (``report(done, total)``)."""
    check("images in one zip", per_row * len(labels), MAX_ZIP_IMAGES)
    rows = rows.detach().clone()
    return lambda report: workers.run(sample_zip, model, rows, labels, per_row=per_row, seed=seed,
                                      progress=workers.PROGRESS, on_progress=report, on_wait=report)
