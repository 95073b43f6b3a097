"""Compare (report Table 4.1, Figs. 4.1/4.6): several checkpoints on the same source images: swap grids, the
Table 4.1 metrics and PCA maps of the same test images, side by side."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from core import service, session
from core.checkpoint import CheckpointError
from core.data import ImageSet
from core.evaluation import cached_projection, silhouette
from core.evaluation.projection import map_selection
from core.explore import encode_all, framed_grid, swap_grid
from core.features import View
from core.gallery import label_name, swap_sources
from core.limits import MAX_COMPARE_MODELS, check
from core.models import method_name

__all__ = ["MAX_COMPARE_MODELS", "Comparison", "default_selection", "extra_models"]


def extra_models(found: dict[str, str], folders: str) -> tuple[dict[str, str], list[str]]:
    """``found`` plus the checkpoints in the comma-separated ``folders`` (a local server only); and a warning per
    folder that cannot be read."""
    found, warnings = dict(found), []
    for root in (Path(r.strip()) for r in folders.split(",") if r.strip()):
        try:
            is_dir = root.is_dir()
        except OSError:
            is_dir = False
        if not is_dir:
            warnings.append(f"{root} is not a folder this server can read")
            continue
        for name, path in service.list_models([root.resolve()]).items():
            if str(path) not in found.values():
                found.setdefault(name, str(path))
    return found, warnings


def default_selection(found: dict[str, str], default: str) -> list[str]:
    """``default`` (else the first model) and up to three others that read the same kind of images."""
    shapes = {name: config.image_shape for name, config in service.model_configs(found).items()}
    first = default if default in shapes else next(iter(shapes), None)
    if first is None:
        return []
    return [first] + [n for n in shapes if n != first and shapes[n] == shapes[first]][:3]


@dataclass
class Comparison:
    """The picked models that can be compared, and what was said about the others."""

    models: dict[str, session.Loaded] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # "Cannot open ..."
    left_out: list[str] = field(default_factory=list)  # models without a z/s split
    problem: str = ""  # why nothing can be compared ("" when it can)

    @classmethod
    def open(cls, picked: list[str], found: dict[str, str], opener=session.open_path) -> Comparison:
        check("models side by side", len(picked), MAX_COMPARE_MODELS)
        out = cls()
        for name in picked:
            try:
                out.models[name] = opener(found[name])
            except CheckpointError as err:
                out.errors.append(f"Cannot open {name}: {service.user_message(err, 'this model') if service.public_mode() else err}")
        out.left_out = [n for n, loaded in out.models.items() if not loaded.model.has_split]
        out.models = {n: v for n, v in out.models.items() if n not in out.left_out}
        shapes = {loaded.model.config.image_shape for loaded in out.models.values()}
        if len(out.models) < 2:
            out.problem = "Fewer than two comparable models left."
        elif len(shapes) > 1:
            shown = ", ".join(f"{n}: {loaded.model.config.image_shape}" for n, loaded in out.models.items())
            out.problem = (f"These models read images of different shapes ({shown}); pick models trained on the same "
                           "kind of data.")
        return out

    def first(self, picked: list[str]) -> str:
        return picked[0] if picked[0] in self.models else next(iter(self.models))

    def swap_grids(self, gallery: ImageSet, n: int, seed: int) -> list[View]:
        """Each model's swap grid of the same n row (z) and n column (s) images."""
        rows, cols = swap_sources(gallery, n, n, seed=seed, cycle=False)
        z_src, s_src = gallery.floats(rows), gallery.floats(cols)
        return [View(framed_grid(swap_grid(loaded.model, z_src, s_src), z_src, s_src),
                     f"{name} ({method_name(loaded.model.config.method)})") for name, loaded in self.models.items()]

    def metrics_rows(self) -> list[dict]:
        rows = []
        for name, loaded in self.models.items():
            cfg = loaded.model.config
            row = {"checkpoint": name, "method": method_name(cfg.method), "z / s": f"{cfg.z_dim} / {cfg.s_dim}",
                   "steps": cfg.training_steps}
            ev = loaded.results.evaluation  # None for a metrics.json without (all of) them
            if ev:
                row |= {"z test % (sample)": ev.z_sample.test, "z test % (mean)": ev.z_mean.test, "s test %": ev.s.test,
                        "chance %": ev.chance}
            rows.append(row)
        return rows

    def maps(self, gallery: ImageSet, points: int, space: str) -> list[tuple[str, np.ndarray, list[str], str]]:
        """Per model: (name, PCA of its ``space`` codes of the same images (n, 2), their labels, a title with the
        silhouette)."""
        idx = torch.from_numpy(map_selection(len(gallery), points))
        labels = gallery.labels[idx].numpy()
        names = [label_name(gallery, int(v)) for v in labels]
        out = []
        for name, loaded in self.models.items():
            codes = encode_all(loaded.model, gallery.images[idx])
            values = (codes.s if space == "s" else codes.z_mu).numpy()
            xy = cached_projection(loaded.path, f"{space}-compare-{gallery.name}", values, "pca")
            out.append((name, xy, names, f"{space} · {name} · silhouette {silhouette(values, labels):.2f}"))
        return out
