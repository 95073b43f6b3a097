"""Latency of the app's interactions on a checkpoint, on this machine's CPU.

    python -m tools.bench_app --checkpoint checkpoints/mnist
    python -m tools.bench_app --cold [--models mnist sprites]     # first view of every page on a fresh server
    python -m tools.bench_app --first-picture [--repeats 5]      # Home on a cold `streamlit run app.py`
    python -m tools.bench_app --dry-run [--cold]                  # seconds: does it work on this machine?

Times what one widget change costs in model work and PNG encoding (the parts our code controls),
as the median of --repeats runs, for the batched implementation in ``core.explore`` and, as a
baseline measured in the same run, a straightforward one that decodes cell by cell.
Prints a Markdown table (milliseconds) for the README.

``--cold`` measures what a class sees first: for each page and each shipped model, a fresh
``python serve.py --public`` server (its start-up timed separately), a fresh browser context (no
cached scripts), and the time from opening the page's address until its main content is on screen
and the app has stopped running.

``--first-picture`` measures what a single user of ``streamlit run app.py`` waits for (no warm start, no
public mode): a fresh server per repeat, and from opening Home until its first picture is on screen (the
stored swap grid while the model loads) and until the live page is done.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

from core.checkpoint import load_latents, load_model
from core.explore import framed_grid, interpolate, interpolation_grid, png_bytes, sample_prior, swap_grid, tile, to_uint8
from core.gallery import load_gallery
from tools.browser import DRGAN_VIEW, FIRST_VIEW
from train.cli import command_parser, hardware, parse_command


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
    parser = command_parser("python -m tools.bench_app", __doc__, threads=2,
                            dry_run="seconds: 2 repeats (with --cold: the first model's Home page only); the same tables")
    parser.add_argument("--checkpoint", type=Path, default=Path("checkpoints/mnist"))
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--browser", action="store_true",
                        help="also time full round trips in headless Chromium: key press on a slider -> new image shown")
    parser.add_argument("--cold", action="store_true", help="only time each page's first view on a fresh server")
    parser.add_argument("--models", nargs="+", default=["mnist"], help="--cold: the default model of each server")
    parser.add_argument("--pages", nargs="+", default=None, help="--cold: these pages only (url paths; Home is '')")
    parser.add_argument("--first-picture", action="store_true",
                        help="only time Home's first picture on a cold `streamlit run app.py`, --repeats fresh servers")
    args = parse_command(parser, argv)
    if args.dry_run:
        args.repeats, args.models, args.pages = 2, args.models[:1], (args.pages or [""])[:1]
    if args.cold:
        cold_start(args.models, args.pages)
        return 0
    if args.first_picture:
        first_picture(args.repeats)
        return 0
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

    from tools.browser import CHROMIUM, FLAGS, running_app

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


def cold_start(models: list[str], pages: list[str] | None) -> None:
    """Each page's first view on a fresh public server, per default model (see the module docstring)."""
    from playwright.sync_api import sync_playwright

    from core import settings
    from tools.browser import CHROMIUM, FLAGS, ROOT, free_port, serving_process

    pages = list(FIRST_VIEW) if pages is None else pages
    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        for model in models:
            for path in pages:
                port = free_port()
                env = settings.child_env(default_model=model, data_dir=None)
                t0 = time.perf_counter()
                with serving_process([sys.executable, str(ROOT / "serve.py"), "--public", "--port", str(port)], port,
                                     health="/_stcore/health", env=env) as (url, proc):
                    startup = time.perf_counter() - t0
                    context = browser.new_context(viewport={"width": 1400, "height": 1000})
                    page = context.new_page()
                    ready = (DRGAN_VIEW if model.startswith("drgan") else {}).get(path, FIRST_VIEW[path])
                    t1, cpu = time.perf_counter(), cpu_seconds(proc.pid)
                    page.goto(f"{url}/{path}")
                    page.get_by_text(ready).first.wait_for(timeout=120_000)
                    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]') && "
                                           "[...document.images].every(i => i.complete)", timeout=120_000)
                    seconds, cpu = time.perf_counter() - t1, cpu_seconds(proc.pid) - cpu
                    failed = page.get_by_text("Traceback").count() + page.locator("[data-testid='stException']").count()
                    context.close()
                rows.append((model, path or "Home", startup, seconds, cpu, failed))
                print(f"{model} {path or 'Home'}: server ready in {startup:.1f} s, first view {seconds:.2f} s "
                      f"(server CPU {cpu:.2f} s)", flush=True)
        browser.close()
    print(f"\n{hardware()}; `python serve.py --public`, one fresh server per row\n")
    print("| model | page | server start-up (s) | first view (s) | server CPU for it (s) | errors |\n|---|---|---|---|---|---|")
    for model, page_name, startup, seconds, cpu, failed in rows:
        print(f"| {model} | {page_name.replace('_', ' ')} | {startup:.1f} | {seconds:.2f} | {cpu:.2f} | {failed} |")


def first_picture(repeats: int) -> None:
    """Home on a cold ``streamlit run app.py`` (see the module docstring), ``repeats`` fresh servers."""
    from playwright.sync_api import sync_playwright

    from tools.browser import CHROMIUM, FLAGS, ROOT, running_app_process

    picture = "() => [...document.querySelectorAll('[data-testid=\"stMain\"] img')].some(i => i.complete && i.naturalWidth > 0)"
    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        for _ in range(repeats):
            with running_app_process(ROOT / "checkpoints") as (url, _proc):
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                page = context.new_page()
                t0 = time.perf_counter()
                page.goto(url)
                page.wait_for_function(picture, timeout=120_000, polling=50)
                first = time.perf_counter() - t0
                page.get_by_text(FIRST_VIEW[""]).first.wait_for(timeout=120_000)
                page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000)
                rows.append((first, time.perf_counter() - t0))
                context.close()
            print(f"first picture {rows[-1][0]:.2f} s, page done {rows[-1][1]:.2f} s", flush=True)
        browser.close()
    firsts, dones = sorted(r[0] for r in rows), sorted(r[1] for r in rows)
    print(f"\n{hardware()}; `streamlit run app.py` (no warm start), a fresh server and browser context each time\n")
    print("| repeats | first picture: median / worst (s) | page done: median / worst (s) |\n|---|---|---|")
    print(f"| {len(rows)} | {statistics.median(firsts):.2f} / {firsts[-1]:.2f} | {statistics.median(dones):.2f} / {dones[-1]:.2f} |")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    sys.exit(main())
