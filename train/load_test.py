"""Load test: N concurrent browser sessions against one `streamlit run app.py` server.

    python -m train.load_test --checkpoint checkpoints/yaleb --sessions 1 5 10 20

Each session is its own Playwright browser context (its own cookies, so its own Streamlit
session) in one headless Chromium, and does the common interactions in turn: open the swap grid,
move its Rows slider, open the interpolation page, upload a photo on the few-shot page. For every
N it reports the median and 95th percentile latency of each interaction (from the action until its
result is on screen) and the server's peak resident memory (sampled every 0.2 s). Needs
/usr/bin/chromium; runs the server on a free port with the given checkpoint's folder.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from train.browser import CHROMIUM, FLAGS, running_app_process
from train.cli import hardware

INTERACTIONS = ("open swap grid", "move a slider", "open interpolation", "upload on few-shot")
READY = "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"


def photo_bytes() -> bytes:
    yy, xx = np.mgrid[0:160, 0:140]
    face = 255 * ((xx - 70) ** 2 / 50 ** 2 + (yy - 80) ** 2 / 70 ** 2 < 1)
    buf = io.BytesIO()
    Image.fromarray(face.astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB (Linux /proc)."""
    total = 0
    for p in [pid] + children(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def children(pid: int) -> list[int]:
    try:
        kids = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return kids + [g for k in kids for g in children(k)]


async def session(browser, url: str, photo: Path, times: dict[str, list[float]], timeout: float) -> None:
    context = await browser.new_context(viewport={"width": 1300, "height": 900})
    page = await context.new_page()

    async def timed(name: str, action, ready_text: str) -> None:
        t0 = time.perf_counter()
        await action()
        await page.get_by_text(ready_text).first.wait_for(timeout=timeout)
        await page.wait_for_function(READY, timeout=timeout)
        times[name].append(1000 * (time.perf_counter() - t0))

    try:
        await timed("open swap grid", lambda: page.goto(f"{url}/Swap_grid"), "Top row: s sources")
        image = page.locator("[data-testid='stMain'] [data-testid='stImage'] img").first
        before = (await image.get_attribute("src")) or ""
        t0 = time.perf_counter()
        await page.get_by_role("slider", name="Rows").first.focus()
        await page.keyboard.press("ArrowRight")
        await page.wait_for_function("([sel, old]) => [...document.querySelectorAll(sel)]"
                                     ".some(i => i.src && !i.src.endsWith(old) && i.complete)",
                                     arg=["[data-testid='stImage'] img", before.split("/")[-1]], timeout=timeout)
        times["move a slider"].append(1000 * (time.perf_counter() - t0))
        await timed("open interpolation", lambda: page.goto(f"{url}/Interpolation"), "2-D grid")
        await page.goto(f"{url}/Few_shot")
        await page.get_by_text("Upload 1 to 10 photos").first.wait_for(timeout=timeout)
        await timed("upload on few-shot", lambda: page.locator("input[type=file]").first.set_input_files(str(photo)),
                    "Mixed with known identities")
    finally:
        await context.close()


async def run_level(url: str, n: int, photo: Path, timeout: float) -> tuple[dict[str, list[float]], int]:
    from playwright.async_api import async_playwright

    times: dict[str, list[float]] = {k: [] for k in INTERACTIONS}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        results = await asyncio.gather(*(session(browser, url, photo, times, timeout) for _ in range(n)),
                                       return_exceptions=True)
        await browser.close()
    failures = [r for r in results if isinstance(r, Exception)]
    for err in failures[:3]:
        print(f"  session failed: {type(err).__name__}: {str(err)[:200]}", file=sys.stderr)
    return times, len(failures)


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.load_test", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=Path("checkpoints/yaleb"),
                        help="the model every session uses (its folder's siblings are listed too)")
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 5, 10, 20])
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds one interaction may take")
    args = parser.parse_args(argv)
    import os

    os.environ["CCVAE_DEFAULT_CHECKPOINT"] = args.checkpoint.name
    photo = Path("/tmp/ccvae_load_test_photo.png")
    photo.write_bytes(photo_bytes())
    rows = []
    with running_app_process(args.checkpoint.resolve().parent) as (url, proc):
        peak, stop = [rss_mb(proc.pid)], threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak.append(rss_mb(proc.pid))
                time.sleep(0.2)

        threading.Thread(target=sample, daemon=True).start()
        for n in args.sessions:
            t0 = time.time()
            times, failed = asyncio.run(run_level(url, n, photo, args.timeout * 1000))
            rows.append((n, times, failed, max(peak), time.time() - t0))
            print(f"N={n}: done in {time.time() - t0:.0f} s, {failed} failed, server peak {max(peak):.0f} MB", flush=True)
        stop.set()
    print(f"\n{hardware()}; checkpoint {args.checkpoint}; one server, one Chromium, N contexts\n")
    print("| sessions | " + " | ".join(f"{k} p50 / p95 (s)" for k in INTERACTIONS) + " | failed | server peak RSS (MB) |")
    print("|---" * (len(INTERACTIONS) + 3) + "|")
    for n, times, failed, mem, _ in rows:
        cells = [f"{statistics.median(v) / 1000:.1f} / {percentile(v, 0.95) / 1000:.1f}" if v else "n/a"
                 for v in (times[k] for k in INTERACTIONS)]
        print(f"| {n} | " + " | ".join(cells) + f" | {failed} | {mem:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
