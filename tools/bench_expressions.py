"""Time from uploading a photo on the Expressions page to its first renders, in headless Chromium (issue 30: <= 5 s).

    python -m tools.bench_expressions                                   # starts `streamlit run app.py` on checkpoints/
    python -m tools.bench_expressions --photo me.jpg --repeats 3 --screenshot /tmp/expressions.png
    python -m tools.bench_expressions --url http://localhost:8613       # an app already running
    python -m tools.bench_expressions --dry-run                         # one upload: does the harness work here?

Each repeat opens /Expressions in a fresh browser context (a new session), waits until the page is drawn, uploads
the photo and measures until the face under every expression is on screen ("first renders") and until the app has
stopped running ("page done"). The first repeat on a fresh server is the cold case. Without --photo the photo is the
shipped expression model's own rendering of a stored person, enlarged (no dataset photo needed). Uses Debian's
``/usr/bin/chromium`` through Playwright (never ``playwright install``); prints a Markdown table with the hardware.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

from core import settings
from tools.browser import CHROMIUM, FLAGS, READY, ROOT, running_app

FIRST_VIEW = "expression model"  # core.features.registry's first_view of the page


def model_face(path: Path) -> Path:
    """The shipped model's rendering of its first stored person with the neutral mean s, as a 192x192 PNG."""
    import numpy as np
    from PIL import Image

    from core import load_latents, load_model
    from core.explore import decode

    folder = ROOT / "checkpoints" / "expression"
    model, latents = load_model(folder), load_latents(folder)
    neutral = list(model.config.class_names).index("neutral")
    face = decode(model, latents["bank_z_mu"][:1], latents["class_mean_s"][neutral][None])[0, 0]
    pixels = (face.numpy() * 255).round().astype(np.uint8)
    Image.fromarray(pixels).resize((192, 192), Image.BICUBIC).save(path)
    return path


def measure(url: str, photo: Path, repeats: int, screenshot: Path | None, timeout: float,
            think: float = 0.0) -> list[tuple[float, float, int]]:
    from playwright.sync_api import sync_playwright

    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[*FLAGS, "--disable-dev-shm-usage"])
        for i in range(repeats):
            tall = screenshot is not None and i == 0  # the page scrolls inside its own frame: a tall window shows it all
            context = browser.new_context(viewport={"width": 1400, "height": 2800 if tall else 1000})
            page = context.new_page()
            page.goto(f"{url}/Expressions")
            page.get_by_text(FIRST_VIEW).first.wait_for(timeout=1000 * timeout)
            page.wait_for_function(READY, timeout=1000 * timeout)
            time.sleep(think)  # a user choosing the file
            t0 = time.perf_counter()
            page.locator("input[type=file]").first.set_input_files(str(photo))
            page.get_by_text(f"{photo.name}, left to right").first.wait_for(timeout=1000 * timeout)
            first = time.perf_counter() - t0
            page.wait_for_function(READY, timeout=1000 * timeout)
            done = time.perf_counter() - t0
            errors = page.locator("[data-testid='stException']").count() + page.get_by_text("Traceback").count()
            rows.append((first, done, errors))
            if tall:
                page.screenshot(path=str(screenshot), full_page=True)
            context.close()
        browser.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench_expressions", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="", help="an app already running (default: start one on checkpoints/)")
    parser.add_argument("--photo", type=Path, default=None, help="a photo of one face (default: the model's own face)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dry-run", action="store_true", help="one repeat, the model's own face")
    parser.add_argument("--screenshot", type=Path, default=None, help="a full-page PNG of the first repeat's result")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds each wait may take")
    parser.add_argument("--think", type=float, default=0.0,
                        help="seconds between the page being drawn and the upload (a user choosing the file; default 0)")
    args = parser.parse_args(argv)
    if args.dry_run:
        args.repeats, args.photo = 1, None
    from core.training import hardware

    with tempfile.TemporaryDirectory() as tmp:
        photo = args.photo or model_face(Path(tmp) / "face.png")
        with contextlib.ExitStack() as stack:
            url = args.url
            if not url:
                settings.configure(default_model="expression")  # the server started here inherits it
                url = stack.enter_context(running_app(ROOT / "checkpoints", threads=1))
            rows = measure(url, photo, args.repeats, args.screenshot, args.timeout, args.think)
    where = "an app already running" if args.url else "a fresh server"
    what = photo.name if args.photo else "the model's own face"
    print(f"{hardware()}; the Expressions page at {where}, 1 photo ({what}), uploaded {args.think:g} s after the page "
          "was drawn\n")
    print("| repeat | first renders (s) | page done (s) | errors |\n|---|---|---|---|")
    for i, (first, done, errors) in enumerate(rows, 1):
        print(f"| {i}{' (first on the server)' if i == 1 and not args.url else ''} | {first:.2f} | {done:.2f} | {errors} |")
    return 0 if not any(errors for *_, errors in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
