"""Few-shot (report Fig. 4.14-4.16): a new identity or class from 1 to 10 images.

Zero-shot encodes the uploads and uses the mean of their s; few-shot fine-tunes a copy of the
model for this browser session only. Uploads, crops and fine-tuned weights live in
``st.session_state`` and are discarded with the session; the shared cached model is never changed.
"""

from __future__ import annotations

import hashlib

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

from core import align, service, session
from core.checkpoint import CheckpointError, parse_model_config, read_config
from core.data import UNSEEN_YALE, DataError, load_dataset
from core.explore import decode_grid, interpolate_codes, png_bytes, tile
from core.fewshot import DEFAULT_STEPS, MAX_IMAGES, MAX_STEPS, fine_tune, known_styles, mean_s, reference_images
from core.upload import CROP_MODES, UploadError, box_fractions, load_image, prepare_for
from pages.widgets import OTHER, data_dir_ui, decoding, explain, heavy, model_picker_ui, open_model, page_header, prototypes, show

SOURCES = ("Photo files", "Webcam")
UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff"]


@st.cache_resource(show_spinner="Loading the dataset's unseen identities…", max_entries=2)
def unseen_identities(data_dir: str, image_size: int):
    return load_dataset("yaleb", data_dir, "unseen", image_size=image_size)


@st.cache_resource(show_spinner="Loading training images for fine-tuning…", max_entries=2)
def training_images(dataset: str, data_dir: str, image_size: int, channels: int):
    data = load_dataset(dataset, data_dir, "train", image_size=image_size, channels=channels)
    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:512]
    return data.floats(idx), data.labels[idx]


def _keep_selected(path: str) -> None:
    st.session_state["fewshot_keep_selected"] = path


def _use_face_model() -> None:
    st.session_state.pop("fewshot_keep_selected", None)


def face_model_ui(path: str | None) -> str | None:
    """The model this page opens: the sidebar's when it is a face model, else the server's face model
    (``core.service.face_model_name``), said in one line with a button back to the sidebar's choice."""
    if not path:
        return path
    try:
        if service.is_face_model(parse_model_config(read_config(path)["model"])):
            return path
    except CheckpointError:
        return path  # open_model says what is wrong with it
    models = service.list_models()
    face = service.face_model_name(models)
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
    return str(models[face])


def photos_ui() -> list[tuple[str, bytes]]:
    """The photos to use, as (name, bytes): uploaded files, or webcam shots kept for this session."""
    source = st.radio("Photos from", SOURCES, horizontal=True, key="fewshot_source")
    if source == SOURCES[0]:
        files = st.file_uploader(f"Photos of one new identity (1 to {MAX_IMAGES})", type=UPLOAD_TYPES,
                                 accept_multiple_files=True, key="fewshot_files")
        photos = [(f.name, f.getvalue()) for f in files or []]
    else:
        shot = st.camera_input("Take a photo (one face, looking at the camera); take more for a better likeness",
                               key="fewshot_camera")
        shots = st.session_state.setdefault("fewshot_shots", [])  # this session only, at most MAX_IMAGES
        if shot is not None:  # the camera widget keeps its last photo: add each photo once, when it is new
            data = shot.getvalue()
            digest = hashlib.sha1(data).hexdigest()
            if st.session_state.get("fewshot_last_shot") != digest:
                st.session_state["fewshot_last_shot"] = digest
                shots.append((f"webcam-{len(shots) + 1}.jpg", data))
                del shots[:-MAX_IMAGES]
        if shots:
            st.caption(f"{len(shots)} webcam photo{'s' if len(shots) > 1 else ''} kept (the last {MAX_IMAGES} at most).")
            st.button("Forget the webcam photos", key="fewshot_forget_shots", on_click=lambda: shots.clear())
        photos = list(shots)
    if len(photos) > MAX_IMAGES:
        st.warning(f"{len(photos)} files uploaded; the limit is {MAX_IMAGES}, so only the first {MAX_IMAGES} are used.")
        photos = photos[:MAX_IMAGES]
    return photos


