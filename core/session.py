"""The session layer: what a front end does with a model, written once for the Streamlit pages and
``app_gradio.py``, which add only widgets and layout.

- **Opening**: a model by name from the allow-listed roots (``core.service``), through the one
  process-wide cache (``core.service.STORE``, keyed by resolved path and weights time), with its
  sample images (``gallery``), their codes and its typed metrics (``Loaded.results``).
- **Choosing images**: swap-grid sources and random picks (``core.gallery``), class prototypes.
- **Uploads**: photos prepared as the model's training images were (``core.upload.prepare_for``), and
  the zero-shot grid: the uploads' mean s under every stored z (report Fig. 4.14).
- **Describing**: a one-line summary of a model that says z/s or f/pose from its capability flags.

Nothing here imports a UI library; errors are ``core.service.NotAllowed``, ``CheckpointError``,
``DataError`` and ``UploadError``, which each front end words for its users (``service.user_message``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from core import service
from core.data import DataError, ImageSet, spec_for
from core.explore import class_means, decode_grid
from core.fewshot import known_styles, mean_s
from core.gallery import evenly_spread
from core.limits import MAX_ROWS
from core.models import Encoding, Progress, method_name
from core.service import STORE, Loaded
from core.upload import CROP_MODES, Prepared, prepare_for

__all__ = ["CROP_MODES", "Loaded", "ZeroShot", "gallery", "gallery_codes", "digit_models", "gallery_or_bundled", "open_model",
           "open_path", "prepare_photos", "prior_rows", "prototypes", "summary", "zero_shot"]


# ------------------------------------------------------------------------------------------ opening

def open_model(name: str, roots: list[Path] | None = None, *, what: str = "model") -> Loaded:
    """The model called ``name`` in the allow-listed roots (``service.list_models``; default: the server's
    roots): a name from the list, never a path. Raises ``NotAllowed`` (unknown name) or ``CheckpointError``."""
    return STORE.load(service.resolve_model(name, service.list_models(roots), what=what))


def open_path(path: str | Path) -> Loaded:
    """The checkpoint folder ``path`` (in public mode it must lie in an allow-listed root: ``NotAllowed``)."""
    return STORE.load(path)


def gallery(loaded: Loaded, data_dir: str = "") -> ImageSet:
    """The model's sample images (``core.gallery.load_gallery``): a local dataset's test split when
    ``data_dir`` is given, else bundled real digits or the model's own generations. Cached with the model."""
    return STORE.gallery(loaded.path, data_dir)


def gallery_codes(loaded: Loaded, data_dir: str = "") -> Encoding:
    """z mean, z logvar and s of every gallery image (a model with a z/s split), cached with the model."""
    return STORE.codes(loaded.path, data_dir)


def gallery_or_bundled(loaded: Loaded, data_dir: str) -> tuple[ImageSet, str, Exception | None]:
    """``gallery(loaded, data_dir)``, else (the folder cannot be read or does not fit the model) the images
    without it. Returns the images, the data_dir used ("" after a fallback) and why the folder was not
    used (None when it was). A model without any images raises ``DataError``."""
    if data_dir:
        try:
            return gallery(loaded, data_dir), data_dir, None
        except (DataError, OSError) as err:
            return gallery(loaded, ""), "", err
    return gallery(loaded, ""), "", None


def prototypes(loaded: Loaded, images: ImageSet, codes: Callable[[], Encoding]) -> torch.Tensor:
    """Per-class mean s (K, s_dim): stored with the checkpoint, else the class means of ``codes()`` (the
    codes of ``images``, computed only when needed)."""
    if "class_mean_s" in loaded.latents:
        return loaded.latents["class_mean_s"]
    labels = images.labels
    return class_means(codes().s, labels, int(labels.max()) + 1)[0]


def prior_rows(loaded: Loaded) -> torch.Tensor:
    """The stored class prototypes to sample with, at most ``MAX_ROWS`` spread evenly over the classes:
    (rows, s_dim). ``DataError`` when the checkpoint stores none."""
    if "class_mean_s" not in loaded.latents:
        raise DataError("this checkpoint stores no class prototypes (latents.safetensors)")
    protos = loaded.latents["class_mean_s"]
    return protos[evenly_spread(protos.shape[0], MAX_ROWS)]


DIGIT_SHAPE = (1, 28, 28)  # what a drawn digit becomes (core.sketch): MNIST's frame


def digit_models(models: dict[str, Path] | None = None) -> list[str]:
    """The listed models (default: the server's) that read 28x28 grey images, the ones a drawing can go
    to, a digits model named after its dataset (the shipped ``mnist``) first."""
    configs = {n: c for n, c in service.model_configs(models).items() if tuple(c.image_shape) == DIGIT_SHAPE}
    return sorted(configs, key=lambda n: (spec_for(configs[n].dataset).kind != "digits", n != configs[n].dataset))


def no_split_note(config, what: str = "This") -> str | None:
    """Why ``what`` cannot use a model without a z/s split (DR-GAN); None for a model with one."""
    from core.models import capabilities

    if capabilities(config).has_split:
        return None
    return (f"{what} works on a z/s split, and this is a {method_name(config.method)} model, which has none (one "
            "identity feature and a pose code).")


def summary(config) -> str:
    """One line about a model: method, dataset, code sizes (z / s, or noise / f for a pose-conditioned
    model), training steps."""
    from core.models import capabilities

    dims = f"z {config.z_dim} / s {config.s_dim}" if capabilities(config).has_split else \
        f"noise {config.z_dim} / f {config.s_dim}"
    return f"{method_name(config.method)} · {config.dataset} · {dims} · {config.training_steps:,} steps"


# ------------------------------------------------------------------------------------------ uploads

def prepare_photos(loaded: Loaded, photos: list[tuple[str, bytes]], crop: str = CROP_MODES[0]) -> list[Prepared]:
    """Uploaded photos (name, bytes) as the model's inputs (``core.upload.prepare_for``); ``UploadError``
    names the first that cannot be used."""
    return [prepare_for(loaded.model.config, loaded.latents, data, name=name, crop=crop) for name, data in photos]


@dataclass(frozen=True)
class ZeroShot:
    """A new identity from uploads without training: the mean of their s, decoded with stored z codes."""

    s: torch.Tensor  # (s_dim,) the uploads' mean s
    styles: torch.Tensor  # (N, z_dim) the stored z codes (``core.fewshot.known_styles``)
    style_names: list[str]
    images: torch.Tensor  # (N, C, H, W): the identity with each style

    def caption(self) -> str:
        return f"the new identity with each stored z ({self.style_names[0]} … {self.style_names[-1]})"


def zero_shot(loaded: Loaded, x: torch.Tensor, *, model=None, progress: Progress | None = None) -> ZeroShot:
    """The uploads ``x`` (n, C, H, W) as a new identity, rendered with each stored z of ``loaded``.

    ``model``: another model to encode and decode with (a fine-tuned copy); the styles stay ``loaded``'s.
    ``ValueError`` when the checkpoint stores no z codes."""
    model = loaded.model if model is None else model
    styles, names = known_styles(loaded.model, loaded.latents)
    s = mean_s(model, x)
    images = decode_grid(model, styles, s[None], progress=progress)[:, 0]
    return ZeroShot(s, styles, names, images)
