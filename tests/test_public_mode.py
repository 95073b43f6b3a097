"""The app in public mode (CCVAE_PUBLIC=1) under Streamlit's AppTest: no path boxes, no error details, no paths in
messages, caps on what a visitor types, heavy work through the server's pool, nothing shared between sessions."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import streamlit.config
import torch
from conftest import dry_run_checkpoint
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.features.registry import PAGES as REGISTRY

ROOT = Path(__file__).resolve().parents[1]
PAGES = [page.file for page in REGISTRY]  # every page of the app (core.features.registry)
PATH_BOXES = {"Checkpoint folder", "Local dataset folder (optional)", "More checkpoint folders"}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, mnist_dir):
    """A dry-run "mnist" model (evaluated) and a second one, so Compare has two."""
    tmp = tmp_path_factory.mktemp("public")
    dry_run_checkpoint(tmp / "ckpts", "mnist", "--data-dir", str(mnist_dir), evaluate_on=mnist_dir)
    dry_run_checkpoint(tmp / "ckpts", "other", "--data-dir", str(mnist_dir))
    return tmp / "ckpts"


@pytest.fixture
def public(checkpoints, monkeypatch, mnist_dir):
    monkeypatch.setenv("CCVAE_CHECKPOINT_DIR", str(checkpoints))
    monkeypatch.setenv("CCVAE_PUBLIC", "1")
    monkeypatch.setenv("CCVAE_WARMED", "test")  # no background warm-up thread in tests
    monkeypatch.setenv("CCVAE_DATA_DIR", str(mnist_dir))  # an operator's setting: used, never shown
    monkeypatch.delenv("CCVAE_MODEL_ROOTS", raising=False)
    monkeypatch.delenv("CCVAE_SAVE_DIR", raising=False)
    before = streamlit.config.get_option("client.showErrorDetails")

    def run(page: str, **kwargs) -> AppTest:
        at = AppTest.from_file(str(ROOT / page), default_timeout=120, **kwargs).run()
        assert not at.exception, at.exception
        return at
    yield run
    streamlit.config.set_option("client.showErrorDetails", before)


def texts(at) -> str:
    parts = [e.value for kind in ("error", "warning", "info", "success", "caption", "markdown") for e in at.get(kind)]
    return "\n".join(str(p) for p in parts)


@pytest.mark.parametrize("page", PAGES)
def test_no_page_offers_a_path_box_and_no_error_details(public, page, checkpoints, mnist_dir):
    at = public(page)
    labels = {t.label for t in at.text_input}
    assert not labels & PATH_BOXES, labels
    for box in at.selectbox:
        assert "Other folder…" not in box.options
    assert streamlit.config.get_option("client.showErrorDetails") == "none"
    shown = texts(at) + str([r.options for r in at.radio])
    assert str(checkpoints) not in shown and str(mnist_dir) not in shown  # no server path on screen


def test_a_broken_model_is_reported_without_its_path_or_contents(public, checkpoints):
    (checkpoints / "broken").mkdir(exist_ok=True)
    (checkpoints / "broken" / "config.json").write_text('{"format_version": 1, "model": {"private_key_name": 1}}')
    try:
        at = public("pages/1_Swap_grid.py")
        at.sidebar.selectbox[0].select("broken").run()
        assert not at.exception
        message = at.error[0].value
        assert "cannot be opened" in message and str(checkpoints) not in message and "private_key_name" not in message
    finally:
        import shutil
        shutil.rmtree(checkpoints / "broken")


def test_a_model_with_unreadable_metrics_is_reported_not_crashed(public, checkpoints):
    good = (checkpoints / "mnist" / "metrics.json").read_bytes()
    import shutil
    shutil.copytree(checkpoints / "mnist", checkpoints / "latin1")
    (checkpoints / "latin1" / "metrics.json").write_bytes(b'{"note": "\xe9t\xe9"}')  # not UTF-8
    try:
        at = public("pages/6_Metrics.py")
        at.sidebar.selectbox[0].select("latin1").run()
        assert not at.exception and "cannot be opened" in at.error[0].value  # was an uncaught UnicodeDecodeError
    finally:
        shutil.rmtree(checkpoints / "latin1")
    assert (checkpoints / "mnist" / "metrics.json").read_bytes() == good


def test_compare_survives_a_metrics_file_of_another_shape(public, checkpoints):
    file = checkpoints / "other" / "metrics.json"
    file.write_text('{"evaluation": {"accuracy": {"s": {"test": 90}}}}')  # no z numbers: was a KeyError
    try:
        at = public("pages/9_Compare.py")
        at.multiselect[0].set_value(["mnist", "other"]).run()
        assert not at.exception
        assert at.dataframe[0].value["s test %"].isna().tolist() == [False, True]
    finally:
        file.unlink()


def test_random_sampling_caps_what_a_visitor_types(public):
    at = public("pages/4_Random_sampling.py")
    assert at.multiselect[0].proto.max_selections == 50
    at.radio[0].set_value("s of chosen images").run()
    box = at.text_input[0]
    assert box.proto.max_chars == 400
    box.set_value(", ".join(str(i) for i in range(60))).run()
    assert "60 gallery numbers: the limit is 50 rows" in at.error[0].value
    assert not at.get("imgs") and "export_zip" not in at.session_state
    at.text_input[0].set_value("1, 2").run()
    zip_slider = at.slider(key="zip_per_row")
    assert zip_slider.max == 500  # 2 rows: 2 x 500 <= 2,000 images in a zip
    at.radio[0].set_value("Class prototypes (mean s of each class)").run()
    assert at.slider(key="zip_per_row").max == 200  # 10 rows: at most 2,000 images


def test_train_live_gives_each_session_its_own_default_name(public):
    names = {public("pages/8_Train_live.py").text_input(key="live_name").value for _ in range(3)}
    assert len(names) == 3 and all(n.startswith("live-") for n in names)  # was "classroom" for everyone


def test_random_choices_do_not_follow_the_global_generator(public):
    """Training in one session used to reseed the global generator behind everyone's "Random pair"."""
    at = public("pages/2_Interpolation.py")
    pairs = []
    for _ in range(4):
        torch.manual_seed(0)  # what another session's training did
        at.button[0].click().run()
        pairs.append((at.number_input(key="interp_a").value, at.number_input(key="interp_b").value))
    assert len(set(pairs)) > 1
    at = public("pages/3_Latent_sliders.py")
    zs = []
    for _ in range(3):
        torch.manual_seed(0)
        at.button[1].click().run()  # Randomise z
        zs.append(at.slider(key="sl_z0").value)
    assert len(set(zs)) > 1


