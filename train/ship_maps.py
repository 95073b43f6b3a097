"""Compute the Latent map page's default maps of checkpoints, to ship them beside the weights.

    python -m train.ship_maps --checkpoint checkpoints/mnist checkpoints/yaleb checkpoints/sprites

For each checkpoint: its sample images (as the app shows them, without a local dataset), the page's
default subset of them (``DEFAULT_MAP_POINTS``), and t-SNE and UMAP maps of their z and s codes,
written to ``<checkpoint>/maps/`` under the names the page looks for (``cached_projection``, keyed by
a digest of the weights and by which images were encoded, not by floating-point code values). A
fresh install then opens the Latent map at once instead of computing a t-SNE. Then
``git add -f <checkpoint>/maps`` (the folder is ignored for maps made at run time).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from core import session
from core.evaluation.projection import DEFAULT_MAP_POINTS
from core.features.maps import METHODS, LatentMap
from train.cli import command_parser


def ship(checkpoint: Path, methods: list[str]) -> None:
    """The page's own ``LatentMap`` (the same images, codes and file names), projected with each of ``methods``."""
    loaded = session.open_path(checkpoint)
    if not loaded.model.has_split:
        print(f"{checkpoint}: a {loaded.model.config.method} model has no z/s maps; skipped")
        return
    gallery = session.gallery(loaded)
    latent = LatentMap(loaded, gallery, session.gallery_codes(loaded), "", min(DEFAULT_MAP_POINTS, len(gallery)))
    for shown, method in METHODS.items():
        if method in methods:
            t0 = time.perf_counter()
            latent.project(shown)
            print(f"{checkpoint}: {method} of z and s, {len(latent.points):,} codes of '{latent.name}' "
                  f"({time.perf_counter() - t0:.1f} s)", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("python -m train.ship_maps", __doc__)
    parser.add_argument("--checkpoint", type=Path, nargs="+", required=True)
    parser.add_argument("--methods", nargs="+", default=["tsne", "umap", "pca"], choices=["tsne", "umap", "pca"])
    args = parser.parse_args(argv)
    for checkpoint in args.checkpoint:
        ship(checkpoint, args.methods)
    return 0


if __name__ == "__main__":
    sys.exit(main())
