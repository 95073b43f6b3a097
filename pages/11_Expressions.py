"""Your face in every expression (report Fig. 4.13(b)): a photo's z kept, each expression's mean s swapped in.

Upload a photo or take one with the webcam (or pick one of the model's sample faces): it goes through the safe upload
path (caps, dlib's face detection and eye alignment, grey as the training photos) and is rendered under every
expression the model knows, with a strip from neutral to each. What is computed and said is
``core.features.expressions`` (shared with the Gradio tab); this page lays it out. Uploads live in this session only.
"""

from __future__ import annotations

import streamlit as st

from core.features import LimitError, UploadError
from core.features.expressions import (
    DEFAULT_STEPS,
    MAX_STEPS,
    Expressions,
    Face,
    expression_model_for,
    instead_text,
    no_model_text,
    ready_worker_once,
)
from pages.widgets import OTHER, data_dir_ui, explain, model_picker_ui, open_model, page_header, show

SOURCES = ("Photo file", "Webcam", "Example face")
UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff"]
REFUSED = "refused"  # face_ui said why no face can be used


def expression_model_ui(path: str | None) -> str | None:
    """The sidebar's model when its s is the expression, else the listed expression model (said in one line);
    None after saying that no model knows expressions."""
    folder, instead = expression_model_for(path)
    if folder is None:
        st.info(no_model_text(), icon=":material/sentiment_neutral:")
    elif instead is not None:
        selected = st.session_state.get("checkpoint", "")
        selected = "the folder in the sidebar" if selected in ("", OTHER) else f"**{selected}**"
        st.info(instead_text(instead, selected, "the sidebar's model"), icon=":material/mood:")
    return folder


def face_ui(view: Expressions, ctx) -> Face | str | None:
    """The face to render: a photo file, a webcam shot or a sample face; None when none is given yet, ``REFUSED``
    after saying why the given one cannot be used."""
    source = st.radio("Face from", SOURCES, horizontal=True, key="expr_source")
    if source == SOURCES[2]:
        examples = view.examples(ctx.gallery)
        index = st.selectbox(f"Example face ({ctx.gallery.name})", examples, key="expr_example",
                             format_func=lambda i: f"#{i}")
        return view.example(ctx.gallery, int(index))
    if source == SOURCES[0]:
        file = st.file_uploader("A photo of one face", type=UPLOAD_TYPES, key="expr_file")
        photo = None if file is None else (file.name, file.getvalue())
    else:
        shot = st.camera_input("Take a photo (one face, looking at the camera)", key="expr_camera")
        photo = None if shot is None else ("webcam.jpg", shot.getvalue())
    if photo is None:
        return None
    try:
        with st.spinner("Finding and aligning the face…"):
            return view.prepare(photo[1], photo[0], cache=st.session_state.setdefault("expr_prepared", {}))
    except (UploadError, LimitError) as err:
        st.error(str(err))
        return REFUSED


def main() -> None:
    page_header("Your face in every expression",
                "Upload a photo of a face, or take one with the webcam. The model keeps what its **z** holds (the "
                "person, the light, the pose) and swaps in each expression's mean **s**: you see the face under every "
                "expression the model knows, and a slow change from neutral to each.")
    path = expression_model_ui(model_picker_ui())
    if path is None:
        return
    ready_worker_once()  # while the model loads: the first photo then finds dlib ready in a worker
    ctx = open_model(path, data_dir_ui())
    if ctx is None:
        return
    try:
        view = Expressions(ctx.loaded)
    except UploadError as err:
        st.error(str(err))
        return
    st.caption(view.known)
    face = face_ui(view, ctx)
    if face == REFUSED:
        return
    steps = st.slider("Images per strip", 2, MAX_STEPS, DEFAULT_STEPS, key="expr_steps",
                      help=f"From neutral to each expression, 2 to {MAX_STEPS} images.")
    if face is None:
        st.info("Upload a photo of one face (JPEG, PNG, WebP, BMP, GIF, TIFF) or take one with the webcam: the face is "
                "found and aligned by its eyes as the training photos were. Meanwhile, here is an example "
                "face from the model's sample images:")
        face = view.example(ctx.gallery, view.examples(ctx.gallery)[0])
    shown = view.render(face, steps)
    for note in face.notes:
        st.caption(note)
    show(shown.seen, shown.seen_caption, width=256)
    st.subheader("The face in every expression")
    show(shown.row, shown.row_caption, width=min(900, 180 * len(shown.names)))
    st.subheader(f"From {shown.start} to each expression")
    for strip in shown.strips:
        show(*strip, width=min(900, 110 * steps))
    st.download_button("Download the strips (PNG)", shown.png(), file_name="expressions.png", mime="image/png")
    explain(view.explanation())


main()
