"""The real app in a real browser: `streamlit run app.py` opened by headless Chromium (Playwright).

Needs Debian's chromium at /usr/bin/chromium (`.ci/run` installs it). Marked `browser`.
"""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.browser


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def app_url(tmp_path, mnist_dir):
    from train.__main__ import main as train_main

    assert train_main(["--dry-run", "--out", str(tmp_path / "run"), "--data-dir", str(mnist_dir)]) == 0
    (tmp_path / "ckpts").mkdir()
    (tmp_path / "run" / "checkpoint").rename(tmp_path / "ckpts" / "mnist")
    port = free_port()
    env = os.environ | {"CCVAE_CHECKPOINT_DIR": str(tmp_path / "ckpts"), "OMP_NUM_THREADS": "1"}
    env.pop("CCVAE_DATA_DIR", None)
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless",
                             "true", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=1)
            break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("streamlit did not start: " + proc.stdout.read().decode()[-2000:])
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def test_landing_page_renders_the_swap_grid(app_url, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium package (see .ci/run)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(app_url)
        page.get_by_text("Top row: s sources").wait_for(timeout=60_000)
        img = page.locator("img").filter(has_not=page.locator("svg")).last
        img.wait_for(timeout=30_000)
        assert page.evaluate("() => [...document.images].some(i => i.naturalWidth > 200 && i.complete)")
        assert page.get_by_text("Traceback").count() == 0
        page.get_by_role("button", name="Shuffle rows").click()
        page.get_by_text("Top row: s sources").wait_for(timeout=30_000)
        page.screenshot(path=str(tmp_path / "landing.png"), full_page=True)
        browser.close()
    assert (tmp_path / "landing.png").stat().st_size > 20_000
