"""2-D projections of codes for maps (t-SNE, UMAP, PCA), cached beside a checkpoint, and a number
for "does it cluster by label".

t-SNE is openTSNE's FFT-accelerated t-SNE (FIt-SNE); UMAP gets exact nearest neighbours and 200
epochs. Both chosen by measurement (``python -m train.bench --maps --map-baselines``): on 10,000 MNIST
codes t-SNE takes about 7x less CPU time than scikit-learn's, and UMAP 2x less than its defaults (4x in
a fresh process, where it no longer compiles NN-descent).
``cached_projection`` computes a map once per checkpoint and keeps it in ``<checkpoint>/maps/``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA
from sklearn.metrics import silhouette_score

from core.checkpoint import MAPS, MAPS_STAMP, weights_digest

METHODS = ("tsne", "umap", "pca")
FFT_FROM = 3000  # t-SNE points from which FFT gradients beat Barnes-Hut (measured, CPU s: 2,000 BH 5.2 vs 8.4; 5,000 FFT 9.1 vs 17.8)
UMAP_EPOCHS = 200  # umap-learn's own default above 10,000 points (500 below): the layout is settled by then


def exact_neighbours(codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and distances of each code's k nearest codes, itself first: (N, k) each. Exact search
    is fast for low-dimensional codes, and spares UMAP compiling its approximate search (NN-descent)."""
    from sklearn.neighbors import NearestNeighbors

    dist, idx = NearestNeighbors(n_neighbors=k).fit(codes).kneighbors(codes)
    return idx, dist.astype(np.float32)


def project_2d(codes: np.ndarray, method: str = "tsne", *, seed: int = 0, tick: Callable[[], None] | None = None) -> np.ndarray:
    """(N, D) -> (N, 2). ``tick()`` is called every 25 t-SNE iterations (a turn point of ``core.jobs``)."""
    codes = np.asarray(codes, dtype=np.float32)
    if method == "tsne":
        from openTSNE import TSNE

        perplexity = min(30.0, max(2.0, (codes.shape[0] - 1) / 3))
        # exact neighbours (quick for low-dimensional codes) instead of Annoy; above FFT_FROM points FFT
        # interpolation on boxes of 2 units instead of 1 (about 3x less CPU time than openTSNE's defaults
        # at 10,000 codes), below it Barnes-Hut, which has no fixed cost per iteration. One thread: on our
        # 2-core machine, shared with the app, n_jobs=2 took 2-3x more CPU time and was slower
        gradient = "fft" if codes.shape[0] >= FFT_FROM else "bh"
        callbacks = None if tick is None else [lambda iteration, error, embedding: tick() or False]
        tsne = TSNE(n_components=2, perplexity=perplexity, initialization="pca", random_state=seed, n_jobs=1,
                    neighbors="exact", negative_gradient_method=gradient, ints_in_interval=2, verbose=False,
                    callbacks=callbacks, callbacks_every_iters=25)
        return np.asarray(tsne.fit(codes), dtype=np.float32)
    if method == "umap":
        from umap import UMAP  # imported lazily: numba compiles on first import

        k = min(15, codes.shape[0] - 1)
        umap = UMAP(n_components=2, n_neighbors=k, n_epochs=UMAP_EPOCHS, random_state=seed, n_jobs=1,
                    precomputed_knn=(*exact_neighbours(codes, k), None))
        with warnings.catch_warnings():  # without a search index UMAP cannot map new points later: not needed
            warnings.filterwarnings("ignore", message=r"precomputed_knn\[2\]")
            return umap.fit_transform(codes).astype(np.float32)
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(codes).astype(np.float32)
    raise ValueError(f"unknown projection {method!r}; valid: {', '.join(METHODS)}")


def map_file(checkpoint_dir: str | Path, codes_name: str, codes: np.ndarray, method: str, seed: int = 0, *,
             source: str | None = None) -> Path:
    """Where the map of ``codes`` is kept: the name carries the method, the codes' name, their number,
    the seed and a digest of what they are: ``source`` when given (a description of the encoded images
    that does not depend on floating-point details, so a map made on one CPU is found on another),
    else the codes' values (so another gallery or sample size gets its own file)."""
    codes = np.ascontiguousarray(codes, dtype=np.float32)
    data = source.encode() if source is not None else codes.tobytes()
    digest = hashlib.blake2b(data + repr(codes.shape).encode(), digest_size=8).hexdigest()
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", codes_name)
    return Path(checkpoint_dir) / MAPS / f"{method}_{safe}_{codes.shape[0]}_seed{seed}_{digest}.npy"


