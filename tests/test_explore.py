import io
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from core.explore import (
    export_zip,
    framed_grid,
    interpolate,
    interpolation_grid,
    latent_statistics,
    mix,
    nearest_neighbours,
    png_bytes,
    sample_prior,
    swap_grid,
    tile,
    to_uint8,
)


@pytest.fixture
def model(tiny_model):
    return tiny_model.eval()


def test_swap_grid_diagonal_with_the_same_sources_is_the_reconstruction(model):
    x = torch.rand(4, 1, 28, 28)
    grid = swap_grid(model, x, x)
    assert grid.shape == (4, 4, 1, 28, 28)
    with torch.no_grad():
        recon = model.reconstruct(x)
    for i in range(4):
        torch.testing.assert_close(grid[i, i], recon[i], rtol=1e-5, atol=1e-6)
    # a row shares z, a column shares s: cells differ across columns
    assert not torch.allclose(grid[0, 0], grid[0, 1])


def test_framed_grid_layout():
    cells = torch.rand(2, 3, 1, 28, 28)
    out = framed_grid(cells, torch.rand(2, 1, 28, 28), torch.rand(3, 1, 28, 28), padding=2)
    assert out.shape == (3 * 30 + 2, 4 * 30 + 2, 3) and out.dtype == np.uint8
    assert out[2:30, 2:30].max() == 0  # the blank corner


@pytest.mark.parametrize("mode", ["z", "s", "both"])
def test_interpolation_ends_at_the_images(model, mode):
    a, b = torch.rand(1, 28, 28), torch.rand(1, 28, 28)
    strip = interpolate(model, a, b, steps=5, mode=mode)
    with torch.no_grad():
        enc = model.encode(torch.stack([a, b]))
        start = model.decode(enc.z_mu[:1], enc.s[:1])
        end_z = enc.z_mu[1:] if mode in ("z", "both") else enc.z_mu[:1]
        end_s = enc.s[1:] if mode in ("s", "both") else enc.s[:1]
        end = model.decode(end_z, end_s)
    assert strip.shape == (5, 1, 28, 28)
    torch.testing.assert_close(strip[0], start[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(strip[-1], end[0], rtol=1e-5, atol=1e-6)


def test_interpolation_rejects_bad_arguments(model):
    a = torch.rand(1, 28, 28)
    with pytest.raises(ValueError, match="valid: z, s, both"):
        interpolate(model, a, a, mode="x")
    with pytest.raises(ValueError, match="at least 2"):
        interpolate(model, a, a, steps=1)


def test_interpolation_grid_rows_share_z_columns_share_s(model):
    a, b = torch.rand(1, 28, 28), torch.rand(1, 28, 28)
    grid = interpolation_grid(model, a, b, steps=4)
    assert grid.shape == (4, 4, 1, 28, 28)
    torch.testing.assert_close(grid[0], interpolate(model, a, b, steps=4, mode="s"), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grid[:, 0], interpolate(model, a, b, steps=4, mode="z"), rtol=1e-5, atol=1e-6)


def test_sample_prior_is_seeded_and_shares_z_down_columns(model):
    s = torch.randn(3, 3)
    a, b, c = (sample_prior(model, s, n=5, seed=seed) for seed in (1, 1, 2))
    assert a.shape == (3, 5, 1, 28, 28)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_mix_and_neighbours():
    a, b = torch.zeros(4), torch.ones(4)
    assert torch.equal(mix(a, b, 0.25), torch.full((4,), 0.25))
    codes = torch.tensor([[0.0], [10.0], [1.0], [3.0]])
    assert nearest_neighbours(codes, 0, k=2).tolist() == [2, 3]


def test_latent_statistics_are_per_class_means(model):
    images = torch.randint(0, 255, (40, 1, 28, 28), dtype=torch.uint8)
    labels = torch.arange(40) % 4
    stats = latent_statistics(model, images, labels, num_classes=4, bank_size=8)
    with torch.no_grad():
        s = model.encode(images.float() / 255).s
    torch.testing.assert_close(stats["class_mean_s"][1], s[labels == 1].mean(0), rtol=1e-5, atol=1e-5)
    assert stats["class_counts"].tolist() == [10] * 4
    assert stats["bank_labels"].bincount().tolist() == [2] * 4


def test_export_zip_is_an_image_folder_with_labels():
    images = torch.rand(3, 1, 28, 28)
    blob = export_zip(images, ["7", "7", "1"])
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        names = zf.namelist()
        assert "labels.csv" in names and "7/sample_00001.png" in names and "1/sample_00002.png" in names
        png = Image.open(io.BytesIO(zf.read("1/sample_00002.png")))
        assert png.size == (28, 28)
        assert np.array_equal(np.asarray(png), to_uint8(images[2])[..., 0])
        assert zf.read("labels.csv").decode().splitlines()[1:] == ["7/sample_00000.png,7", "7/sample_00001.png,7",
                                                                    "1/sample_00002.png,1"]


def test_tile_and_png():
    out = tile(torch.rand(6, 3, 8, 8), nrow=3, padding=1)
    assert out.shape == (2 * 9 + 1, 3 * 9 + 1, 3)
    assert Image.open(io.BytesIO(png_bytes(out))).size == (28, 19)
