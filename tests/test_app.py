"""The Streamlit landing page, driven by Streamlit's AppTest (no browser)."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def dry_checkpoints(tmp_path, mnist_dir, monkeypatch):
    from train.__main__ import main as train_main

    assert train_main(["--dry-run", "--out", str(tmp_path / "run"), "--data-dir", str(mnist_dir)]) == 0
    (tmp_path / "run" / "checkpoint").rename(tmp_path / "mnist")
    monkeypatch.setenv("CCVAE_CHECKPOINT_DIR", str(tmp_path))
    monkeypatch.delenv("CCVAE_DATA_DIR", raising=False)
    return tmp_path


def test_app_shows_a_swap_grid_and_reshuffles(dry_checkpoints):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "CC-VAE Explorer"
    assert at.selectbox[0].value == "mnist"
    grid_caption = "Top row: s sources. Left column: z sources."
    assert any(grid_caption in str(img.proto) for img in at.get("image"))
    at.slider[0].set_value(3).run()
    assert not at.exception
    at.button[0].click().run()
    assert not at.exception and at.session_state["seed"] == 1


def test_app_reports_a_broken_checkpoint(dry_checkpoints):
    (dry_checkpoints / "broken").mkdir()
    (dry_checkpoints / "broken" / "config.json").write_text("{oops")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.selectbox[0].select("broken").run()
    assert not at.exception
    assert "Cannot open this model" in at.error[0].value and "not valid JSON" in at.error[0].value
