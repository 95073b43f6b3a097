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
    parser.add_argument("--browser", action="store_true",
                        help="also time full round trips in headless Chromium: key press on a slider -> new image shown")
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
    if args.browser:
        browser_round_trips(args.checkpoint, args.repeats)
    return 0


def browser_round_trips(checkpoint: Path, repeats: int) -> None:
    """Start `streamlit run app.py`, press ArrowRight on a slider, time until the new image is in the page."""
    from playwright.sync_api import sync_playwright

    from train.browser import CHROMIUM, FLAGS, running_app

    with running_app(checkpoint.resolve().parent) as url:
        cases = [("Latent_sliders", "z0", "Dec(z from the sliders"), ("Swap_grid", "Rows", "Top row: s sources")]
        print("\n| round trip in Chromium (key press -> new image shown) | median (ms) | p95 (ms) |\n|---|---|---|")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            for path, slider_label, ready in cases:
                page.goto(f"{url}/{path}")
                page.get_by_text(ready).first.wait_for(timeout=120_000)
                image = page.locator("[data-testid='stImage'] img").last if path == "Latent_sliders" else \
                    page.locator("[data-testid='stMain'] [data-testid='stImage'] img").first
                thumb = page.get_by_role("slider", name=slider_label).first
                times = []
                for i in range(repeats):
                    before = image.get_attribute("src")
                    thumb.focus()
                    t0 = time.perf_counter()
                    page.keyboard.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
                    page.wait_for_function("([sel, old]) => { const im = document.querySelectorAll(sel); "
                                           "return im.length && [...im].some(i => i.src && !i.src.endsWith(old) && i.complete); }",
                                           arg=["[data-testid='stImage'] img", before.split("/")[-1]], timeout=30_000)
                    times.append(1000 * (time.perf_counter() - t0))
                times.sort()
                print(f"| {path.replace('_', ' ').lower()}: move the '{slider_label}' slider | {statistics.median(times):.0f} | "
                      f"{times[int(0.95 * (len(times) - 1))]:.0f} |")
            browser.close()


if __name__ == "__main__":
    sys.exit(main())