def crop_box_ui(name: str, data: bytes, i: int) -> tuple[float, float, float] | None:
    """A square the user drags on the photo (``streamlit-cropper``), as ``manual_box`` fractions."""
    from streamlit_cropper import st_cropper

    try:
        image = load_image(data, name)  # the same pixels prepare_upload crops
    except UploadError:
        return None  # prepare_upload reports it
    w, h = image.size
    side = 0.8 * min(w, h)
    default = (int((w - side) / 2), int((w + side) / 2), int((h - side) / 2), int((h + side) / 2))  # (xl, xr, yt, yb)
    st.caption(f"{name}: drag the square onto the face (corners resize it)")
    box = st_cropper(image, realtime_update=True, aspect_ratio=(1, 1), return_type="box", default_coords=default,
                     box_color="#ff4b4b", key=f"fewshot_crop_{i}_{hashlib.sha1(data).hexdigest()[:12]}")
    return box_fractions(box, image.size)


def uploads_ui(ctx) -> tuple[torch.Tensor, list[np.ndarray], list[str]] | None:
    """Photos + cropping; returns (model inputs (n, C, H, W), crops shown, file names)."""
    photos = photos_ui()
    if not photos:
        return None
    mode = st.radio("Cropping", CROP_MODES, horizontal=True, key="fewshot_crop_mode")
    cache = st.session_state.setdefault("fewshot_prepared", {})  # this session only
    cfg = ctx.model.config
    tensors, crops, names = [], [], []
    boxes = {}
    if mode == CROP_MODES[2]:
        cols = st.columns(min(3, len(photos)))
        for i, (name, data) in enumerate(photos):
            with cols[i % len(cols)]:
                boxes[i] = crop_box_ui(name, data, i)
    for i, (name, data) in enumerate(photos):
        box = boxes.get(i)
        key = (hashlib.sha1(data).hexdigest(), mode, box, cfg.image_shape, cfg.dataset)
        if key not in cache:
            try:
                cache[key] = prepare_for(cfg, ctx.latents, data, name=name, crop=mode, manual_box=box)
            except UploadError as err:
                cache[key] = err
        while len(cache) > MAX_IMAGES:  # bounded per-session memory: at most MAX_IMAGES prepared files kept
            cache.pop(next(iter(cache)))
        result = cache[key]
        if isinstance(result, UploadError):
            st.error(str(result))
            continue
        if result.notes:
            st.caption(f"{name}: {'; '.join(result.notes)}")
        tensors.append(result.tensor)
        crops.append(result.crop)
        names.append(name)
    if not tensors:
        return None
    return torch.stack(tensors), crops, names


def dataset_identity_ui(ctx) -> tuple[torch.Tensor, list[np.ndarray], list[str]] | None:
    if not (ctx.data_dir and ctx.model.config.dataset.startswith("yaleb")):
        return None
    try:
        unseen = unseen_identities(ctx.data_dir, ctx.model.config.image_shape[1])
    except DataError as err:
        st.caption(f"Unseen identities not available: {err}")
        return None
    who = st.selectbox("…or an identity the model never saw (from your local Yale B copy)", ["none"] + list(UNSEEN_YALE))
    if who == "none":
        return None
    count = st.slider("Images of this identity", 1, MAX_IMAGES, 5)
    k = unseen.class_names.index(who)
    idx = torch.nonzero(unseen.labels == k).flatten()
    idx = idx[torch.randperm(idx.numel(), generator=torch.Generator().manual_seed(0))[:count]]
    x = unseen.floats(idx)
    return x, [a for a in (x.mul(255).round().byte().permute(0, 2, 3, 1).numpy())], [f"{who} #{int(i)}" for i in idx]


def stored_demo(ctx, styles: torch.Tensor, style_names: list[str]) -> None:
    """Without uploads: every stored identity under a range of stored styles."""
    protos = prototypes(ctx)
    names = ctx.model.config.class_names or [str(i) for i in range(protos.shape[0])]
    n_id = min(12, protos.shape[0])
    pick = torch.linspace(0, styles.shape[0] - 1, min(10, styles.shape[0])).round().long()
    with decoding(ctx, "the grid") as progress:
        grid = decode_grid(ctx.model, styles[pick], protos[:n_id], progress=progress)
    show(tile(grid.flatten(0, 1), nrow=n_id), width=900,
         caption=f"Columns: identities {', '.join(names[:n_id])}. Rows: {', '.join(style_names[i] for i in pick.tolist())}.")


