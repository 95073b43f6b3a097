"""The Compare page: the same source images through every picked model, their metrics and maps side by side."""

from pathlib import Path

import pytest
from conftest import dry_run_checkpoint
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compare_checkpoints(tmp_path_factory, mnist_dir):
    """Three dry-run MNIST-shape models (CC-VAE evaluated, Mathieu, Szabó) and one 64x64 model."""
    tmp = tmp_path_factory.mktemp("compare")
    dry_run_checkpoint(tmp / "ckpts", "mnist", "--data-dir", str(mnist_dir), evaluate_on=mnist_dir)
    for name in ("mathieu", "szabo"):
        dry_run_checkpoint(tmp / "ckpts", name, "--data-dir", str(mnist_dir), "--method", name)
    return tmp / "ckpts"


@pytest.fixture
def compare_page(compare_checkpoints, monkeypatch):
    monkeypatch.setenv("CCVAE_CHECKPOINT_DIR", str(compare_checkpoints))
    monkeypatch.delenv("CCVAE_DATA_DIR", raising=False)
    at = AppTest.from_file(str(ROOT / "pages/9_Compare.py"), default_timeout=180).run()
    assert not at.exception, at.exception
    return at


def test_compares_every_picked_model_on_the_same_images(compare_page):
    at = compare_page
    assert at.multiselect[0].value == ["mnist", "mathieu", "szabo"]  # the default model and the same-shape others
    grids = [img for el in at.get("image") for img in el.proto.imgs]
    assert [g.caption for g in grids] == ["mnist (CC-VAE)", "mathieu (Mathieu et al.)", "szabo (Szabó et al.)"]
    assert len({g.url for g in grids}) == 3  # three models, three different pictures of the same sources
    table = at.dataframe[0].value
    assert list(table.index) == ["mnist", "mathieu", "szabo"]
    assert table.loc["mnist", "s test %"] >= 0 and table["s test %"].isna().tolist() == [False, True, True]
    assert len(at.get("plotly_chart")) == 6  # s and z maps for each model
    at.multiselect[0].set_value(["mnist", "szabo"]).run()
    assert not at.exception and len([i for el in at.get("image") for i in el.proto.imgs]) == 2


def test_asks_for_two_models_and_refuses_different_image_shapes(compare_page):
    at = compare_page
    at.multiselect[0].set_value(["mnist"]).run()
    assert any("at least two" in i.value for i in at.info)
    at.sidebar.text_input(key="compare_extra").set_value(str(ROOT / "checkpoints"))  # the shipped yaleb.run()
    at.multiselect[0].set_value(["mnist", "yaleb"]).run()
    assert not at.exception
    assert any("different shapes" in e.value for e in at.error)
