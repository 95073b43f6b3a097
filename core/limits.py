"""Caps on every count a user controls, in one place, so the Streamlit pages, the Gradio app and the
API all enforce the same ones (the widgets show them too, but a widget is not a guard: a crafted
request or a future page must not get past ``core``).

Each cap keeps one request's memory and CPU time bounded on a small shared server: decoding is done
in batches of ``DECODE_BATCH`` images, so even the largest request holds a few MB of activations at a
time, and a request over a cap is refused with a ``LimitError`` whose message says what to change.
"""

from __future__ import annotations

DECODE_BATCH = 256  # images decoded per forward pass (a 64 x 64 RGB batch of 256 is about 12 MB of output)
MAX_DECODES = 2_048  # images one request may decode (a swap grid of 12 x 12 is 144; a 16 x 16 interpolation grid 256)
MAX_ROWS = 50  # rows of a sampling grid: classes, or chosen gallery images
MAX_SAMPLES_PER_ROW = 64  # z draws per row
MAX_PICKS = 50  # gallery numbers typed into one box
MAX_PICK_CHARS = 400  # characters of that box
MAX_ZIP_IMAGES = 2_000  # images in one exported zip
MAX_ZIP_BYTES = 16 * 2**20  # bytes of one exported zip (kept in the session until downloaded)
MAX_MAP_POINTS = 10_000  # codes in one t-SNE / UMAP / PCA map
MAX_COMPARE_MODELS = 6  # models side by side on the Compare page
MAX_GRID_SIDE = 12  # rows or columns of a swap grid (both apps' sliders)
MAX_INTERPOLATION_STEPS = 16  # images in an interpolation strip (the page's grid is steps x steps)
MAX_SAMPLES_SHOWN = 32  # z draws per row offered by the sampling widgets (MAX_SAMPLES_PER_ROW guards requests)
MAX_PHOTOS = 10  # photos of one new identity (few-shot)
MAX_FINE_TUNE_STEPS = 500  # fine-tuning steps of a few-shot copy
MAX_LIVE_STEPS = 5_000  # steps of a Train live run
MAX_LIVE_DIMS = 32  # z or s dimensions of a Train live model
HEAVY_DECODES = 512  # a decode of more images than this is a heavy job (core.jobs)
MAX_GRADIENT_FACES = 64  # faces tools.classifier_gradients pushes along a classifier's gradient
MAX_GRADIENT_STEPS = 1_000  # its signed-gradient steps per face


class LimitError(ValueError):
    """A request over one of the caps above; the message is meant for the user and names no server path."""


def check(what: str, value: int, limit: int, hint: str = "") -> int:
    """``value`` if it is at most ``limit``, else a ``LimitError`` that names the limit (and what to do)."""
    if value > limit:
        raise LimitError(f"{what}: {value:,} asked, the limit is {limit:,}" + (f"; {hint}" if hint else "."))
    return value
