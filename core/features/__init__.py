"""What the app does, once, for both front ends: one module per feature, returning what a front end shows.

The Streamlit pages (``pages/``) and the Gradio app (``app_gradio.py``) call these functions and only lay
out widgets, so the two cannot drift apart: the same caps (``core.limits``), the same refusals and the
same texts. Results are pictures as uint8 arrays (``picture``), captions and messages already worded;
errors are ``core.limits.LimitError`` and the ``ValueError`` subclasses of ``core`` (``UploadError``,
``SketchError``, ``DataError``, ``CheckpointError``), whose messages are meant for the user.

- ``codes``: encode an image, decode codes, swap a pair, an interpolation strip, a prior-sampling grid.
- ``api``: the Gradio app's endpoints (a checkpoint by name, uploads by file), every refusal worded.
- ``photos``: a few-shot session on photos of a new identity (which model, crops, zero-shot, likeness,
  fine-tuning, the mixed grid, the strip from a known identity, the identity map).
- ``expressions``: one face under every expression a model knows, with strips from neutral to each (the
  Expressions page and the Gradio tab).
- ``digit``: a drawn digit read by a digit model.
- ``grids``, ``sliders``, ``maps``, ``compare``, ``home``: the Streamlit pages of the same names.
- ``scores``: a checkpoint's measured numbers beside the published ones (the Metrics page, the home card).
- ``figures``: Plotly figures of codes (latent maps, the identity map, the compared models' maps).
- ``live``: a live training run (Train live): its state, its training in a worker process, the quick
  evaluation and the save.
- ``shell``: what every page needs around its feature: the server's models, opening one with its sample
  images, the heavy-job pool, a Streamlit server's one-time start-up.
- ``registry``: the Streamlit app's pages (the navigation, and what the tests and ``tools.browser`` open).
- ``views``: ``Tile``, ``View``, ``picture``, ``enlarged``: what the others return.

The door: ``app.py``, ``pages/`` and ``app_gradio.py`` import only this package and ``core.settings``
(``tests/test_layout.py`` checks it). What they need from the rest of ``core`` (``core.service``,
``core.session``, ``core.jobs``, the limits, the errors) is named below and re-exported here, so those
modules are this layer's insides. Importing ``core.features`` is light (no torch, like ``core``): each
name loads its module on first use (PEP 562), so ``app.py`` shows a cold server's preview before torch.

The heavy parts run in worker processes (``core.workers``); ``core.features.warm`` readies one before its first job.
"""

from __future__ import annotations

from core.lazy import lazy_exports

_EXPORTS = {  # module -> the names a front end takes from it
    "core.checkpoint": ("CheckpointError",),
    "core.data": ("DataError", "ImageSet"),
    "core.evaluation.result": ("Metrics",),
    "core.explore": ("INTERPOLATION_MODES", "png_bytes"),
    "core.features.registry": ("PAGES", "Page"),
    "core.features.shell": ("OTHER", "REFUSED", "Ctx", "cached", "heavy_job", "model_notes", "model_options",
                            "start_once", "warm_up_once"),
    "core.features.views": ("Tile", "View", "enlarged", "evenly_spread", "picture"),
    "core.gallery": ("label_name",),
    "core.jobs": ("Busy", "waiting_text"),
    "core.limits": ("MAX_FINE_TUNE_STEPS", "MAX_GRID_SIDE", "MAX_INTERPOLATION_STEPS", "MAX_PICK_CHARS", "MAX_PICKS",
                    "MAX_ROWS", "MAX_SAMPLES_SHOWN", "MAX_ZIP_IMAGES", "LimitError"),
    "core.models": ("Encoding", "Progress"),
    "core.saves": ("SaveError", "default_name"),
    "core.service": ("cannot_open", "cap_threads", "face_model_name", "list_models", "no_sample_images", "public_mode"),
    "core.session": ("Loaded", "digit_models", "gallery", "gallery_codes", "gallery_or_bundled", "no_split_note",
                     "open_path", "prototypes", "summary"),
    "core.shipped": ("cold_preview",),
    "core.sketch": ("SketchError",),
    "core.upload": ("MAX_BYTES", "UploadError", "box_fractions", "load_image", "starting_square"),
}
__all__, __getattr__, __dir__ = lazy_exports("core.features", _EXPORTS, globals())
