"""The home page's pictures: a swap grid of sample images and their reconstructions, with what they show."""

from __future__ import annotations

import torch

from core.data import ImageSet
from core.explore import decode, decode_grid, framed_grid, tile
from core.features import View
from core.gallery import encoding, random_images, swap_sources
from core.models import Progress

FACES = ("yaleb", "orl", "celeba", "multipie")


def home_grid(model, gallery: ImageSet, seed: int, *, progress: Progress | None = None) -> View:
    """6 random z sources (rows) by 12 s sources, one per class (columns), framed by the sources."""
    z_idx, s_idx = swap_sources(gallery, 6, 12, seed=seed, cycle=False)
    cells = decode_grid(model, encoding(model, gallery, z_idx).z_mu, encoding(model, gallery, s_idx).s, progress=progress)
    grid = framed_grid(cells, gallery.floats(z_idx), gallery.floats(s_idx))
    return View(grid, "Top row: s sources. Left column: z sources. Each cell: the z of its row decoded with the s of its column.")


def reconstructions(model, gallery: ImageSet, seed: int, *, progress: Progress | None = None) -> View:
    """12 random sample images above Dec(z mean, s) of each."""
    x = gallery.floats(random_images(gallery, 12, seed=seed))
    with torch.no_grad():
        enc = model.encode(x)
        recon = decode(model, enc.z_mu, enc.s, progress=progress)
    if gallery.codes is None:
        return View(tile(torch.cat([x, recon]), nrow=12), "Top: images. Bottom: Dec(z mean, s) of each.")
    return View(tile(torch.cat([x, recon]), nrow=12), "Top: the model's own generations (there is no dataset here). Bottom: "
                "Dec(z mean, s) of each, encoded again: an encoder trained on photos reads the model's blurred renders as "
                "an average, so these look alike. With a dataset folder (the sidebar, or CCVAE_DATA_DIR) real images are shown.")


def grid_explanation(config) -> str:
    if config.dataset.startswith(FACES):
        return ("Rows keep their lighting (carried by z); columns keep their identity (carried by s). If the split "
                "worked, every row is lit the same way and every column shows one person. "
                "This reproduces Fig. 4.8 of the report (faces).")
    return ("Rows keep their style (slant, thickness, width: carried by z); columns keep their class (carried by s). "
            "If the split worked, every row looks like one person's handwriting and every column shows one digit. "
            "This reproduces Fig. 4.1 of the report (Fig. 3 of the ECCV paper).")
