"""What every page needs around its feature: the server's models and the one a session opens, that model with its
sample images (``Ctx``), whether the cache holds them yet, the heavy-job pool, and what a Streamlit server does
once. Which models exist and the cache are ``core.service``; what is done with a model, ``core.session``; the
pool, ``core.jobs``: the front ends reach them through ``core.features``. No Streamlit here: ``pages.widgets``
draws the widgets around these.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core import jobs, service, session, settings
from core.data import ImageSet
from core.evaluation.result import Metrics
from core.limits import LimitError

OTHER = "Other folder…"  # the model list's entry for a folder typed by hand (a local, single-user server only)
REFUSED = (jobs.Busy, LimitError)  # what heavy_job raises when the pool refuses a job (the message says why)
_STARTED = threading.Lock()
_WARMING = threading.Lock()


def start_once(argv: list[str]) -> None:
    """What a Streamlit server does once, at its first page run (never at import): the flags after
    `streamlit run app.py --` (in ``argv``) become settings, and torch's threads are capped."""
    if not _STARTED.acquire(blocking=False):
        return
    settings.parse_script_flags(argv)
    service.cap_threads()


def warm_up_once() -> None:
    """Public servers load every listed model in the background from the first visit on (``python
    serve.py`` does it before taking visitors)."""
    now = settings.current()
    if now.warmed or not _WARMING.acquire(blocking=False):
        return
    settings.configure(warmed="background")
    threading.Thread(target=service.warm_up, kwargs={"data_dir": now.data_dir},
                     name="ccvae-warm-up", daemon=True).start()


@dataclass
class Ctx:
    """What a page works with: the chosen model (from ``core.session``) and its sample images."""

    loaded: session.Loaded
    gallery: ImageSet
    data_dir: str  # "" when the gallery is not a local dataset

    @property
    def path(self) -> str:  # resolved
        return str(self.loaded.path)

    @property
    def model(self):  # a torch module, shared by every session: never train it in place
        return self.loaded.model

    @property
    def latents(self) -> dict:
        return self.loaded.latents

    @property
    def metrics(self) -> Metrics:
        return self.loaded.results


def model_options(chosen: str | None) -> tuple[dict[str, Path], list[str], int]:
    """The listed models (name -> folder), the model list's options (their names; a local, single-user server also
    offers ``OTHER``) and the index of the option shown: ``chosen`` (this session's choice, None for none yet), else
    the default model (``Settings.default_model``), else the first."""
    models = service.list_models()
    names = list(models)
    options = names + ([] if service.public_mode() else [OTHER])
    default = settings.current().default_model
    if chosen is None:
        chosen = default if default in names else (options or [None])[0]
    return models, options, options.index(chosen) if chosen in options else 0


def cached(kind: str, path: str, data_dir: str = "") -> bool:
    """Whether the process-wide cache already holds the ``kind`` ("model", "gallery", "codes") of the model at
    ``path`` (with the sample images of ``data_dir``): a page shows a spinner only while it does not."""
    extra = () if kind == "model" else (str(Path(data_dir).resolve()) if data_dir else "",)
    return service.STORE.cached(kind, path, *extra)


def model_notes(loaded: session.Loaded, gallery: ImageSet) -> tuple[str, str | None]:
    """What the model list says under the open model: its summary and sample images, and for a PixelCNN decoder
    (PixelVAE) why decoding takes seconds (None for the others)."""
    model = loaded.model
    summary = f"{session.summary(model.config)}  \nimages: {gallery.name} ({len(gallery):,})"
    if not model.autoregressive:
        return summary, None
    return summary, (f"PixelCNN decoder (PixelVAE): every image is sampled pixel by pixel "
                     f"({model.config.image_shape[1] * model.config.image_shape[2]:,} steps), so decoding takes "
                     "seconds instead of milliseconds; a progress bar shows how far it is.")


def heavy_job(owner: str, what: str, work: Callable, *, key=None, alive: Callable[[], bool] | None = None,
              on_wait: Callable | None = None, on_progress: Callable | None = None):
    """Run ``work(report)`` in the server's heavy-job pool (``core.jobs``) for ``owner`` (a session id) and return its
    result; ``on_wait(ahead)`` meanwhile (None once it runs). One of ``REFUSED`` when the pool refuses it."""
    job = jobs.pool().submit(owner, what, work, key=key, alive=alive)
    return job.wait(on_wait=on_wait, on_progress=on_progress)
