"""The home page's pictures: a swap grid of sample images and their reconstructions, with what they show."""

from __future__ import annotations

import torch

from core.data import ImageSet
from core.explore import decode, tile
from core.features import View
from core.gallery import framed_swap, random_images, swap_sources
from core.models import Progress

FACES = ("yaleb", "orl", "celeba", "multipie")


def home_grid(model, gallery: ImageSet, seed: int, *, progress: Progress | None = None) -> View:
    """6 random z sources (rows) by 12 s sources, one per class (columns), framed by the sources."""
    z_idx, s_idx = swap_sources(gallery, 6, 12, seed=seed, cycle=False)
    return View(framed_swap(model, gallery, z_idx, s_idx, progress=progress),
                "Top row: s sources. Left column: z sources. Each cell: the z of its row decoded with the s of its column.")


def reconstructions(model, gallery: ImageSet, seed: int, *, progress: Progress | None = None) -> View:
    """12 random sample images above Dec(z mean, s) of each."""
    x = gallery.floats(random_images(gallery, 12, seed=seed))
    with torch.no_grad():
        enc = model.encode(x)
        recon = decode(model, enc.z_mu, enc.s, progress=progress)
    caption = "Top: images. Bottom: Dec(z mean, s) of each." if gallery.codes is None else (
        "Top: the model's own generations (there is no dataset here). Bottom: Dec(z mean, s) of each, encoded again: an "
        "encoder trained on photos reads the model's blurred renders as an average, so these look alike. With a dataset "
        "folder (the sidebar, or CCVAE_DATA_DIR) real images are shown.")
    return View(tile(torch.cat([x, recon]), nrow=12), caption)


def grid_explanation(config) -> str:
    if config.dataset.startswith(FACES):
        return ("Rows keep their lighting (carried by z); columns keep their identity (carried by s). If the split "
                "worked, every row is lit the same way and every column shows one person. "
                "This reproduces Fig. 4.8 of the report (faces).")
    return ("Rows keep their style (slant, thickness, width: carried by z); columns keep their class (carried by s). "
            "If the split worked, every row looks like one person's handwriting and every column shows one digit. "
            "This reproduces Fig. 4.1 of the report (Fig. 3 of the ECCV paper).")
