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

import torch

from core.checkpoint import load_latents, load_model
from core.evaluation.projection import DEFAULT_MAP_POINTS, cached_projection, map_selection, map_source
from core.gallery import encoding, load_gallery, source_name
from train.cli import command_parser


def ship(checkpoint: Path, methods: list[str]) -> None:
    model = load_model(checkpoint)
    if not model.has_split:
        print(f"{checkpoint}: a {model.config.method} model has no z/s maps; skipped")
        return
    gallery = load_gallery(model, load_latents(checkpoint))
    idx = map_selection(len(gallery), min(DEFAULT_MAP_POINTS, len(gallery)))
    codes, name = encoding(model, gallery), source_name(gallery)
    source = map_source(name, idx)
    for method in methods:
        for space, values in (("z", codes.z_mu), ("s", codes.s)):
            t0 = time.perf_counter()
            cached_projection(checkpoint, f"{space}-{name}", values[torch.from_numpy(idx)].numpy(), method,
                              source=source)
            print(f"{checkpoint}: {method} of {space}, {len(idx):,} codes of '{name}' "
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
