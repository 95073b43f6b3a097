"""Run the app and drive it from headless Chromium: shared by the browser tests and the latency benchmark.

    python -m tools.browser                                   # every page of `streamlit run app.py` in Chromium
    python -m tools.browser --dry-run                         # the Home page only: does the harness work here?

Uses Debian's ``/usr/bin/chromium`` through Playwright (never ``playwright install``). Run as a command it
starts the app on a free port with --checkpoint's folder, opens each page in a fresh browser context and
prints a Markdown table: the app's start-up, each page's first view (from opening its address until its
main content is on screen and the app has stopped running) and whether it showed an error. The pages and the text
each shows once drawn are ``core.features.registry``'s.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core import settings
from core.features.registry import PAGES

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]
READY = "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"  # the app has stopped running


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(command: list[str], port: int, *, health: str = "/", env: dict[str, str] | None = None) -> Iterator[str]:
    """Run the web server ``command`` (listening on ``port``); yield its URL once ``health`` answers, stop it after."""
    with serving_process(command, port, health=health, env=env) as (url, _):
        yield url


@contextmanager
def serving_process(command: list[str], port: int, *, health: str = "/",
                    env: dict[str, str] | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """Like ``serving``, also yielding the server process (for memory measurements)."""
    proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(url + health, timeout=1)
                break
            except OSError:
                if proc.poll() is not None:
                    break
                time.sleep(0.5)
        else:
            proc.kill()
        if proc.poll() is not None:
            raise RuntimeError(f"the server ({' '.join(command[1:3])}) did not start: " + proc.stdout.read().decode()[-2000:])
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def running_app(checkpoint_dir: Path, *, threads: int | None = None) -> Iterator[str]:
    """`streamlit run app.py` on a free port with CCVAE_CHECKPOINT_DIR set; yields its URL once healthy."""
    with running_app_process(checkpoint_dir, threads=threads) as (url, _):
        yield url


# url path -> text on screen once the page's first view is drawn (any shipped model; DR-GAN's where it differs)
FIRST_VIEW = {page.url_path: page.first_view for page in PAGES}
DRGAN_VIEW = {page.url_path: page.drgan_view for page in PAGES if page.drgan_view}


@contextmanager
def running_app_process(checkpoint_dir: Path, *, threads: int | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """Like ``running_app``, also yielding the server process."""
    port = free_port()
    env = settings.child_env(checkpoint_dir=checkpoint_dir, data_dir=None)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    with serving_process([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
                          "--server.port", str(port), "--browser.gatherUsageStats", "false"],
                         port, health="/_stcore/health", env=env) as (url, proc):
        yield url, proc


def main(argv: list[str] | None = None) -> int:
    from playwright.sync_api import sync_playwright

    from train.cli import command_parser, hardware

    parser = command_parser("python -m tools.browser", __doc__, dry_run="the Home page only (about half a minute)")
    parser.add_argument("--checkpoint", type=Path, default=Path("checkpoints/mnist"),
                        help="the app's default model (its folder's siblings are listed too)")
    parser.add_argument("--pages", nargs="+", default=None, help="url paths (Home is ''); default: every page")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds one page may take")
    args = parser.parse_args(argv)
    pages = ([""] if args.dry_run else list(FIRST_VIEW)) if args.pages is None else args.pages
    settings.configure(default_model=args.checkpoint.name)  # the server started below inherits it
    rows = []
    t0 = time.perf_counter()
    with running_app(args.checkpoint.resolve().parent) as url, sync_playwright() as p:
        startup = time.perf_counter() - t0
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        for path in pages:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            t1 = time.perf_counter()
            page.goto(f"{url}/{path}")
            if path in FIRST_VIEW:
                page.get_by_text(FIRST_VIEW[path]).first.wait_for(timeout=1000 * args.timeout)
            page.wait_for_function(READY, timeout=1000 * args.timeout)
            errors = page.get_by_text("Traceback").count() + page.locator("[data-testid='stException']").count()
            rows.append((path or "Home", time.perf_counter() - t1, errors))
            context.close()
        browser.close()
    print(f"{hardware()}; `streamlit run app.py` with {args.checkpoint}, ready in {startup:.1f} s\n")
    print("| page | first view (s) | errors |\n|---|---|---|")
    for name, seconds, errors in rows:
        print(f"| {name.replace('_', ' ')} | {seconds:.2f} | {errors} |")
    return 0 if not any(errors for *_, errors in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
