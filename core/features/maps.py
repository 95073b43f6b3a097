"""The latent map (report Fig. 4.6): 2-D projections of z and s of the sample images, coloured by label, with
silhouette scores, and what a click or a box selection on the map shows.

A projection is read back from ``<checkpoint>/maps/`` when made before (the shipped models ship their default
maps); otherwise ``LatentMap.project`` is heavy work, for the caller to run in the server's pool with
``LatentMap.job_key`` (two sessions asking for the same map share one computation); the projection itself
then runs in a worker process (``core.workers``), off the server's interpreter.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from core import session, workers
from core.data import ImageSet
from core.evaluation import cached_projection, silhouette
from core.evaluation.projection import DEFAULT_MAP_POINTS, is_cached, map_selection, map_source
from core.explore import nearest_neighbours, tile
from core.features import Tile, View
from core.gallery import label_name, source_name
from core.limits import MAX_MAP_POINTS, check

METHODS = {"t-SNE": "tsne", "UMAP": "umap", "PCA": "pca"}
SHOWN_SELECTION = 120  # images shown for a box or lasso selection

__all__ = ["DEFAULT_MAP_POINTS", "MAX_MAP_POINTS", "METHODS", "LatentMap"]


class LatentMap:
    """The codes of ``n`` sample images (an even selection of the gallery) and their labels."""

    def __init__(self, loaded: session.Loaded, gallery: ImageSet, codes, data_dir: str, n: int):
        check("codes in one map", n, MAX_MAP_POINTS)
        self.loaded, self.gallery, self.codes, self.data_dir = loaded, gallery, codes, data_dir
        self.idx = torch.from_numpy(map_selection(len(gallery), n))
        self.z, self.s = codes.z_mu[self.idx].numpy(), codes.s[self.idx].numpy()
        self.labels_int = gallery.labels[self.idx].numpy()
        self.labels = [label_name(gallery, int(v)) for v in self.labels_int]
        self.name = source_name(gallery)
        self.source = map_source(self.name, self.idx.numpy(), gallery.images.numpy() if data_dir else None)

    @property
    def points(self) -> list[int]:
        """Gallery number of each point."""
        return self.idx.tolist()

    def _spaces(self):
        return (("z", f"z-{self.name}", self.z), ("s", f"s-{self.name}", self.s))

    def ready(self, method: str) -> bool:
        """True when both maps can be had at once (stored before, or PCA)."""
        algo = METHODS[method]
        return algo == "pca" or all(is_cached(self.loaded.path, key, codes, algo, source=self.source)
                                    for _, key, codes in self._spaces())

    def job_key(self, method: str) -> tuple:
        return ("map", str(self.loaded.path), METHODS[method], self.source)

    def project(self, method: str, tick: Callable | None = None, *, in_worker: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(xy of z, xy of s), each (n, 2); ``tick(text)`` hears the progress. ``in_worker``: computed in a worker
        process (``core.workers``), the caller's thread only waiting (and ticking every second)."""
        out = []
        for space, key, codes in self._spaces():
            text = f"projecting {space} with {method}…"
            if tick is not None:
                tick(text)
            if in_worker:
                out.append(workers.run(cached_projection, str(self.loaded.path), key, codes, METHODS[method],
                                       source=self.source, on_wait=None if tick is None else lambda text=text: tick(text)))
            else:
                out.append(cached_projection(self.loaded.path, key, codes, METHODS[method], source=self.source, tick=tick))
        return out[0], out[1]

    def silhouettes(self) -> tuple[float, float] | None:
        """Silhouette of z and of s by label (None with a single label)."""
        if len(set(self.labels_int)) < 2:
            return None
        return silhouette(self.z, self.labels_int), silhouette(self.s, self.labels_int)

    def silhouette_tiles(self) -> list[Tile]:
        scores = self.silhouettes()
        if scores is None:
            return []
        return [Tile("Silhouette of z by label", f"{scores[0]:.3f}", "Near 0 or below: no clusters"),
                Tile("Silhouette of s by label", f"{scores[1]:.3f}", "Towards 1: tight class clusters")]

    def label_of(self, i: int) -> str:
        return label_name(self.gallery, int(self.gallery.labels[i]))

    def picked(self, space: str, i: int) -> View:
        """One image picked on a map: it, its reconstruction and its 8 nearest neighbours in ``space``."""
        x = self.gallery.floats(i)[None]
        with torch.no_grad():
            recon = self.loaded.model.reconstruct(x)
        nn = nearest_neighbours(self.codes.z_mu if space == "z" else self.codes.s, i, k=8)
        return View(tile(torch.cat([x, recon, self.gallery.floats(nn)]), nrow=10),
                    f"The image, its reconstruction, then its 8 nearest neighbours in {space}: "
                    + ", ".join(self.label_of(int(j)) for j in nn))

    def selection(self, picked: list[int]) -> View:
        """Images selected by a box or lasso (the first ``SHOWN_SELECTION``)."""
        return View(tile(self.gallery.floats(torch.tensor(picked[:SHOWN_SELECTION])), nrow=20),
                    "Selected images" + (f" (first {SHOWN_SELECTION})" if len(picked) > SHOWN_SELECTION else ""))
