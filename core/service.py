"""Serving models to many users: public mode, the allow-listed model roots, one process-wide model cache.

Both front ends (the Streamlit pages and ``app_gradio.py``) go through this module, so they apply the
same rules:

- **Public mode** (``Settings.public``: ``CCVAE_PUBLIC=1``, or ``--public`` on either app): nobody types a path. Models are
  picked by name from a list built from the allow-listed roots; any path is resolved and checked with
  ``Path.resolve().is_relative_to`` before it is opened; messages shown to users name no server path.
  Off by default: a single user on localhost may open any folder.
- **Roots**: the shipped ``checkpoints/`` (or ``CCVAE_CHECKPOINT_DIR``), the folders in
  ``CCVAE_MODEL_ROOTS`` (separated by ``os.pathsep``), and the folder Train live saves into
  (``CCVAE_SAVE_DIR``, default the first root). A root holds checkpoint folders, or run folders with a
  ``checkpoint/`` inside (``runs/sweep``).
- **One cache**: models, their sample images and codes are cached per *resolved* path and weights
  file time, so ``checkpoints/mnist/.`` and ``checkpoints/mnist`` are one entry, and two sessions
  asking for the same model at once load it once.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path

import torch

from core import settings
from core.checkpoint import (
    CONFIG,
    CheckpointError,
    RunFolder,
    find_checkpoints,
    load_latents,
    load_metrics,
    load_model,
    weights_time,
)
from core.data import DataError, ImageSet, spec_for
from core.evaluation.result import Metrics

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("ccvae")


# ------------------------------------------------------------------------------------- settings

def public_mode() -> bool:
    """True when the server is shared with people who must not see or probe its disk."""
    return settings.current().public


def cap_threads() -> None:
    """At most 2 torch threads per server process, and no more than the cores its heavy jobs' workers leave
    (``Settings.torch_threads``), unless OMP_NUM_THREADS says otherwise: a server answers many small requests at
    once, where more threads per request only contend. Both apps call this at start."""
    threads = settings.current().torch_threads
    if threads is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def shipped_dir() -> Path:
    """The shipped models' folder (``Settings.checkpoint_dir``)."""
    return settings.current().checkpoint_dir


def save_dir() -> Path:
    return settings.current().save_folder


def model_roots() -> list[Path]:
    """The allow-listed roots, resolved, first the shipped one; missing folders are left out."""
    now = settings.current()
    roots = [now.checkpoint_dir, *now.model_roots, now.save_folder]
    out: list[Path] = []
    for root in roots:
        try:
            resolved = root.expanduser().resolve()
        except (OSError, RuntimeError):
            continue
        if resolved.is_dir() and resolved not in out:
            out.append(resolved)
    return out


def is_allowed(path: str | Path, roots: list[Path] | None = None) -> bool:
    """True when ``path``, with every symlink and '..' resolved, lies inside an allow-listed root."""
    try:
        resolved = Path(path).expanduser().resolve()
    except (OSError, RuntimeError):
        return False
    return any(resolved.is_relative_to(root) for root in (roots if roots is not None else model_roots()))


def _checkpoints_in(root: Path) -> list[Path]:
    """Checkpoint folders directly in ``root``, then run folders' ``checkpoint/`` (a sweep's cells)."""
    try:
        found = find_checkpoints(root)
        runs = sorted(RunFolder(q).checkpoint for q in root.iterdir()
                      if not q.name.startswith(".") and (RunFolder(q).checkpoint / CONFIG).is_file())
    except OSError as err:  # an unreadable root: nothing listed from it
        log.warning("cannot list %s: %s", root, err)
        return []
    return found + runs


def list_models(roots: list[Path] | None = None) -> dict[str, Path]:
    """Name -> resolved checkpoint folder, for every model under the roots (in public mode: that resolves
    inside one).

    Names are folder names (a run folder's name for ``<run>/checkpoint``); when two roots hold the
    same name, the later one is called ``<root>/<name>``."""
    roots = model_roots() if roots is None else roots
    public = public_mode()
    models: dict[str, Path] = {}
    for root in roots:
        for folder in _checkpoints_in(root):
            resolved = folder.resolve()
            if (public and not is_allowed(resolved, roots)) or resolved in models.values():
                continue  # a symlink out of the roots (a local server may follow it), or a model listed already
            name = folder.parent.name if folder == RunFolder(folder.parent).checkpoint else folder.name
            models[name if name not in models else f"{root.name}/{name}"] = resolved
    return models


FACE_SIZE = (64, 64)


def is_face_model(config) -> bool:
    """True for a z/s model trained on 64x64 faces (by its ``config.dataset``), the kind the Few-shot
    page needs for photos of people."""
    from core.models import capabilities

    return (capabilities(config).has_split and tuple(config.image_shape[1:]) == FACE_SIZE
            and spec_for(config.dataset).is_face)


def model_configs(models: dict[str, Path] | None = None) -> dict:
    """Name -> ``ModelConfig`` of the listed models, read from config.json without loading weights;
    a checkpoint whose config cannot be read is left out."""
    from core.checkpoint import parse_model_config, read_config

    configs = {}
    for name, path in (list_models() if models is None else models).items():
        try:
            configs[name] = parse_model_config(read_config(path)["model"])
        except (CheckpointError, ValueError, TypeError, KeyError):
            continue
    return configs


def face_model_name(models: dict[str, Path] | None = None) -> str | None:
    """The listed model the Few-shot page opens for photos: a face model (``is_face_model``), CelebA
    before Yale B before the others, and a model named after its dataset (the shipped one) first.
    None when no listed model is a face model."""
    ranked = []
    for name, config in model_configs(models).items():
        if is_face_model(config):
            ranked.append((spec_for(config.dataset).face_rank, name != config.dataset, name))
    return min(ranked)[2] if ranked else None


