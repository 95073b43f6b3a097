"""Few-shot (report Fig. 4.14-4.16): a new identity or class from 1 to 10 images.

Zero-shot encodes the uploads and uses the mean of their s; few-shot fine-tunes a copy of the
model for this browser session only. Uploads, crops and fine-tuned weights live in
``st.session_state`` and are discarded with the session; the shared cached model is never changed.
What is computed and said is ``core.features.photos`` (shared with the Gradio tab); this page lays it out.
"""

from __future__ import annotations

import hashlib

import streamlit as st

from core.features import LimitError, UploadError, box_fractions, figures, list_models, load_image, png_bytes, starting_square
from core.features.photos import (
    CROP_MODES,
    DEFAULT_STEPS,
    MAX_FINE_TUNE_STEPS,
    MAX_PHOTOS,
    FewShot,
    LikenessReport,
    Photos,
    Shots,
    face_model_choice,
    fine_tune_caption,
)
from pages.widgets import OTHER, data_dir_ui, decoding, explain, heavy, model_picker_ui, open_model, page_header, show, tiles

SOURCES = ("Photo files", "Webcam")
UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff"]


def _keep_selected(path: str) -> None:
    st.session_state["fewshot_keep_selected"] = path


def _use_face_model() -> None:
    st.session_state.pop("fewshot_keep_selected", None)


def face_model_ui(path: str | None) -> str | None:
    """The model this page opens: the sidebar's when it is a face model, else the server's face model
    (``face_model_choice``), said in one line with a button back to the sidebar's choice."""
    face = face_model_choice(path)
    if face is None:
        return path
    selected = st.session_state.get("checkpoint", "")
    selected = "the folder in the sidebar" if selected in ("", OTHER) else f"**{selected}**"
    if st.session_state.get("fewshot_keep_selected") == path:
        st.caption(f"Using the sidebar's model, {selected}, which was not trained on faces.")
        st.button(f"Use the face model {face}", key="fewshot_use_face", on_click=_use_face_model)
        return path
    st.info(f"Photos of people need a face model, so this page uses **{face}** instead of {selected} "
            "(the sidebar's model, still used by the other pages).", icon=":material/face:")
    st.button(f"Use {selected.strip('*')} here instead", key="fewshot_use_selected", on_click=_keep_selected, args=(path,))
    return str(list_models()[face])


def photos_ui() -> list[tuple[str, bytes]]:
    """The photos to use, as (name, bytes): uploaded files, or webcam shots kept for this session."""
    source = st.radio("Photos from", SOURCES, horizontal=True, key="fewshot_source")
    if source == SOURCES[0]:
        files = st.file_uploader(f"Photos of one new identity (1 to {MAX_PHOTOS})", type=UPLOAD_TYPES,
                                 accept_multiple_files=True, key="fewshot_files")
        photos = [(f.name, f.getvalue()) for f in files or []]
    else:
        shot = st.camera_input("Take a photo (one face, looking at the camera); take more for a better likeness",
                               key="fewshot_camera")
        shots = st.session_state.setdefault("fewshot_shots", Shots())  # this session only
        if shot is not None:
            shots.add(shot.getvalue())
        if shots.photos:
            st.caption(shots.caption())
            st.button("Forget the webcam photos", key="fewshot_forget_shots", on_click=shots.photos.clear)
        photos = list(shots.photos)
    return photos


def crop_box_ui(name: str, data: bytes, i: int) -> tuple[float, float, float] | None:
    """A square the user drags on the photo (``streamlit-cropper``), as ``manual_box`` fractions."""
    from streamlit_cropper import st_cropper

    try:
        image = load_image(data, name)  # the same pixels prepare_upload crops
    except UploadError:
        return None  # prepare_upload reports it
    st.caption(f"{name}: drag the square onto the face (corners resize it)")
    box = st_cropper(image, realtime_update=True, aspect_ratio=(1, 1), return_type="box", default_coords=starting_square(image.size),
                     box_color="#ff4b4b", key=f"fewshot_crop_{i}_{hashlib.sha1(data).hexdigest()[:12]}")
    return box_fractions(box, image.size)


def uploads_ui(few: FewShot) -> Photos | None:
    """Photos + cropping, prepared for the model (a photo that cannot be used is said and left out)."""
    photos = photos_ui()
    if not photos:
        return None
    mode = st.radio("Cropping", CROP_MODES, horizontal=True, key="fewshot_crop_mode")
    boxes = {}
    if mode == CROP_MODES[2] and len(photos) <= MAX_PHOTOS:
        cols = st.columns(min(3, len(photos)))
        for i, (name, data) in enumerate(photos):
            with cols[i % len(cols)]:
                boxes[i] = crop_box_ui(name, data, i)
    try:
        prepared = few.prepare(photos, mode, boxes, cache=st.session_state.setdefault("fewshot_prepared", {}))
    except LimitError as err:
        st.error(str(err))
        return None
    for error in prepared.errors:
        st.error(error)
    for note in prepared.notes:
        if not note.endswith(": face found"):
            st.caption(note)
    return prepared if prepared.names else None


def dataset_identity_ui(few: FewShot) -> Photos | None:
    """A person from the local dataset's unseen identities (never trained on), when the model and folder allow it."""
    if not few.unseen_names or not few.data_dir:
        return None
    with st.spinner("Reading the unseen identities' photos (the first time, faces are found and aligned)…"):
        why_not = few.unseen_available()
    if why_not is not None:
        st.caption(why_not)
        return None
    who = st.selectbox(few.unseen_label, ["none", *few.unseen_names], key="fewshot_unseen")
    if who == "none":
        return None
    return few.unseen(who, st.slider("Images of this identity", 1, MAX_PHOTOS, 5, key="fewshot_unseen_count"))


