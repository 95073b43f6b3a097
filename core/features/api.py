"""The Gradio app's endpoints, without Gradio: a checkpoint is a name ``core.service.list_models`` lists, never a path;
an upload is a file that ``core.upload`` reads within its limits; what comes back is a picture (uint8) or codes.

Every refusal is one of ``USER_ERRORS``, its message meant for the user (in public mode none names a server path):
``app_gradio.py`` turns them into ``gr.Error`` and shows these functions' docstrings on its API page.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core import jobs, service, session
from core.checkpoint import CheckpointError
from core.data import DataError
from core.features import codes, digit
from core.features.expressions import check_one_photo, expression_notes
from core.features.photos import check_photo_count, zero_shot_notes
from core.limits import LimitError
from core.sketch import SketchError
from core.upload import UploadError, load_image, read_file


class Refused(ValueError):
    """A checkpoint that cannot be opened, a file that cannot be read, a model without sample images: the message
    says which and why."""


USER_ERRORS = (LimitError, UploadError, SketchError, codes.CodeError, jobs.Busy, Refused)


def checkpoint_names() -> list[str]:
    return list(service.list_models())


def open_checkpoint(name: str | None) -> session.Loaded:
    """The model called ``name`` in the allow-listed roots (``core.session.open_model``): a name from the
    list, never a path."""
    try:
        return session.open_model(name, what="checkpoint")
    except service.UnknownModel as err:
        raise Refused(str(err)) from None
    except CheckpointError as err:
        raise Refused(service.cannot_open(err, f"checkpoint {name!r}")) from None


def file_bytes(path: str | None, what: str) -> bytes | None:
    """An uploaded file's bytes (size checked before reading), None when nothing was uploaded."""
    if path is None:
        return None
    try:
        return read_file(path, f"the {what}")
    except OSError:
        raise Refused(f"the {what} could not be read; upload it again") from None


def _gallery_refused(err: DataError) -> Refused:
    return Refused(service.no_sample_images(err, "this checkpoint"))


def encode(image: str | None, checkpoint: str) -> dict[str, list[float]]:
    """Image -> {"z_mu": [...], "z_logvar": [...], "s": [...]}."""
    return codes.encode_image(open_checkpoint(checkpoint), file_bytes(image, "image"))


def decode(z: list[float], s: list[float], checkpoint: str) -> np.ndarray:
    """Codes -> the decoded image Dec(z, s)."""
    return codes.decode_codes(open_checkpoint(checkpoint), z, s)


def swap(z_image: str | None, s_image: str | None, checkpoint: str) -> np.ndarray:
    """Dec(z of z_image, s of s_image): the style of one image with the class of the other."""
    return codes.swap_pair(open_checkpoint(checkpoint), file_bytes(z_image, "z image"), file_bytes(s_image, "s image"))


def interpolation(image_a: str | None, image_b: str | None, steps: float, mode: str, checkpoint: str) -> np.ndarray:
    """A strip of ``steps`` images from A to B, moving z, s or both (report Fig. 4.9)."""
    return codes.interpolation_strip(open_checkpoint(checkpoint), file_bytes(image_a, "image A"),
                                     file_bytes(image_b, "image B"), int(steps), mode)


def gallery_swap_grid(rows: float, cols: float, seed: float, checkpoint: str) -> np.ndarray:
    """Random sample images as z sources (left column), one per class as s sources (top row)."""
    try:
        return codes.gallery_swap_grid(open_checkpoint(checkpoint), int(rows), int(cols), int(seed))
    except DataError as err:
        raise _gallery_refused(err) from None


def sample(n: float, seed: float, checkpoint: str, owner: str) -> np.ndarray:
    """One row per class (its mean s; at most 50 classes, evenly spread), one column per draw of z from the
    prior (report Fig. 4.10)."""
    return codes.prior_grid(open_checkpoint(checkpoint), int(n), int(seed), owner)


def fewshot(files: list[str] | None, crop: str, checkpoint: str) -> tuple[np.ndarray, np.ndarray, str]:
    """Zero-shot: the mean s of the uploaded photos rendered with every stored z (report Fig. 4.14).

    Returns the crops the model sees, the new identity under each stored style, and notes."""
    loaded = open_checkpoint(checkpoint)
    check_photo_count(len(files or []))
    return zero_shot_notes(loaded, [(Path(f).name, file_bytes(f, Path(f).name)) for f in files], crop)


def expressions(photo: str | list[str] | None, steps: float, checkpoint: str
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Your face in every expression (report Fig. 4.13(b)): one photo of a face, found and aligned by its eyes as the
    expression model's training photos were, its z kept and decoded with each expression's mean s.

    ``checkpoint``: a model whose s is the expression (the shipped ``expression``); ``steps``: images per strip.
    Returns what the model sees beside its reconstruction, the face under every expression (left to right, in the
    model's label order), the strips from neutral to each expression (a row each) and notes in Markdown."""
    loaded = open_checkpoint(checkpoint)
    photos = [] if photo is None else [photo] if isinstance(photo, str) else list(photo)
    check_one_photo(len(photos))
    name = Path(photos[0]).name
    return expression_notes(loaded, (name, file_bytes(photos[0], name)), int(steps))


def sketch(drawing: dict | None, checkpoint: str) -> tuple[np.ndarray, np.ndarray, str]:
    """A hand-drawn digit: what the model sees (MNIST-style 28x28), its z decoded with every class's mean s,
    and the classes its s is nearest to."""
    loaded = open_checkpoint(checkpoint)
    canvas = drawing.get("composite") if isinstance(drawing, dict) else drawing
    if canvas is None:
        raise Refused("nothing drawn: draw a digit on the sketchpad first")
    if isinstance(canvas, str):  # an API client sent a file
        canvas = np.asarray(load_image(file_bytes(canvas, "drawing"), name="the drawing"))
    reading = digit.read_digit(loaded, np.asarray(canvas))
    return reading.seen, reading.every_class, reading.text()


def sample_images(seed: float, checkpoint: str, *, count: int) -> np.ndarray | tuple[np.ndarray, ...]:
    """``count`` random sample images, to fill image inputs."""
    try:
        pictures = tuple(codes.sample_pictures(open_checkpoint(checkpoint), count, int(seed)))
    except DataError as err:
        raise _gallery_refused(err) from None
    return pictures[0] if count == 1 else pictures


def split_codes(values: dict[str, list[float]]) -> tuple[list[float], list[float]]:
    return values["z_mu"], values["s"]