def test_a_busy_server_queues_and_then_refuses_a_map_with_a_message(public, monkeypatch, checkpoints):
    import shutil
    import threading

    from core import jobs

    pool = jobs.JobPool(1, wait_timeout=1.0)
    monkeypatch.setattr(jobs, "_POOL", pool)
    release = threading.Event()
    pool.submit("another session", "a fine-tune", lambda report: release.wait(30))
    shutil.rmtree(checkpoints / "mnist" / "maps", ignore_errors=True)  # nothing cached: the page needs a t-SNE
    try:
        at = public("pages/5_Latent_map.py")
        assert "The server is busy: 1 job still ahead of yours (t-SNE of 200 codes)" in at.warning[0].value
        assert not at.get("plotly_chart")
    finally:
        release.set()
    at = public("pages/5_Latent_map.py")  # free again: computed through the pool
    assert len(at.get("plotly_chart")) == 2


def test_few_shot_keeps_at_most_ten_prepared_files_per_session(public):
    def png(seed: int) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(np.random.default_rng(seed).integers(0, 255, (40, 40), dtype=np.uint8)).save(buf, format="PNG")
        return buf.getvalue()

    at = public("pages/7_Few_shot.py")
    at.file_uploader[0].set_value([(f"{i}.png", png(i), "image/png") for i in range(10)]).run()
    at.radio(key="fewshot_crop_mode").set_value("Whole image (centre square)").run()
    assert not at.exception
    assert len(at.session_state["fewshot_prepared"]) <= 10  # was 20


def test_a_512_dimensional_z_gets_32_sliders_at_a_time_and_keeps_the_others(monkeypatch):
    """Sprites' z has 512 dimensions: 512 sliders took 12 s to show on a fresh server; now a block of 32 at a time."""
    monkeypatch.setenv("CCVAE_CHECKPOINT_DIR", str(ROOT / "checkpoints"))
    monkeypatch.delenv("CCVAE_PUBLIC", raising=False)
    at = AppTest.from_file(str(ROOT / "pages/3_Latent_sliders.py"), default_timeout=120).run()
    at.sidebar.selectbox[0].select("sprites").run()
    assert not at.exception
    assert {s.label for s in at.slider} == {f"z{i}" for i in range(32)}
    at.selectbox(key="sl_block").set_value(1).run()
    assert {s.label for s in at.slider} == {f"z{i}" for i in range(32, 64)}
    at.slider(key="sl_z40").set_value(2.0).run()
    picture = [img.url for el in at.get("image") for img in el.proto.imgs][-1]
    at.selectbox(key="sl_block").set_value(0).run()
    assert at.session_state["sl_z40"] == 2.0 and at.query_params["z"].split(",")[40] == "2.00"
    at.selectbox(key="sl_block").set_value(1).run()
    assert at.slider(key="sl_z40").value == 2.0
    assert [img.url for el in at.get("image") for img in el.proto.imgs][-1] == picture
