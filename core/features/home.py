"""The home page's pictures: a swap grid of sample images and their reconstructions, with what they show."""

from __future__ import annotations

import torch

from core.data import ImageSet, spec_for
from core.explore import decode, tile
from core.features import View
from core.gallery import framed_swap, random_images, swap_sources
from core.models import Progress


def home_grid(model, gallery: ImageSet, seed: int, *, progress: Progress | None = None) -> View:
    """6 random z sources (rows) by 12 s sources, one per class (columns), framed by the sources."""
    z_idx, s_idx = swap_sources(gallery, 6, 12, seed=seed, cycle=False)
    return View(framed_swap(model, gallery, z_idx, s_idx, progress=progress),
                "Top row: s sources. Left column: z sources. Each cell: the z of its row decoded with the s of its column.")


def reconstructions(model, gallery: ImageSet, seed: int, *, progress: Progress | None = None,
                    where: str = "the data-folder setting") -> View:
    """12 random sample images above Dec(z mean, s) of each; ``where``: where the front end sets the data folder."""
    x = gallery.floats(random_images(gallery, 12, seed=seed))
    with torch.no_grad():
        enc = model.encode(x)
        recon = decode(model, enc.z_mu, enc.s, progress=progress)
    caption = "Top: images. Bottom: Dec(z mean, s) of each." if gallery.codes is None else (
        "Top: the model's own generations (there is no dataset here). Bottom: Dec(z mean, s) of each, encoded again: an "
        "encoder trained on photos reads the model's blurred renders as an average, so these look alike. With a dataset "
        f"folder ({where}, or CCVAE_DATA_DIR) real images are shown.")
    return View(tile(torch.cat([x, recon]), nrow=12), caption)


def grid_explanation(config) -> str:
    """What the home grid shows for a model of this dataset, in words (its dataset spec's ``grid``)."""
    return spec_for(config.dataset).grid