class NotAllowed(CheckpointError):
    """A model name that is not in the list, or a path outside the allow-listed roots."""


class UnknownModel(NotAllowed):
    """A model name that is not in the list (its message lists the names there are)."""


def resolve_model(name: str, models: dict[str, Path] | None = None, *, what: str = "model") -> Path:
    """The folder of the model called ``name`` in ``list_models()``; never a path the user typed."""
    models = list_models() if models is None else models
    if not isinstance(name, str) or name not in models:
        shown = ", ".join(list(models)[:20]) or "none"
        raise UnknownModel(f"unknown {what} {str(name)[:60]!r}; available: {shown}")
    return models[name]


def check_path(path: str | Path) -> Path:
    """``path`` resolved; in public mode it must lie inside an allow-listed root (else ``NotAllowed``)."""
    resolved = Path(path).expanduser().resolve()
    if public_mode() and not is_allowed(resolved):
        raise NotAllowed("this model is not one of the server's models")
    return resolved


# ------------------------------------------------------------------------------------- messages

def user_message(err: Exception, what: str = "This model") -> str:
    """What a user is told about ``err``. In public mode the details (which name files and folders)
    go to the server log only."""
    if not public_mode():
        return str(err)
    log.warning("%s: %s: %s", what, type(err).__name__, err)
    if isinstance(err, NotAllowed):
        return f"{what} is not one of the server's models."
    if isinstance(err, CheckpointError):
        return f"{what} cannot be opened: its files are missing, damaged or incompatible (details in the server log)."
    if isinstance(err, DataError):
        return f"{what}: the sample images cannot be loaded (details in the server log)."
    return f"{what}: something went wrong (details in the server log)."


def cannot_open(err: Exception, what: str = "this model") -> str:
    """What both apps say when a model cannot be opened (``user_message``'s wording in public mode)."""
    return user_message(err, what[:1].upper() + what[1:]) if public_mode() else f"Cannot open {what}: {err}"


def no_sample_images(err: Exception, what: str = "this model") -> str:
    """What both apps say when a model's sample images cannot be loaded."""
    return user_message(err, what[:1].upper() + what[1:]) if public_mode() else f"No sample images for {what}: {err}"


# ---------------------------------------------------------------------------------------- cache

@dataclass(frozen=True)
class Loaded:
    """A checkpoint as the cache holds it: the model (shared by every session: never train it in place)
    and what was saved beside it."""

    path: Path  # resolved
    model: torch.nn.Module
    latents: dict[str, torch.Tensor]
    metrics: dict  # metrics.json as stored
    results: Metrics  # the same, typed (core.evaluation.result)


class ModelStore:
    """Thread-safe LRU cache of models, galleries and gallery codes, keyed by resolved path."""

    def __init__(self, max_entries: int = 24):
        self.max_entries = max_entries
        self._items: OrderedDict[Hashable, object] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[Hashable, threading.Lock] = {}

    def _get(self, key: Hashable, make: Callable[[], object]):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:  # a second caller of the same key waits for the first one's result
            with self._lock:
                if key in self._items:
                    return self._items[key]
            value = make()
            with self._lock:
                self._items[key] = value
                self._loading.pop(key, None)
                while len(self._items) > self.max_entries:
                    self._items.popitem(last=False)
            return value

    def cached(self, kind: str, path: str | Path, *extra) -> bool:
        resolved = Path(path).resolve()
        with self._lock:
            return (kind, str(resolved), weights_time(resolved), *extra) in self._items

    def load(self, path: str | Path) -> Loaded:
        resolved = check_path(path)

        def make() -> Loaded:
            metrics = load_metrics(resolved)
            return Loaded(resolved, load_model(resolved), load_latents(resolved), metrics, Metrics.from_dict(metrics))
        return self._get(("model", str(resolved), weights_time(resolved)), make)

    def gallery(self, path: str | Path, data_dir: str = "") -> ImageSet:
        """A model's sample images; a local face dataset aligned by dlib (CelebA: a minute and more the first time)
        is read in a worker process, so the server's interpreter keeps answering the other sessions."""
        from core import workers
        from core.gallery import dataset_images, load_gallery
        loaded = self.load(path)
        data_key = str(Path(data_dir).resolve()) if data_dir else ""
        load = (lambda *args: workers.run(dataset_images, *args)) if spec_for(loaded.model.config.dataset).landmarks \
            else dataset_images
        return self._get(("gallery", str(loaded.path), weights_time(loaded.path), data_key),
                         lambda: load_gallery(loaded.model, loaded.latents, data_dir=data_dir or None, load=load))

    def codes(self, path: str | Path, data_dir: str = ""):
        from core.gallery import encoding

        loaded = self.load(path)
        data_key = str(Path(data_dir).resolve()) if data_dir else ""
        return self._get(("codes", str(loaded.path), weights_time(loaded.path), data_key),
                         lambda: encoding(loaded.model, self.gallery(path, data_dir)))

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


STORE = ModelStore()


def warm_up(names: list[str] | None = None, *, data_dir: str = "") -> list[str]:
    """Load models, their sample images and codes into ``STORE`` (a server does this before it takes
    its first visitor). Returns the names warmed; a model that fails is logged and skipped."""
    models = list_models()
    warmed = []
    for name in names if names is not None else list(models)[:STORE.max_entries // 3]:
        if name not in models:
            continue
        try:
            loaded = STORE.load(models[name])
            STORE.gallery(models[name], data_dir)
            if loaded.model.has_split:
                STORE.codes(models[name], data_dir)
            warmed.append(name)
        except (CheckpointError, DataError, OSError) as err:
            log.warning("warm-up of %s skipped: %s", name, err)
    return warmed
