"""Latent maps are computed once per checkpoint, kept in <checkpoint>/maps/, and made again for new weights."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest

from core import checkpoint as checkpoint_module
from core.evaluation import projection
from core.evaluation.projection import DEFAULT_MAP_POINTS, cached_projection, map_file


@pytest.fixture
def calls(monkeypatch) -> list[str]:
    """Replace the projection with a cheap one that records each call."""
    made: list[str] = []

    def fake(codes, method="tsne", *, seed=0):
        made.append(method)
        return np.asarray(codes, dtype=np.float32)[:, :2] * 2 + seed
    monkeypatch.setattr(projection, "project_2d", fake)
    return made


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    (tmp_path / "model.safetensors").write_bytes(b"weights v1")
    return tmp_path


def codes(seed: int = 0, n: int = 50) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 4)).astype(np.float32)


def test_a_map_is_written_then_read_back_without_recomputing(checkpoint, calls):
    first = cached_projection(checkpoint, "z", codes(), "tsne")
    file = map_file(checkpoint, "z", codes(), "tsne")
    assert calls == ["tsne"] and file.is_file() and file.parent == checkpoint / "maps"
    assert file.name.startswith("tsne_z_50_seed0_")
    again = cached_projection(checkpoint, "z", codes(), "tsne")
    assert calls == ["tsne"]  # read back, not computed
    np.testing.assert_array_equal(first, again)
    # other codes, another method or another seed get their own file
    cached_projection(checkpoint, "z", codes(1), "tsne")
    cached_projection(checkpoint, "z", codes(), "umap")
    cached_projection(checkpoint, "z", codes(), "tsne", seed=1)
    assert calls == ["tsne", "tsne", "umap", "tsne"]
    assert len(list((checkpoint / "maps").glob("*.npy"))) == 4


def test_new_weights_invalidate_every_map(checkpoint, calls):
    cached_projection(checkpoint, "z", codes(), "tsne")
    cached_projection(checkpoint, "s", codes(1), "tsne")
    weights = checkpoint / "model.safetensors"
    st = weights.stat()
    weights.write_bytes(b"weights v2")  # same size: only the modification time tells
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    cached_projection(checkpoint, "z", codes(), "tsne")
    assert calls == ["tsne", "tsne", "tsne"]
    assert [p.name for p in (checkpoint / "maps").glob("*.npy")] == [map_file(checkpoint, "z", codes(), "tsne").name]
    cached_projection(checkpoint, "z", codes(), "tsne")
    assert len(calls) == 3


def test_a_damaged_map_is_made_again(checkpoint, calls):
    cached_projection(checkpoint, "z", codes(), "pca")
    map_file(checkpoint, "z", codes(), "pca").write_bytes(b"not a numpy file")
    xy = cached_projection(checkpoint, "z", codes(), "pca")
    assert calls == ["pca", "pca"] and xy.shape == (50, 2)


def test_a_read_only_checkpoint_still_gets_its_map(checkpoint, calls, monkeypatch):
    def read_only(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(self))
    monkeypatch.setattr(Path, "mkdir", read_only)
    xy = cached_projection(checkpoint, "z", codes(), "tsne")
    assert xy.shape == (50, 2) and not (checkpoint / "maps").exists()
    cached_projection(checkpoint, "z", codes(), "tsne")
    assert calls == ["tsne", "tsne"]  # nothing kept, so computed each time


def test_real_projection_through_the_cache_and_unknown_method(checkpoint):
    xy = cached_projection(checkpoint, "z", codes(), "pca")
    np.testing.assert_allclose(xy, projection.project_2d(codes(), "pca"), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="valid: tsne, umap, pca"):
        cached_projection(checkpoint, "z", codes(), "lda")


@pytest.mark.parametrize("name", ["mnist", "yaleb", "sprites", "celeba"])
def test_the_shipped_models_ship_their_default_maps(name, monkeypatch):
    """A fresh install opens the Latent map without computing a t-SNE (it took over 15 s): the default maps are in
    git, keyed by a digest of the weights (not their file time, which a clone changes) and by which images."""
    import torch

    from core.checkpoint import load_latents, load_model
    from core.evaluation.projection import is_cached, map_selection, map_source
    from core.gallery import encoding, load_gallery, source_name

    folder = Path(__file__).resolve().parents[1] / "checkpoints" / name
    model = load_model(folder)
    gallery = load_gallery(model, load_latents(folder))
    idx = map_selection(len(gallery), min(DEFAULT_MAP_POINTS, len(gallery)))
    codes, label = encoding(model, gallery, torch.from_numpy(idx)), source_name(gallery)  # as the Latent map page
    monkeypatch.setattr(projection, "project_2d", lambda *a, **k: pytest.fail("computed instead of read back"))
    for method in ("tsne", "umap"):
        for space, values in (("z", codes.z_mu.numpy()), ("s", codes.s.numpy())):
            assert is_cached(folder, f"{space}-{label}", values, method, source=map_source(label, idx))
            xy = cached_projection(folder, f"{space}-{label}", values, method, source=map_source(label, idx))
            assert xy.shape == (len(idx), 2)
    os.utime(folder / "model.safetensors")  # a fresh clone: new file times, same bytes
    checkpoint_module._DIGESTS.clear()  # a fresh process: digests computed again
    assert is_cached(folder, f"s-{label}", codes.s.numpy(), "tsne", source=map_source(label, idx))


def test_shipped_maps_are_the_ones_the_page_looks_for(tmp_path):
    """train.ship_maps projects the Latent map page's own LatentMap: after it, the page finds the map ready."""
    import shutil

    from core import service, session
    from core.features.maps import LatentMap
    from train.ship_maps import ship

    folder = tmp_path / "yaleb"
    shutil.copytree(Path(__file__).resolve().parents[1] / "checkpoints" / "yaleb", folder, ignore=shutil.ignore_patterns("maps"))
    service.STORE.clear()
    try:
        loaded = session.open_path(folder)
        gallery = session.gallery(loaded)
        latent = LatentMap(loaded, gallery, session.gallery_codes(loaded), "", min(DEFAULT_MAP_POINTS, len(gallery)))
        assert not latent.ready("UMAP")
        ship(folder, ["umap"])
        assert latent.ready("UMAP") and not latent.ready("t-SNE")
    finally:
        service.STORE.clear()