def cached_projection(checkpoint_dir: str | Path, codes_name: str, codes: np.ndarray, method: str = "tsne", *,
                      seed: int = 0, source: str | None = None, tick: Callable[[], None] | None = None) -> np.ndarray:
    """``project_2d(codes, method, seed=seed)``, computed once and kept in ``<checkpoint_dir>/maps/``.

    The maps folder records ``core.checkpoint.weights_digest`` (of ``WEIGHTS`` and ``LATENTS``); when the
    weights change, every map in it is dropped and made again. Where the folder cannot be written (a
    read-only checkpoint), the map is computed and returned without being kept. ``source``: see
    ``map_file``.
    """
    if method not in METHODS:
        raise ValueError(f"unknown projection {method!r}; valid: {', '.join(METHODS)}")
    checkpoint_dir = Path(checkpoint_dir)
    stamp = weights_digest(checkpoint_dir)
    file = map_file(checkpoint_dir, codes_name, codes, method, seed, source=source)
    stamp_file = file.parent / MAPS_STAMP
    fresh = stamp is not None and stamp_file.is_file() and stamp_file.read_text() == stamp
    if fresh and file.is_file():
        try:
            xy = np.load(file, allow_pickle=False)
        except (OSError, ValueError):  # a damaged file: make it again
            xy = None
        if xy is not None and xy.shape == (len(codes), 2):
            return xy
    xy = project_2d(codes, method, seed=seed) if tick is None else project_2d(codes, method, seed=seed, tick=tick)
    if stamp is not None:
        _keep(file, xy, stamp, fresh)
    return xy


def is_cached(checkpoint_dir: str | Path, codes_name: str, codes: np.ndarray, method: str, *, seed: int = 0,
              source: str | None = None) -> bool:
    """True when ``cached_projection`` would read the map back instead of computing it."""
    checkpoint_dir = Path(checkpoint_dir)
    stamp = weights_digest(checkpoint_dir)
    file = map_file(checkpoint_dir, codes_name, codes, method, seed, source=source)
    stamp_file = file.parent / MAPS_STAMP
    return stamp is not None and file.is_file() and stamp_file.is_file() and stamp_file.read_text() == stamp


def _keep(file: Path, xy: np.ndarray, stamp: str, fresh: bool) -> None:
    folder = file.parent
    try:
        if not fresh:
            shutil.rmtree(folder, ignore_errors=True)  # maps of other weights
        folder.mkdir(exist_ok=True)
        tmp = folder / f".{file.name}.{os.getpid()}.{threading.get_ident()}.tmp"
        with open(tmp, "wb") as f:
            np.save(f, xy)
        os.replace(tmp, file)
        (folder / MAPS_STAMP).write_text(stamp)
    except OSError:  # read-only checkpoint folder: the map is used without being kept
        return


DEFAULT_MAP_POINTS = 2_000  # the Latent map page's first view (the shipped checkpoints ship these maps)


def map_selection(n_all: int, n: int) -> np.ndarray:
    """Which ``n`` of ``n_all`` gallery images a map shows: a fixed random subset (seed 0), in order."""
    import torch

    return torch.randperm(n_all, generator=torch.Generator().manual_seed(0))[:n].sort().values.numpy()


def map_source(gallery_name: str, idx: np.ndarray, images: np.ndarray | None = None) -> str:
    """The ``source`` of a map of gallery codes: the gallery (a digest of its images when it is a local
    dataset, whose files may change; its name for the bundled digits and the model's own generations,
    which the checkpoint digest already covers) and which of its images."""
    gallery = gallery_name if images is None else hashlib.blake2b(np.ascontiguousarray(images).tobytes(),
                                                                  digest_size=16).hexdigest()
    chosen = hashlib.blake2b(np.ascontiguousarray(idx, dtype=np.int64).tobytes(), digest_size=16).hexdigest()
    return f"{gallery}|{chosen}"


def silhouette(codes: np.ndarray, labels: np.ndarray, *, max_points: int = 5000, seed: int = 0) -> float:
    """Silhouette score of the codes grouped by label, in [-1, 1]: high when codes cluster by label."""
    return float(silhouette_score(codes, labels, sample_size=min(max_points, len(labels)), random_state=seed))
