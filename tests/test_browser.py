"""The real app in a real browser: `streamlit run app.py` driven by headless Chromium through Playwright.

Opens every page of ``core.features.registry``, checks its first-view text and its main image appear and no
traceback shows, clicks a point in the latent map and checks its image is shown, and starts and stops a run on
the Train live page. Screenshots go to tests/artifacts/. Needs Debian's chromium at /usr/bin/chromium (`.ci/run` installs it).
"""

from pathlib import Path

import pytest
from conftest import dry_run_checkpoint

from core.features.registry import PAGES
from core.features.registry import page as registered
from tools.browser import CHROMIUM, FLAGS, ROOT, running_app

ARTIFACTS = ROOT / "tests" / "artifacts"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, mnist_dir):
    tmp = tmp_path_factory.mktemp("browser")
    dry_run_checkpoint(tmp / "ckpts", "mnist", "--data-dir", str(mnist_dir), evaluate_on=mnist_dir)
    with running_app(tmp / "ckpts", threads=1) as url:
        yield url


@pytest.fixture(scope="module")
def page(app_url):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium package (see .ci/run)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        yield page
        browser.close()


def wait_ready(page, text: str) -> None:
    page.get_by_text(text).first.wait_for(timeout=90_000)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=90_000)
    assert page.get_by_text("Traceback").count() == 0


@pytest.mark.parametrize("path", [p.url_path for p in PAGES])
def test_every_page_shows_its_image(page, app_url, path):
    page.goto(f"{app_url}/{path}")
    wait_ready(page, registered(path).first_view)
    if path == "Latent_map":
        page.locator(".js-plotly-plot .scatterlayer .point").first.wait_for(timeout=30_000)
    elif registered(path).picture:
        page.wait_for_function("() => [...document.images].some(i => i.complete && i.naturalWidth >= 100)",
                               timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / f"page_{path or 'Home'}.png"), full_page=True)


def test_clicking_a_point_in_the_latent_map_shows_its_image(page, app_url):
    page.goto(f"{app_url}/Latent_map")
    wait_ready(page, "Silhouette of s by label")
    chart = page.locator(".stPlotlyChart").last  # the s map
    chart.scroll_into_view_if_needed()
    point = chart.locator(".scatterlayer .point").nth(5)
    point.wait_for(timeout=30_000)
    page.wait_for_timeout(1000)
    box = point.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_timeout(300)
    page.mouse.down()
    page.mouse.up()
    page.get_by_text("picked in the s map").wait_for(timeout=60_000)
    page.get_by_text("nearest neighbours in s:").wait_for(timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "latent_map_clicked.png"), full_page=True)


def test_uploading_an_image_on_the_few_shot_page_shows_the_result_grid(page, app_url, tmp_path):
    import numpy as np
    from PIL import Image

    photo = tmp_path / "photo.png"
    yy, xx = np.mgrid[0:120, 0:100]
    Image.fromarray((255 * ((xx - 50) ** 2 / 35 ** 2 + (yy - 60) ** 2 / 50 ** 2 < 1)).astype(np.uint8)).save(photo)
    page.goto(f"{app_url}/Few_shot")
    wait_ready(page, "Upload 1 to 10 photos")
    page.locator("input[type=file]").first.set_input_files(str(photo))
    page.get_by_text("What the model sees").wait_for(timeout=90_000)
    wait_ready(page, "Mixed with known identities")
    assert page.get_by_text("no face found").count() >= 1  # an ellipse is not a face: the page says so
    page.wait_for_function("() => [...document.images].filter(i => i.complete && i.naturalWidth >= 100).length >= 3",
                           timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "few_shot_uploaded.png"), full_page=True)


def test_train_live_shows_progress_and_stops_when_asked(page, app_url):
    page.goto(f"{app_url}/Train_live")
    wait_ready(page, registered("Train_live").first_view)
    page.get_by_role("button", name="Start").click()
    page.get_by_text("Reconstruction (pixel MSE)").wait_for(timeout=180_000)  # the charts appear after the first step
    page.get_by_role("button", name="Stop").click()
    page.get_by_text("Stopped at step").wait_for(timeout=180_000)
    page.get_by_text("s test accuracy").first.wait_for(timeout=180_000)  # the evaluation renders after the stop message
    assert page.get_by_text("s test accuracy").count() == 1 and page.get_by_text("Traceback").count() == 0
    page.screenshot(path=str(ARTIFACTS / "train_live_stopped.png"), full_page=True)
