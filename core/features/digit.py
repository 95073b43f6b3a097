"""A drawn digit, read by a digit model: which class its s is nearest to, and its z written as every digit.

Both the Draw-a-digit page and the Gradio sketch tab call ``read_digit`` and show what it returns; the
model they open for a drawing is ``digit_model`` (the chosen model when it reads 28x28 grey digits).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core import service, session
from core.features import picture
from core.sketch import SketchError, read_sketch

__all__ = ["DigitReading", "SketchError", "digit_model", "read_digit"]


@dataclass(frozen=True)
class DigitReading:
    seen: np.ndarray  # (28, 28) uint8: what the model sees
    every_class: np.ndarray  # (28, K * 28) uint8: the drawing's z with each class's mean s
    names: list[str]  # class names, in class order
    nearest: list[tuple[str, float]]  # (class name, distance of s to its mean s), nearest first

    @property
    def best(self) -> str:
        return self.nearest[0][0]

    @property
    def headline(self) -> str:
        return f"Looks like: {self.best}"

    def nearest_text(self) -> str:
        return ("Nearest class prototypes of its s (distance to each class's mean s, lower is closer): "
                + ", ".join(f"**{name}** ({d:.2f})" for name, d in self.nearest))

    def every_class_caption(self) -> str:
        return f"Your hand, as every digit: the z of your drawing with each class's mean s ({', '.join(self.names)})."

    def text(self) -> str:
        """The whole reading in one Markdown line (the Gradio tab)."""
        return f"**{self.headline}**. {self.nearest_text()}."


def read_digit(loaded: session.Loaded, canvas: np.ndarray) -> DigitReading:
    """``canvas`` (a drawing or a photo of a digit, any size, grey, RGB or RGBA) read by ``loaded``.
    ``SketchError`` (a message for the user) when there is no ink or the model cannot read digits."""
    reading = read_sketch(loaded.model, loaded.latents, np.asarray(canvas))
    count = reading.every_class.shape[0]
    names = list(loaded.model.config.class_names or [str(k) for k in range(count)])
    return DigitReading(picture(reading.image[None]), picture(reading.every_class), names,
                        [(names[k], d) for k, d in reading.nearest])


def digit_model(selected: str, models: dict[str, Path] | None = None) -> str | None:
    """The model a drawing goes to when ``selected`` is chosen: None when ``selected`` itself reads 28x28 grey
    digits (or is not a listed name, or no listed model does), else the listed digit model (``mnist`` first)."""
    models = service.list_models() if models is None else models
    digits = session.digit_models(models)
    if selected not in models or selected in digits or not digits:
        return None
    return digits[0]


def instead_note(pick: str, selected: str, where: str = "the model chosen") -> str:
    """Why the page reads drawings with ``pick``; ``where`` names the place ``selected`` was chosen in (the front end's)."""
    return f"Drawings are digits, so this page uses **{pick}** instead of **{selected}** ({where}, still used by the other pages)."
