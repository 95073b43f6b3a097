"""Draw a digit: your drawing's s (which digit it looks like) and its z (your hand, as every digit).

The drawing (a canvas from ``streamlit-drawable-canvas``, or a photo of a digit on paper) is centred
and scaled as MNIST's digits were and encoded by ``core.sketch``; s is compared with the checkpoint's
per-class mean s, and z is decoded with each of them (report Fig. 4.8, one row).
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from core.features import UploadError, list_models, load_image
from core.features.digit import SketchError, digit_model, instead_note, read_digit
from pages.widgets import OTHER, data_dir_ui, explain, model_picker_ui, open_model, page_header, show

CANVAS = 280  # pixels; ten times MNIST's 28


def digit_model_ui(path: str | None) -> str | None:
    """The sidebar's model when it reads 28x28 grey digits, else the listed ``mnist`` (said in one line)."""
    name = st.session_state.get("checkpoint", "")
    pick = digit_model(name) if path and name != OTHER else None
    if pick is None:
        return path
    st.info(instead_note(pick, name, "the sidebar's model"), icon=":material/draw:")
    return str(list_models()[pick])


def drawing_ui() -> np.ndarray | None:
    """The canvas (white ink on black, like MNIST), or an uploaded photo of a digit; None when neither has anything."""
    from streamlit_drawable_canvas import st_canvas

    left, right = st.columns([1, 1])
    with left:
        result = st_canvas(stroke_width=20, stroke_color="#FFFFFF", background_color="#000000", height=CANVAS,
                           width=CANVAS, drawing_mode="freedraw", return_image_data=True, key="sketch_canvas")
        st.caption("Draw one digit, large, with the mouse or a finger. The bin icon under the canvas clears it.")
    with right:
        photo = st.file_uploader("…or a photo of a digit on paper", type=["png", "jpg", "jpeg", "webp", "bmp"],
                                 key="sketch_photo")
    if photo is not None:
        try:
            return np.asarray(load_image(photo.getvalue(), photo.name))
        except UploadError as err:
            st.error(str(err))
            return None
    image = result.image_data if result is not None else None
    return None if image is None else np.asarray(image)


def main() -> None:
    page_header("Draw a digit",
                "Draw a digit: the model reads its **s** (which digit it looks like) and its **z** (how it is written), "
                "then writes your hand as every other digit.")
    ctx = open_model(digit_model_ui(model_picker_ui()), data_dir_ui())
    if ctx is None:
        return
    canvas = drawing_ui()
    if canvas is None:
        st.info("Draw a digit on the black canvas (or upload a photo of one) to see what the model makes of it.")
        return
    try:
        reading = read_digit(ctx.loaded, canvas)
    except SketchError as err:
        st.warning(str(err).capitalize() + ".")
        return
    st.subheader(reading.headline)
    st.write(reading.nearest_text())
    cols = st.columns([1, 5])
    with cols[0]:
        show(reading.seen, "What the model sees (28x28)", width=112)
    with cols[1]:
        show(reading.every_class, reading.every_class_caption(), width=900)
    explain("The drawing is cropped to its ink, scaled so its longer side is 20 pixels and centred by its centre of "
            "mass in a 28x28 frame, as MNIST's digits were. The encoder splits it into s (the class code) and z (the "
            "rest: slant, thickness, size). The nearest class is the one whose mean s, over the training images, is "
            "closest to yours; the row decodes your z with every class's mean s. Report Fig. 4.8.")


main()
