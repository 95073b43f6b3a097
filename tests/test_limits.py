"""Caps on user-controlled counts, enforced in core (so every front end gets them), and decoding in batches."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from core import limits
from core.explore import decode, decode_grid, export_zip, sample_prior, sample_zip, to_uint8
from core.limits import LimitError
from core.models import ModelConfig, build_model


@pytest.fixture
def model():
    torch.manual_seed(0)
    return build_model(ModelConfig(image_shape=(1, 28, 28), z_dim=3, s_dim=2)).eval()


def test_sampling_refuses_what_would_blow_up_memory_before_decoding(model, monkeypatch):
    """500 classes x 32 samples (the Gradio tab on sprites) was one 16,000-image batch: about 4.7 GB."""
    monkeypatch.setattr(model, "decode", lambda *a, **k: pytest.fail("decoded before checking the counts"))
    with pytest.raises(LimitError, match="rows .*500 asked, the limit is 50"):
        sample_prior(model, torch.zeros(500, 2), n=32)
    with pytest.raises(LimitError, match="samples per row: 100 asked, the limit is 64"):
        sample_prior(model, torch.zeros(2, 2), n=100)
    with pytest.raises(LimitError, match="images in one sampling grid: 3,200 asked, the limit is 2,048"):
        sample_prior(model, torch.zeros(50, 2), n=64)
    with pytest.raises(LimitError, match="images in one grid"):
        decode_grid(model, torch.zeros(100, 3), torch.zeros(100, 2))


def test_decoding_goes_in_batches(model, monkeypatch):
    sizes = []
    real = model.decode
    monkeypatch.setattr(model, "decode", lambda z, s, **k: sizes.append(z.shape[0]) or real(z, s))
    out = decode(model, torch.zeros(600, 3), torch.zeros(600, 2))
    assert out.shape == (600, 1, 28, 28) and sizes == [256, 256, 88]
    sizes.clear()
    sample_prior(model, torch.zeros(10, 2), n=40)
    assert max(sizes) <= limits.DECODE_BATCH


def test_batched_decoding_gives_the_same_pictures(model):
    z, s = torch.randn(300, 3), torch.randn(300, 2)
    torch.testing.assert_close(decode(model, z, s, batch_size=64), decode(model, z, s, batch_size=1000), rtol=0, atol=1e-6)


def test_the_sample_zip_is_capped_and_matches_the_grid(model):
    with pytest.raises(LimitError, match="images in one zip: 2,500 asked, the limit is 2,000"):
        sample_zip(model, torch.zeros(5, 2), list("abcde"), per_row=500)
    s = torch.randn(3, 2)
    blob = sample_zip(model, s, ["x", "y", "z"], per_row=100, seed=4)
    names = zipfile.ZipFile(io.BytesIO(blob)).namelist()
    assert len(names) == 301 and names[0] == "x/sample_00000.png" and names[100] == "y/sample_00100.png"
    grid = sample_prior(model, s, n=100, seed=4, limit=False)  # the same draws as the grid with that seed
    second = np.asarray(Image.open(zipfile.ZipFile(io.BytesIO(blob)).open(names[101])))  # row y, draw 1
    assert np.array_equal(second, to_uint8(grid[1, 1])[..., 0])
    with pytest.raises(LimitError, match="images in one zip"):
        export_zip(torch.zeros(limits.MAX_ZIP_IMAGES + 1, 1, 2, 2), ["a"] * (limits.MAX_ZIP_IMAGES + 1))


def test_a_zip_that_grows_past_its_byte_cap_is_refused(model, monkeypatch):
    monkeypatch.setattr("core.explore.MAX_ZIP_BYTES", 20_000)
    with pytest.raises(LimitError, match="grew past"):
        sample_zip(model, torch.randn(10, 2), list("abcdefghij"), per_row=100)
