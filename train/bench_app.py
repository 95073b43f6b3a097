"""Latency of the app's interactions on a checkpoint, on this machine's CPU.

    python -m train.bench_app --checkpoint checkpoints/mnist

Times what one widget change costs in model work and PNG encoding (the parts our code controls),
as the median of --repeats runs, for the batched implementation in ``core.explore`` and, as a
baseline measured in the same run, a straightforward one that decodes cell by cell.
Prints a Markdown table (milliseconds) for the README.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

from core.checkpoint import load_latents, load_model
from core.explore import framed_grid, interpolate, interpolation_grid, png_bytes, sample_prior, swap_grid, tile, to_uint8
from core.gallery import load_gallery
from train.cli import hardware


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - t0))
    return statistics.median(times)


@torch.no_grad()
def swap_grid_cell_by_cell(model, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """The baseline: encode and decode each cell on its own, as a first implementation would."""
    cells = []
    for r in rows:
        z = model.encode(r[None]).z_mu
        cells.append(torch.cat([model.decode(z, model.encode(c[None]).s) for c in cols]))
    return torch.stack(cells)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.bench_app", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=Path("checkpoints/mnist"))
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the app uses up to 2)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = load_model(args.checkpoint)
    gallery = load_gallery(model, load_latents(args.checkpoint))
    x = gallery.floats(torch.arange(24))
    rows, cols = x[:12], x[12:24]
    s = model.encode(cols[:10]).s
    z1 = torch.zeros(1, model.config.z_dim)

    def swap():
        return png_bytes(framed_grid(swap_grid(model, rows, cols), rows, cols))

    def swap_baseline():
        return png_bytes(framed_grid(swap_grid_cell_by_cell(model, rows, cols), rows, cols))

    def slider():
        with torch.no_grad():
            return png_bytes(to_uint8(model.decode(z1, s[:1])[0]))

    def interp():
        strip = interpolate(model, x[0], x[1], steps=16)
        grid = interpolation_grid(model, x[0], x[1], steps=16)
        return png_bytes(tile(strip, nrow=16)), png_bytes(tile(grid.flatten(0, 1), nrow=16))

    def sampling():
        return png_bytes(tile(sample_prior(model, s, n=16, seed=0).flatten(0, 1), nrow=16))

    results = [
        ("swap grid 12 x 12 (decode + PNG)", median_ms(swap, args.repeats), median_ms(swap_baseline, args.repeats)),
        ("slider move (1 decode + PNG)", median_ms(slider, args.repeats), None),
        ("interpolation, 16-step strip + 16 x 16 grid", median_ms(interp, args.repeats), None),
        ("random sampling 10 x 16", median_ms(sampling, args.repeats), None),
    ]
    print(f"{hardware()}; {args.checkpoint}; median of {args.repeats} runs\n")
    print("| interaction | batched (ms) | cell-by-cell baseline (ms) | speed-up |")
    print("|---|---|---|---|")
    for name, ours, base in results:
        extra = f"{base:.1f} | {base / ours:.1f}x" if base else "| "
        print(f"| {name} | {ours:.1f} | {extra} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
