"""2-D projections of codes for maps (t-SNE, PCA) and a number for "does it cluster by label"."""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.metrics import silhouette_score

METHODS = ("tsne", "umap", "pca")


def project_2d(codes: np.ndarray, method: str = "tsne", *, seed: int = 0) -> np.ndarray:
    """(N, D) -> (N, 2)."""
    codes = np.asarray(codes, dtype=np.float32)
    if method == "tsne":
        perplexity = min(30.0, max(2.0, (codes.shape[0] - 1) / 3))
        return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(codes)
    if method == "umap":
        from umap import UMAP  # imported lazily: numba compiles on first import

        return UMAP(n_components=2, n_neighbors=min(15, codes.shape[0] - 1), random_state=seed).fit_transform(codes)
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(codes)
    raise ValueError(f"unknown projection {method!r}; valid: {', '.join(METHODS)}")


def silhouette(codes: np.ndarray, labels: np.ndarray, *, max_points: int = 5000, seed: int = 0) -> float:
    """Silhouette score of the codes grouped by label, in [-1, 1]: high when codes cluster by label."""
    return float(silhouette_score(codes, labels, sample_size=min(max_points, len(labels)), random_state=seed))