def likeness_ui(few: FewShot, photos: Photos, generated, label: str, key: tuple) -> None:
    """dlib's face-recognition distance between the generated faces and the photos (measured, never trained on),
    once per ``key`` (the photos and the model) in this session: a heavy job, measured in a worker process."""
    if not few.likeness_measurable:
        return
    cache = st.session_state.setdefault("fewshot_likeness", {})
    if key not in cache:
        with st.spinner("Measuring the likeness (dlib face recogniser)…"):
            result = heavy("measuring the likeness", lambda report: few.likeness(photos, generated, report))
        if result is None:  # refused: the job's message is shown
            return
        if len(cache) >= 4:  # zero-shot and fine-tuned of the latest photos, and a little more
            cache.pop(next(iter(cache)))
        cache[key] = result
    result = cache[key]
    if not isinstance(result, LikenessReport):
        st.caption(result)
        return
    tiles(result.tiles(label))  # 3-5 numbers, "Closer than strangers" the last
    st.caption(result.explanation())


def fine_tune_ui(few: FewShot, photos: Photos, steps: int):
    """The Fine-tune button: a private copy, trained in the server's heavy-job pool; returns it or None."""
    bar = st.progress(0.0, text="Fine-tuning…")

    def progress(step: int, terms: dict[str, float]) -> None:
        if step % 5 == 0 or step == steps:
            bar.progress(step / steps, text=f"step {step}/{steps} · reconstruction {terms['reconstruction']:.4f}")

    try:
        tuned = heavy(f"fine-tuning {steps} steps", few.fine_tune_work(photos, steps), on_progress=progress)
    except FloatingPointError as err:
        st.error(str(err))
        tuned = None
    bar.empty()
    return tuned


def identity_map_ui(few: FewShot, photos: Photos) -> None:
    found = few.identity_map(photos)
    if found is None:
        return
    st.plotly_chart(figures.identity_map(found), width="stretch")


def main() -> None:
    page_header("Few-shot: a new identity",
                "Upload photos of someone the model has never seen. Their **s** (identity) is combined with the "
                "**z** (lighting, style) the model has stored, so you see them under every condition it knows.")
    path = face_model_ui(model_picker_ui())
    ctx = open_model(path, data_dir_ui())
    if ctx is None:
        return
    try:
        few = FewShot(ctx.loaded, ctx.data_dir)
    except ValueError as err:
        st.error(str(err))
        return
    photos = uploads_ui(few) or dataset_identity_ui(few)
    if photos is None:
        st.info(f"Upload 1 to {MAX_PHOTOS} photos of one person (JPEG, PNG, WebP, BMP, GIF, TIFF), or take them "
                "with the webcam. A face looking at the camera works best; it is found, cropped and converted "
                "automatically, and you can crop by hand. "
                "Meanwhile, here is what the model already knows:")
        with decoding(ctx, "the grid") as few.progress:
            show(*few.stored(), width=900)
        explain("Each column decodes one stored identity's mean s; each row one stored z (for Yale B: the mean z "
                "of one light direction). Identity stays fixed down a column, lighting across a row. "
                "Report Fig. 4.8 and 4.14-4.16.")
        return
    st.subheader("What the model sees")
    show(photos.sheet(), width=min(900, 110 * len(photos.names)), caption=", ".join(photos.names))

    before, zero = few.zero_shot(photos)
    st.subheader("Zero-shot: the mean s of your images")
    show(*before, width=900)
    likeness_ui(few, photos, zero, "zero-shot", (few.key, photos.digest))

    st.subheader("Few-shot: fine-tune a private copy")
    steps = st.slider("Fine-tuning steps", 10, MAX_FINE_TUNE_STEPS, DEFAULT_STEPS, step=10, key="fewshot_steps",
                      help=f"At most {MAX_FINE_TUNE_STEPS}. The copy lives in this browser session only.")
    key = (photos.digest, steps, few.key)
    tuned = st.session_state.get("fewshot_model")
    if st.button("Fine-tune", type="primary"):
        tuned_model = fine_tune_ui(few, photos, steps)
        if tuned_model is not None:
            st.session_state["fewshot_model"] = tuned = (key, tuned_model)
    model, s_new = None, zero.s
    if tuned is not None and tuned[0] == key:
        model = tuned[1]
        after, tuned_zero = few.zero_shot(photos, model=model)
        left, right = st.columns(2)
        with left:
            show(before.picture, width=440, caption="Before (zero-shot, shared model)")
        with right:
            show(after.picture, width=440, caption=fine_tune_caption(model, steps))
        likeness_ui(few, photos, tuned_zero, "fine-tuned", key)
        s_new = tuned_zero.s
    elif tuned is not None:
        st.caption("The fine-tuned copy was made for other images or settings; press Fine-tune again.")

    st.subheader("Mixed with known identities")
    with decoding(ctx, "the grid") as few.progress:
        mixed = few.mixed(s_new, model)
    show(*mixed, width=900)
    st.download_button("Download PNG", png_bytes(mixed.picture), file_name="fewshot_grid.png", mime="image/png")

    st.subheader("From a known identity to the new one")
    start = st.selectbox("Known identity", list(range(len(few.class_names))), format_func=lambda i: few.class_names[i])
    with decoding(ctx, "the strip") as few.progress:
        show(*few.from_known(start, s_new, model), width=900)

    st.subheader("Where the new identity falls on the identity map")
    identity_map_ui(few, photos)
    explain("The first grids decode the new identity's s with each stored z, so the lighting (or style) comes from the "
            "model and the identity from your photos. Fine-tuning trains a private copy on your images for a few "
            "steps; compare before and after. The map places the mean s of your images among the stored identity "
            "codes (the first two principal components of s, from the shared model). Report Fig. 4.14-4.16.")


main()
