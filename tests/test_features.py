"""The use-case layer (core.features) without a front end: what both apps show, said once."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from core.features import evenly_spread, picture
from core.features.photos import check_photo_count
from core.features.sliders import Z_LIMIT, Z_STEP, snap, snapped
from core.limits import MAX_PHOTOS, LimitError


@pytest.mark.parametrize("value, expected", [(0.01, 0.0), (0.03, 0.05), (-0.024, 0.0), (1.234, 1.25), (9.0, Z_LIMIT),
                                             (-9.0, -Z_LIMIT), (2.975, 3.0)])
def test_snap_puts_a_value_on_the_slider_grid(value, expected):
    assert snap(value) == pytest.approx(expected)


def test_a_snapped_code_returns_to_itself_after_a_step_each_way():
    for v in snapped(torch.randn(64, generator=torch.Generator().manual_seed(0)) * 2):
        assert snap(snap(v + Z_STEP) - Z_STEP) == v or v + Z_STEP > Z_LIMIT  # right then left: the same value


def test_evenly_spread_includes_both_ends_and_never_repeats():
    assert evenly_spread(64, 10).tolist()[0] == 0 and evenly_spread(64, 10).tolist()[-1] == 63
    assert evenly_spread(3, 10).tolist() == [0, 1, 2]


def test_picture_puts_images_side_by_side():
    assert picture(torch.zeros(3, 1, 8, 8)).shape == (8, 24)
    assert picture(torch.zeros(2, 3, 8, 8)).shape == (8, 16, 3)


def test_both_apps_refuse_too_many_photos_with_one_message():
    with pytest.raises(LimitError, match=f"12 photos uploaded; the limit is {MAX_PHOTOS}"):
        check_photo_count(12)
    with pytest.raises(LimitError, match="no photos"):
        check_photo_count(0)
    check_photo_count(MAX_PHOTOS)


def test_a_cold_server_shows_the_stored_swap_grid_until_the_model_is_loaded(tmp_path, monkeypatch):
    import shutil

    from core import service, session
    from core.shipped import SWAP_FIGURE, cold_preview

    root = Path(__file__).resolve().parents[1]
    shutil.copytree(root / "checkpoints" / "mnist", tmp_path / "mnist", ignore=shutil.ignore_patterns("maps"))
    monkeypatch.setenv("CCVAE_CHECKPOINT_DIR", str(tmp_path))
    monkeypatch.setenv("CCVAE_DEFAULT_MODEL", "mnist")
    service.STORE.clear()
    assert cold_preview(None) == tmp_path / "mnist" / SWAP_FIGURE
    assert cold_preview("../elsewhere") == tmp_path / "mnist" / SWAP_FIGURE  # never a path out of the folder
    session.open_model("mnist")
    assert cold_preview("mnist") is None  # loaded: the page draws the real one
    service.STORE.clear()


def test_the_cold_path_imports_no_torch():
    code = "import sys, core, core.settings, core.shipped; assert 'torch' not in sys.modules, 'torch imported'"
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]


def test_a_sliders_link_gives_back_its_settings_and_refuses_what_is_not_a_number():
    from core.features.sliders import LINK_PROBLEM, S_MODES, from_link, link

    query = link(7, [0.25, -1.0, 3.0], S_MODES[2], 1, 2, 0.3)
    state, problem = from_link(query, z_dim=3, images=10, classes=3)
    assert problem == "" and state == {"sl_img": 7, "sl_z0": 0.25, "sl_z1": -1.0, "sl_z2": 3.0, "sl_mode": S_MODES[2],
                                       "sl_a": 1, "sl_b": 2, "sl_w": 0.3}
    state, _ = from_link({"img": "99", "z": "0.26,9", "w": "0.52"}, z_dim=2, images=10, classes=3)
    assert state == {"sl_img": 9, "sl_z0": 0.25, "sl_z1": 3.0, "sl_w": 0.5}  # clamped and snapped to the widgets' grids
    assert from_link({"img": "x"}, z_dim=2, images=10, classes=3) == ({}, LINK_PROBLEM)


def shipped(name: str):
    from core import session

    return session.open_path(str(Path(__file__).resolve().parents[1] / "checkpoints" / name))


def test_the_metrics_table_puts_the_checkpoints_numbers_beside_the_papers():
    from core.features.scores import card, metrics_table

    loaded = shipped("mnist")
    table = metrics_table(loaded)
    ev = loaded.results.evaluation
    assert table.rows[0]["model"] == "this checkpoint (mnist)" and table.rows[0]["s test %"] == ev.s.test
    assert len(table.rows) > 1 and all(row["z test % (mean)"] is None for row in table.rows[1:])  # the papers sample z
    assert f"{ev.chance:.2f}%" in table.notes[0] and table.warning is None and table.info is None
    assert [tile.label for tile in card(loaded)][-1] == "s / z test accuracy (%)"


def test_the_metrics_table_of_drgan_is_its_feature_probe_and_an_unreadable_file_shows_nothing():
    from core.evaluation.result import Metrics
    from core.features.scores import metrics_table

    loaded = shipped("drgan-yaleb")
    table = metrics_table(loaded)
    assert [row["features"] for row in table.rows][0] == "trained encoder" and "identity test %" in table.rows[0]
    broken = dataclasses.replace(loaded, results=Metrics.from_dict({"evaluation": {"accuracy": {"s": 1}}}))
    assert metrics_table(broken).rows == [] and "incomplete" in metrics_table(broken).warning


def test_webcam_shots_are_kept_once_each_and_only_the_last_ten():
    from core.features.photos import Shots

    shots = Shots()
    shots.add(b"a")
    shots.add(b"a")  # the camera widget returns its last photo on every rerun
    assert [name for name, _ in shots.photos] == ["webcam-1.jpg"] and shots.caption().startswith("1 webcam photo kept")
    for i in range(MAX_PHOTOS + 2):
        shots.add(bytes([i + 1]))
    assert len(shots.photos) == MAX_PHOTOS and shots.photos[-1][0] == f"webcam-{MAX_PHOTOS + 3}.jpg"


def test_a_live_run_refuses_codes_past_the_cap_in_core():
    from core.features import live

    for z_dim, s_dim in ((live.MAX_LIVE_DIMS + 1, 8), (8, 0)):
        with pytest.raises(ValueError, match="dimensions"):
            live.start("t", None, source=next(iter(live.sources(""))), data_dir="", z_dim=z_dim, s_dim=s_dim, steps=10,
                       name="capped")


def test_latent_map_figures_carry_plain_lists_and_the_gallery_number():
    import numpy as np

    from core.features.figures import compared_map, latent_map

    fig = latent_map(np.array([[0.0, 1.0], [2.0, 3.0]]), np.array([5, 9]), ["1", "0"], "z")
    assert [trace.name for trace in fig.data] == ["0", "1"]
    assert fig.data[0].customdata[0][0] == 9 and isinstance(fig.to_plotly_json()["data"][0]["x"], list)
    assert compared_map(np.zeros((2, 2)), ["a", "b"], "s", legend=False).layout.showlegend is False


def test_the_interpolation_pages_refuse_more_steps_than_the_cap_in_core():
    from core.data import ImageSet
    from core.features import grids
    from core.limits import MAX_INTERPOLATION_STEPS

    tiny_set = ImageSet(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.tensor([0, 1]), ["a", "b"], "tiny")

    with pytest.raises(LimitError, match="interpolation steps"):
        grids.interpolation_square(None, tiny_set, 0, 1, MAX_INTERPOLATION_STEPS + 1)
    with pytest.raises(LimitError, match="interpolation steps"):
        grids.interpolation_strip(None, tiny_set, 0, 1, MAX_INTERPOLATION_STEPS + 1, "z")


def test_a_models_own_generations_keep_the_codes_they_were_decoded_from(tiny_model):
    """Re-encoding a generation is not its code (CelebA's encoder maps every render near the middle of s); the
    swap grid of a generated gallery decodes the stored codes, and another model still encodes the pixels."""
    import numpy as np

    from core.explore import decode_grid, encode_all, framed_grid
    from core.features.grids import swap_view
    from core.gallery import encoding, generated_gallery
    from core.models import build_model

    g = torch.Generator().manual_seed(0)
    bank = {"bank_z_mu": torch.randn(6, 4, generator=g), "bank_z_logvar": torch.zeros(6, 4),
            "bank_s": torch.randn(6, 3, generator=g), "bank_labels": torch.tensor([0, 1, 2, 0, 1, 2])}
    tiny_model.eval()
    gallery = generated_gallery(tiny_model, bank)
    stored = encoding(tiny_model, gallery, [4, 1])
    assert torch.equal(stored.s, bank["bank_s"][[4, 1]]) and torch.equal(stored.z_mu, bank["bank_z_mu"][[4, 1]])
    assert torch.equal(encoding(tiny_model, gallery.subset(torch.tensor([4]))).s, bank["bank_s"][[4]])
    assert not torch.allclose(encode_all(tiny_model, gallery.images[[4]]).s, bank["bank_s"][[4]])  # what re-encoding gives
    other = build_model(tiny_model.config)
    assert torch.equal(encoding(other, gallery, [4]).s, encode_all(other, gallery.images[[4]]).s)
    with torch.no_grad():
        cells = decode_grid(tiny_model, bank["bank_z_mu"][[0, 1]], bank["bank_s"][[2, 3]])
    expected = framed_grid(cells, gallery.floats(torch.tensor([0, 1])), gallery.floats(torch.tensor([2, 3])))
    assert np.array_equal(swap_view(tiny_model, gallery, [0, 1], [2, 3]).picture, expected)


def test_a_picture_is_enlarged_pixel_by_pixel():
    import numpy as np

    from core.features import enlarged

    digit = np.arange(4, dtype=np.uint8).reshape(2, 2)
    big = enlarged(digit[..., None], 6)
    assert big.shape == (6, 6) and big[2, 2] == 0 and big[3, 3] == 3 and set(np.unique(big)) == {0, 1, 2, 3}
    assert enlarged(np.zeros((28, 28, 3), np.uint8), 10).shape == (28, 28, 3)  # never shrunk


def test_a_face_dataset_that_dlib_aligns_is_read_in_a_worker_process(monkeypatch, tmp_path):
    """CelebA's first load aligns thousands of photos with dlib (about 110 s here), which holds the interpreter: a
    server reads it in a worker process; a dataset read from files as they are (MNIST) stays in the server."""
    from core import gallery, service, workers
    from core.data import ImageSet

    root = Path(__file__).resolve().parents[1] / "checkpoints"
    fake = ImageSet(torch.zeros(2, 3, 64, 64, dtype=torch.uint8), torch.tensor([0, 1]), ["a", "b"], "celeba:test")
    digits = ImageSet(torch.zeros(2, 1, 28, 28, dtype=torch.uint8), torch.tensor([0, 1]), ["0", "1"], "mnist:test")
    calls = []
    monkeypatch.setattr(gallery, "dataset_images", lambda dataset, *args: fake if dataset == "celeba" else digits)
    monkeypatch.setattr(workers, "run", lambda fn, *args, **kwargs: calls.append(args[0]) or fn(*args, **kwargs))
    service.STORE.clear()
    try:
        assert service.STORE.gallery(root / "celeba", str(tmp_path)) is fake and calls == ["celeba"]
        assert service.STORE.gallery(root / "mnist", str(tmp_path)) is digits and calls == ["celeba"]
    finally:
        service.STORE.clear()
