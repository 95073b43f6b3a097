"""Your face in every expression (issue 30, report Fig. 4.13(b)), for the Expressions page and the Gradio tab alike.

``expression_model_name`` says which listed model knows expressions (the shipped ``expression`` first): a model with
a z/s split whose dataset spec says its s is the facial expression (``DatasetSpec.expression``) and whose checkpoint
stores each expression's mean s. ``Expressions`` holds one such model and turns a photo into what the front ends
show: the face as the model sees it (``prepare``: the safe upload path, ``core.upload.prepare_for``, aligned by dlib's
eye landmarks as the training photos were and made grey the same way, in a worker process), or one of the model's
sample images (``example``), then the face under every expression and a strip from neutral to each (``render``, over
``core.expressions.expression_renders``). Refusals are ``UploadError`` (no face, a model that knows no expressions)
and ``LimitError`` (too many photos, too many steps), worded for the user.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

import numpy as np
import torch

from core import service, session, workers
from core.checkpoint import CheckpointError, parse_model_config, read_config
from core.data import ImageSet, spec_for
from core.explore import png_bytes, tile
from core.expressions import MAX_EXPRESSIONS, NEUTRAL_NAMES, expression_renders
from core.features.views import View, evenly_spread, picture
from core.limits import MAX_INTERPOLATION_STEPS, LimitError, check
from core.models import capabilities
from core.upload import Prepared, UploadError, prepare_for

__all__ = ["DEFAULT_STEPS", "EXPRESSION_MODEL", "MAX_EXAMPLES", "MAX_STEPS", "ExpressionView", "Expressions", "Face",
           "check_one_photo", "expression_model_for", "expression_model_name", "expression_notes", "instead_text",
           "is_expression_model", "no_model_text", "ready_worker_once"]

EXPRESSION_MODEL = "expression"  # the shipped model (checkpoints/expression), preferred when listed
DEFAULT_STEPS = 6  # images per strip from neutral to an expression
MAX_STEPS = MAX_INTERPOLATION_STEPS
MAX_EXAMPLES = 8  # sample images offered as example faces
MAX_PREPARED = 4  # prepared photos kept per session (a cache keyed by the photo's bytes)


def is_expression_model(config) -> bool:
    """A z/s model whose s is the facial expression (its dataset spec says so)."""
    return capabilities(config).has_split and spec_for(config.dataset).expression


def expression_model_name(models: dict | None = None) -> str | None:
    """The listed model (default: the server's) this view opens: the shipped ``expression`` when listed, else the
    first expression model by name; None when no listed model knows expressions."""
    names = sorted(n for n, c in service.model_configs(models).items() if is_expression_model(c))
    return EXPRESSION_MODEL if EXPRESSION_MODEL in names else (names[0] if names else None)


def expression_model_for(path: str | None, models: dict | None = None) -> tuple[str | None, str | None]:
    """(the folder this view opens, the listed model's name when it is not ``path``'s): ``path`` itself when it is an
    expression model (or cannot be read: opening it says why), else the listed expression model
    (``expression_model_name``); (None, None) when neither knows expressions."""
    if path:
        try:
            if is_expression_model(parse_model_config(read_config(path)["model"])):
                return path, None
        except CheckpointError:
            return path, None
    models = service.list_models() if models is None else models
    name = expression_model_name(models)
    return (None, None) if name is None else (str(models[name]), name)


def instead_text(pick: str, selected: str, where: str = "the model chosen") -> str:
    """Why this view opens ``pick``; ``where`` names the place ``selected`` was chosen in (the front end's)."""
    return (f"Faces in every expression need a model whose s is the expression, so this view uses **{pick}** instead "
            f"of {selected} ({where}, still used elsewhere).")


def no_model_text() -> str:
    """What a front end says when no listed model knows expressions."""
    return ("**No expression model here.** This view needs a model whose **s** is the facial expression (trained on "
            "the JAFFE + Yale faces expressions, like the shipped **expression** model), with each expression's mean "
            "s stored beside its weights. None of the listed models is one.")


def check_one_photo(count: int) -> None:
    """``LimitError`` unless exactly one photo is given: this view renders one face at a time."""
    if count == 0:
        raise LimitError("no photo: upload a photo of one face, or take one with the webcam")
    if count > 1:
        raise LimitError(f"{count} photos sent; this view renders one face at a time: send one")


@dataclass(frozen=True)
class Face:
    """One face as the model sees it."""

    x: torch.Tensor  # (C, H, W) in [0, 1]
    name: str
    notes: tuple[str, ...] = ()

    @property
    def digest(self) -> str:
        return hashlib.sha1(self.x.numpy().tobytes()).hexdigest()


@dataclass(frozen=True)
class ExpressionView:
    """What the front ends draw: the face, its reconstruction, the face under every expression, the strips."""

    face: Face
    names: list[str]  # the expressions, in the model's label order
    seen: np.ndarray  # uint8: the face as the model sees it | its reconstruction Dec(z, s)
    row: np.ndarray  # uint8: the face under every expression, side by side
    renders: list[np.ndarray]  # uint8: one picture per expression
    strips: list[View]  # per expression but the start: from the start (neutral) to it
    start: str  # where the strips start

    @property
    def row_caption(self) -> str:
        return f"{self.face.name}, left to right: {', '.join(self.names)} (its z kept, each expression's mean s)"

    @property
    def seen_caption(self) -> str:
        return f"{self.face.name}: what the model sees (left) and its reconstruction Dec(z, s) (right)"

    def grid(self) -> np.ndarray:
        """Every strip as one picture, a row per expression (the download)."""
        return np.concatenate([strip.picture for strip in self.strips], axis=0)

    def png(self) -> bytes:
        """``grid()`` as PNG file bytes."""
        grid = self.grid()
        return png_bytes(grid if grid.ndim == 3 else grid[..., None])

    def text(self) -> str:
        """The view in Markdown (the Gradio tab's notes)."""
        lines = [f"**{self.face.name}** under {len(self.names)} expressions: {', '.join(self.names)}."]
        lines += [f"- {note}" for note in self.face.notes]
        others = [n for n in self.names if n != self.start]
        lines.append(f"\nStrips, a row each: from {self.start} (left) to {', '.join(others)} (right).")
        return "\n".join(lines)


_WARMING = threading.Lock()


def _warm() -> None:
    """In a worker: dlib's detector and landmark model loaded, so that the first photo is aligned at once."""
    from core import align

    if align.available():
        align.find_faces(np.zeros((64, 64, 3), np.uint8))


def ready_worker_once() -> None:
    """Start a worker process with dlib loaded, once per server, in the background: the view calls it when it opens,
    so the first photo does not wait for a process to start (``serve.py`` readies one for every server anyway)."""
    if _WARMING.acquire(blocking=False):
        workers.prestart(_warm)


class Expressions:
    """One expression model's view. ``UploadError`` when the model knows no expressions (no z/s split, its s is not
    the expression, or no mean s per expression stored), saying which."""

    def __init__(self, loaded: session.Loaded):
        config = loaded.model.config
        why_not = session.no_split_note(config, "Your face in every expression")
        if why_not:
            raise UploadError(why_not)
        spec = spec_for(config.dataset)
        if not spec.expression:
            raise UploadError(f"This model's s is {spec.s_words or 'its class'} ({spec.title}), not a facial "
                              "expression: open an expression model, such as the shipped **expression**.")
        means = loaded.latents.get("class_mean_s")
        if means is None:
            raise UploadError("This checkpoint stores no mean s per expression (its latent statistics are missing), "
                              "so it cannot render a face in each: open a checkpoint saved with them.")
        names = list(config.class_names or [f"expression {i}" for i in range(means.shape[0])])
        if len(names) != means.shape[0]:
            raise UploadError(f"This checkpoint names {len(names)} expressions but stores {means.shape[0]} mean s codes.")
        self.loaded, self.model, self.means, self.names = loaded, loaded.model, means, names

    @property
    def known(self) -> str:
        """What the model knows, in one line."""
        shown = self.names[:MAX_EXPRESSIONS]
        more = f" (the first {MAX_EXPRESSIONS} are shown)" if len(self.names) > MAX_EXPRESSIONS else ""
        return f"The expression model knows {len(self.names)} expressions: {', '.join(shown)}{more}."

    def explanation(self) -> str:
        """What the pictures are, in words."""
        spec = spec_for(self.model.config.dataset)
        return (f"The face is encoded once. Its **z** ({spec.z_words}) is kept and decoded with the mean **s** of each "
                f"expression over the training photos ({spec.title}). Each strip moves s in a straight line from the "
                "neutral expression's mean (for a model without one, the face's own s) to an expression's, z fixed. "
                "The model was trained on few people, in crops aligned by the eyes: a stranger's face comes out "
                "blurred and partly like the training people; the expression is what carries over. "
                "Report Fig. 4.13(b).")

    def prepare(self, data: bytes, name: str = "upload", cache: dict | None = None) -> Face:
        """A photo's bytes (a file or a webcam frame) as the model sees it: the safe upload path (caps, decoding,
        dlib's detection and eye alignment as the dataset spec wants, grey as the training photos), in a worker
        process. ``UploadError`` when the file cannot be read or no face is found in it. ``cache``: a session's dict."""
        config = self.model.config
        key = (hashlib.sha1(data).hexdigest(), name, config.image_shape, config.dataset)
        cache = {} if cache is None else cache
        if key not in cache:
            stats = {k: v for k, v in self.loaded.latents.items() if k == "pixel_stats"}
            try:  # dlib's detector holds the interpreter while it looks: a worker process, never the server's
                cache[key] = workers.run(prepare_for, config, stats, data, name=name)
            except UploadError as err:
                cache[key] = err
            while len(cache) > MAX_PREPARED:
                cache.pop(next(iter(cache)))
        result: Prepared | UploadError = cache[key]
        if isinstance(result, UploadError):
            raise result
        if not result.face_found:
            raise UploadError(f"No face found in {name}: use a photo of one face looking at the camera, large enough "
                              "and well lit (the model was trained on such crops).")
        notes = [] if result.aligned or not spec_for(config.dataset).landmarks else \
            ["framed by OpenCV's face detector (dlib found no face to align by its eyes): the crop may sit a little "
             "differently from the training photos'"]
        return Face(result.tensor, name, tuple(result.notes + notes))

    def examples(self, gallery: ImageSet) -> list[int]:
        """Indices of up to ``MAX_EXAMPLES`` sample images to offer as example faces: the neutral ones first."""
        neutral = next((self.names.index(n) for n in NEUTRAL_NAMES if n in self.names), None)
        pool = torch.arange(len(gallery))
        if neutral is not None and bool((gallery.labels == neutral).any()):
            pool = torch.nonzero(gallery.labels == neutral).flatten()
        return pool[evenly_spread(pool.numel(), MAX_EXAMPLES)].tolist()

    def example(self, gallery: ImageSet, index: int) -> Face:
        """Sample image ``index`` (already aligned: a local dataset's held-out people, else the model's own faces)."""
        if not 0 <= index < len(gallery):
            raise UploadError(f"no example face #{index}; there are {len(gallery)}")
        label = self.names[int(gallery.labels[index])] if int(gallery.labels[index]) < len(self.names) else ""
        return Face(gallery.floats(index), f"example #{index} ({gallery.name}{', ' + label if label else ''})")

    def render(self, face: Face, steps: int = DEFAULT_STEPS, expressions: int = MAX_EXPRESSIONS) -> ExpressionView:
        """The face under every expression (at most ``expressions``, capped at ``MAX_EXPRESSIONS``), with a strip of
        ``steps`` images (2 to ``MAX_STEPS``) from neutral to each. ``LimitError`` over the caps."""
        steps = int(steps)
        if steps < 2:
            raise LimitError(f"a strip needs at least 2 images, {steps} asked")
        check("images in one expression strip", steps, MAX_STEPS, "use fewer steps")
        check("expressions rendered", int(expressions), MAX_EXPRESSIONS)
        out = expression_renders(self.model, face.x, self.means, names=self.names, steps=steps,
                                 max_expressions=max(1, int(expressions)))
        seen = picture(torch.stack([face.x, out.reconstruction]))
        strips = [View(picture(out.strips[e]), f"{out.start} → {name}") for e, name in enumerate(out.names)
                  if name != out.start]  # neutral -> neutral would be one image repeated
        return ExpressionView(face, out.names, seen, tile(out.renders, nrow=len(out.names)),
                              [picture(r[None]) for r in out.renders], strips, out.start)


def expression_notes(loaded: session.Loaded, photo: tuple[str, bytes], steps: int = DEFAULT_STEPS
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """The Gradio tab in one call: a photo (name, bytes) -> what the model sees with its reconstruction, the face
    under every expression, the strips (a row per expression) and notes in Markdown. ``UploadError`` or
    ``LimitError`` saying why not."""
    view = Expressions(loaded)
    shown = view.render(view.prepare(photo[1], photo[0]), steps)
    return shown.seen, shown.row, shown.grid(), shown.text()