def every_style(result: session.ZeroShot) -> np.ndarray:
    """One picture of the new identity decoded with each stored z."""
    return tile(result.images, nrow=min(16, result.styles.shape[0]))


def likeness_ui(ctx, x: torch.Tensor, generated: torch.Tensor, label: str) -> None:
    """dlib's face-recognition distance between the generated faces and the photos (measured, never trained on)."""
    from core.likeness import SAME_PERSON, likeness, measurable, recogniser

    if not measurable(ctx.model.config):
        return

    try:
        with st.spinner("Measuring the likeness (dlib face recogniser)…"):
            recogniser()
            result = likeness(x, generated)
    except (align.AlignError, RuntimeError) as err:
        st.caption(f"Likeness not measured: {err}")
        return
    d = result.distances
    cols = st.columns(4)
    cols[0].metric(f"Likeness ({label})", f"{d.mean():.2f}", help="Mean dlib distance of the generated faces to your photos")
    cols[1].metric("Closest style", f"{d.min():.2f}")
    cols[2].metric(f"Within {SAME_PERSON}", f"{100 * result.within:.0f}%")
    if result.upload_distances.size:
        cols[3].metric("Your photos to each other", f"{result.upload_distances.mean():.2f}")
    st.caption(f"dlib's face recogniser (a network we did not train) maps a face to 128 numbers; two photos less than "
               f"{SAME_PERSON} apart are usually the same person, so lower is more alike. Each generated face is "
               f"compared with the mean of your photos.")


