"""Fine detail and colour noise of unseen-people grids already drawn, against the crops they were rendered from.

    python -m train.grid_detail --data-dir ../shared/data/celeba_subset \
        --grids experiments/celeba/*/unseen_grid.png --out experiments/celeba/grid_detail.json

A grid from ``train.face_identity --grid`` (8 stored styles as rows, the first 10 unseen people as columns, each
rendered zero-shot from their first ``--k`` uploads) is cut back into its 64-pixel tiles. Each tile set is measured
as ``train.face_identity`` measures renders (``core.evaluation.identity``): ``detail`` is the grey Laplacian
variance over that of the people's upload crops, ``colour_noise`` the same over the opponent-colour channels. A run
whose weights are gone keeps its grid, so this is how a run's speckle can still be measured; the renders are 80, not
``train.face_identity``'s 30 people x 16 styles, so its figures go in their own table.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from core.data import DataError, load_dataset
from core.evaluation.identity import colour_noise_variance, laplacian_variance, split_people
from train.cli import command_parser, hardware, parse_command, write_result

PADDING = 2  # core.explore.tile's


def grid_tiles(path: Path, size: int = 64, padding: int = PADDING) -> torch.Tensor:
    """A picture of ``core.explore.tile`` (tiles of ``size`` pixels, ``padding`` between and around; maybe enlarged by
    repeating pixels) -> (N, 3, size, size) floats in [0, 1], row by row. ``ValueError`` when it is not such a grid."""
    array = np.asarray(Image.open(path).convert("RGB"))
    for scale in (2, 3, 4):  # a grid enlarged pixel by pixel for a page (core.features.enlarged): back to 1:1
        small = array[::scale, ::scale]
        if array.shape[0] % scale == 0 and array.shape[1] % scale == 0 and \
                np.array_equal(np.repeat(np.repeat(small, scale, 0), scale, 1), array):
            array = small
    step = size + padding
    rows, cols = (array.shape[0] - padding) / step, (array.shape[1] - padding) / step
    if rows != int(rows) or cols != int(cols) or rows < 1 or cols < 1:
        raise ValueError(f"{path}: {array.shape[1]}x{array.shape[0]} is not a grid of {size}-pixel tiles")
    tiles = [array[padding + r * step:padding + r * step + size, padding + c * step:padding + c * step + size]
             for r in range(int(rows)) for c in range(int(cols))]
    return torch.from_numpy(np.stack(tiles)).permute(0, 3, 1, 2).float().div(255)


def measure(tiles: torch.Tensor, crops: torch.Tensor) -> dict:
    """The tiles' detail and colour noise over the crops' (uint8 or [0, 1] floats, (N, 3, H, W) each)."""
    return {"tiles": int(tiles.shape[0]),
            "detail": round(laplacian_variance(tiles) / laplacian_variance(crops), 3),
            "colour_noise": round(colour_noise_variance(tiles) / colour_noise_variance(crops), 3)}


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("python -m train.grid_detail", __doc__)
    parser.add_argument("--data-dir", required=True, help="the CelebA folder whose unseen people the grids show")
    parser.add_argument("--grids", nargs="+", type=Path, required=True, help="unseen_grid.png files")
    parser.add_argument("--k", type=int, default=3, help="uploads each grid column was rendered from")
    parser.add_argument("--people", type=int, default=10, help="columns: the first this many unseen people")
    parser.add_argument("--out", type=Path, default=None)
    args = parse_command(parser, argv)
    try:
        unseen = load_dataset("celeba", args.data_dir, "unseen", image_size=64, channels=3)
        people = split_people(unseen, 5)[:args.people]  # train.face_identity's people and order (seed 0, 5 uploads)
        grids = {str(path): grid_tiles(path) for path in args.grids}
    except (DataError, OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    crops = torch.cat([p.uploads[:args.k] for p in people])
    result = {"data_dir": args.data_dir, "people": len(people), "k": args.k, "hardware": hardware(),
              "crops": {"laplacian_variance": round(laplacian_variance(crops), 2),
                        "colour_noise_variance": round(colour_noise_variance(crops), 2)},
              "grids": {path: measure(tiles, crops) for path, tiles in grids.items()}}
    print("| grid | tiles | detail (x crops) | colour noise (x crops) |\n|---|---|---|---|")
    for path, row in result["grids"].items():
        print(f"| {path} | {row['tiles']} | {row['detail']:.2f} | {row['colour_noise']:.2f} |")
    if args.out:
        write_result(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