def main() -> None:
    page_header("Few-shot: a new identity",
                "Upload photos of someone the model has never seen. Their **s** (identity) is combined with the "
                "**z** (lighting, style) the model has stored, so you see them under every condition it knows.")
    path = face_model_ui(model_picker_ui())
    ctx = open_model(path, data_dir_ui())
    if ctx is None:
        return
    model, cfg = ctx.model, ctx.model.config
    try:
        styles, style_names = known_styles(model, ctx.latents)
    except ValueError as err:
        st.error(str(err))
        return
    new = uploads_ui(ctx) or dataset_identity_ui(ctx)
    if new is None:
        st.info(f"Upload 1 to {MAX_IMAGES} photos of one person (JPEG, PNG, WebP, BMP, GIF, TIFF), or take them "
                "with the webcam. A face looking at the camera works best; it is found, cropped and converted "
                "automatically, and you can crop by hand. "
                "Meanwhile, here is what the model already knows:")
        stored_demo(ctx, styles, style_names)
        explain("Each column decodes one stored identity's mean s; each row one stored z (for Yale B: the mean z "
                "of one light direction). Identity stays fixed down a column, lighting across a row. "
                "Report Fig. 4.8 and 4.14-4.16.")
        return
    x, crops, names = new
    st.subheader("What the model sees")
    show(tile(torch.from_numpy(np.stack([c.reshape(*c.shape[:2], -1) for c in crops])).permute(0, 3, 1, 2).float().div(255),
              nrow=len(crops)), width=min(900, 110 * len(crops)), caption=", ".join(names))

    zero = session.zero_shot(ctx.loaded, x)
    st.subheader("Zero-shot: the mean s of your images")
    before = every_style(zero)
    show(before, width=900, caption=f"Zero-shot: {zero.caption()}.")
    likeness_ui(ctx, x, zero.images, "zero-shot")

    st.subheader("Few-shot: fine-tune a private copy")
    steps = st.slider("Fine-tuning steps", 10, MAX_STEPS, DEFAULT_STEPS, step=10, key="fewshot_steps",
                      help=f"At most {MAX_STEPS}. The copy lives in this browser session only.")
    key = (hashlib.sha1(x.numpy().tobytes()).hexdigest(), steps, ctx.path)
    tuned = st.session_state.get("fewshot_model")
    if st.button("Fine-tune", type="primary"):
        try:
            if ctx.data_dir:
                refs, ref_labels = training_images(cfg.dataset, ctx.data_dir, cfg.image_shape[1], cfg.image_shape[0])
            else:
                refs, ref_labels = reference_images(model, ctx.latents)
        except DataError:
            refs, ref_labels = reference_images(model, ctx.latents)
        bar = st.progress(0.0, text="Fine-tuning…")

        def progress(step: int, terms: dict[str, float]) -> None:
            if step % 5 == 0 or step == steps:
                bar.progress(step / steps, text=f"step {step}/{steps} · reconstruction {terms['reconstruction']:.4f}")

        def work(report):
            return fine_tune(model, x, refs, ref_labels, steps=steps, callback=report)

        try:
            tuned_model = heavy(f"fine-tuning {steps} steps", work, on_progress=progress)
        except FloatingPointError as err:
            st.error(str(err))
            tuned_model = None
        bar.empty()
        if tuned_model is not None:
            st.session_state["fewshot_model"] = tuned = (key, tuned_model)
    if tuned is not None and tuned[0] == key:
        tuned_model = tuned[1]
        after = session.zero_shot(ctx.loaded, x, model=tuned_model)
        left, right = st.columns(2)
        with left:
            show(before, width=440, caption="Before (zero-shot, shared model)")
        with right:
            show(every_style(after), width=440, caption=f"After {steps} fine-tuning steps (your private copy)")
        likeness_ui(ctx, x, after.images, "fine-tuned")
        model, s_new = tuned_model, after.s
    else:
        s_new = zero.s
        if tuned is not None:
            st.caption("The fine-tuned copy was made for other images or settings; press Fine-tune again.")

    protos = prototypes(ctx)
    names_known = cfg.class_names or [str(i) for i in range(protos.shape[0])]
    st.subheader("Mixed with known identities")
    n_known = min(9, protos.shape[0])
    z_rows = styles[torch.linspace(0, styles.shape[0] - 1, min(6, styles.shape[0])).round().long()]
    s_cols = torch.cat([s_new[None], protos[:n_known].to(s_new)])
    with decoding(ctx, "the grid") as progress:
        grid = decode_grid(model, z_rows, s_cols, progress=progress)
    picture = tile(grid.flatten(0, 1), nrow=s_cols.shape[0])
    show(picture, width=900, caption=f"Columns: the new identity, then {', '.join(names_known[:n_known])}. Rows: stored z codes.")
    st.download_button("Download PNG", png_bytes(picture), file_name="fewshot_grid.png", mime="image/png")

    st.subheader("From a known identity to the new one")
    start = st.selectbox("Known identity", list(range(protos.shape[0])), format_func=lambda i: names_known[i])
    z_mid = styles[styles.shape[0] // 2]
    with decoding(ctx, "the strip") as progress:
        strip = interpolate_codes(model, z_mid, protos[start].to(s_new), s_new, steps=8, progress=progress)
    show(tile(strip, nrow=8), width=900, caption=f"s moves from {names_known[start]} (left) to the new identity (right); z fixed.")

    st.subheader("Where the new identity falls on the identity map")
    bank_s, bank_labels = ctx.latents.get("bank_s"), ctx.latents.get("bank_labels")
    if bank_s is not None:
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=0).fit(bank_s.numpy())  # a linear map: the new point lands exactly
        xy, star = pca.transform(bank_s.numpy()), pca.transform(mean_s(ctx.model, x)[None].numpy())
        fig = go.Figure()
        fig.add_scatter(x=xy[:, 0], y=xy[:, 1], mode="markers", name="known identities (stored codes)",
                        marker=dict(size=5, color=bank_labels.numpy(), colorscale="Turbo", opacity=0.6),
                        text=[names_known[int(k)] if int(k) < len(names_known) else str(int(k)) for k in bank_labels])
        fig.add_scatter(x=star[:, 0], y=star[:, 1], mode="markers", name="your images (mean s)",
                        marker=dict(size=16, symbol="star", color="black"))
        fig.update_layout(height=460, margin=dict(l=10, r=10, t=10, b=10), xaxis_title="PC 1 of s", yaxis_title="PC 2 of s")
        st.plotly_chart(fig, width="stretch")
    explain("The first grids decode the new identity's s with each stored z, so the lighting (or style) comes from the "
            "model and the identity from your photos. Fine-tuning trains a private copy on your images for a few "
            "steps; compare before and after. The map places the mean s of your images among the stored identity "
            "codes (the first two principal components of s, from the shared model). Report Fig. 4.14-4.16.")


main()
