"""Widgets shared by every page: the model picker, gallery access, image display helpers, heavy jobs.

Lives under ``pages/`` but in a sub-folder, so Streamlit does not list it as a page. Every page
calls ``page_setup()`` first (``page_header()`` where it needs no model: Train live), so each page
also works when opened (or tested) on its own. Which models exist, whether the server is public,
the model cache and the heavy-job pool, what is done with a model (opening it, its images, prototypes,
uploads), come through ``core.features`` (the only door to ``core`` a page uses, with ``core.settings``),
as they do for the Gradio app. This module keeps only what is Streamlit's: widgets, spinners, session state.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from core import features, settings
from core.features import OTHER, PAGES, REFUSED, Ctx, Tile, enlarged, label_name, picture


def session_id() -> str:
    """This browser session's id: the owner of its heavy jobs."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else "no-session"


def session_alive(sid: str) -> Callable[[], bool]:
    from streamlit import runtime

    def alive() -> bool:
        if not runtime.exists():  # AppTest and scripts without a server: the session lives as long as the job
            return True
        return runtime.get_instance().is_active_session(sid)
    return alive


def heavy(what: str, work: Callable, *, key=None, on_progress: Callable | None = None):
    """Run ``work(report)`` in the server's heavy-job pool (``core.jobs``) and return its result, showing
    the queue position while it waits. Returns None after showing why when the job is refused."""
    slot = st.empty()

    def on_wait(ahead: int | None) -> None:  # every 0.25 s; writing to the page also lets a click interrupt the wait
        if ahead is None:
            slot.empty()
        else:
            slot.info(features.waiting_text(ahead, what), icon=":material/hourglass_top:")

    sid = session_id()
    try:
        result = features.heavy_job(sid, what, work, key=key, alive=session_alive(sid), on_wait=on_wait, on_progress=on_progress)
    except REFUSED as err:
        slot.warning(str(err))
        return None
    slot.empty()
    return result


def _remember(key: str) -> None:
    st.session_state[key[1:]] = st.session_state[key]


def model_picker_ui() -> str | None:
    """Sidebar: pick a model by name (shared by all pages through session state). Only a local,
    single-user server also offers "Other folder…" with a path box."""
    models, options, index = features.model_options(st.session_state.get("checkpoint"))
    if not options:
        return None
    st.sidebar.selectbox("Model", options, index=index, key="_checkpoint", on_change=_remember, args=("_checkpoint",))
    st.session_state["checkpoint"] = st.session_state["_checkpoint"]
    if st.session_state["checkpoint"] == OTHER:
        st.sidebar.text_input("Checkpoint folder", value=st.session_state.get("other_path", ""), key="_other_path",
                              on_change=_remember, args=("_other_path",), placeholder="/path/to/checkpoint")
        return st.session_state.get("_other_path") or None
    return str(models[st.session_state["checkpoint"]])


def data_dir_ui() -> str:
    """The dataset whose test images replace the bundled ones: the server's (``Settings.data_dir``); a local
    server also has a box for it."""
    server = settings.current().data_dir
    if features.public_mode():
        return server
    st.sidebar.text_input("Local dataset folder (optional)", value=st.session_state.get("data_dir", server), key="_data_dir",
                          on_change=_remember, args=("_data_dir",),
        help="With the dataset on disk (e.g. MNIST's IDX files), its test set replaces the bundled sample images.")
    return st.session_state.get("_data_dir", "")


def _spinning(kind: str, path: str, data_dir: str, text: str, make: Callable):
    """``make()``, with a spinner when the cache does not hold its result yet."""
    if features.cached(kind, path, data_dir):
        return make()
    with st.spinner(text):
        return make()


def load(path: str) -> features.Loaded:
    """The model at ``path`` from the process-wide cache (a spinner while it loads the first time)."""
    return _spinning("model", path, "", "Loading model…", lambda: features.open_path(path))


def load_gallery_of(path: str, data_dir: str) -> features.ImageSet:
    return _spinning("gallery", path, data_dir, "Loading sample images…",
                     lambda: features.gallery(features.open_path(path), data_dir))


def navigation_ui() -> None:
    """Our own page links, from ``core.features.registry`` (the automatic list is hidden in .streamlit/config.toml:
    it would call Home "app")."""
    try:
        for page in PAGES:
            st.sidebar.page_link(page.file, label=page.label, icon=page.icon)
    except StreamlitPageNotFoundError:
        return  # a page run on its own (`streamlit run pages/x.py`, AppTest) has no other pages to link to
    st.sidebar.divider()


def page_header(title: str, intro: str = "") -> None:
    """Page config, the page links and the title: what every page starts with."""
    features.start_once(sys.argv)
    st.set_page_config(page_title=f"{title} · CC-VAE Explorer", page_icon="🔀", layout="wide")
    if features.public_mode():
        st.set_option("client.showErrorDetails", "none")  # no traceback (with server paths) reaches a visitor
        features.warm_up_once()
    navigation_ui()
    st.title(title)
    if intro:
        st.write(intro)


def page_setup(title: str, intro: str = "", *, split_only: bool = True) -> Ctx | None:
    """The page header and the sidebar; returns the loaded model or None (after saying why).

    ``split_only``: the page encodes to (z, s) and decodes; a model without that split (DR-GAN) gets
    an explanation instead of an error."""
    page_header(title, intro)
    path = model_picker_ui()
    return open_model(path, data_dir_ui(), split_only=split_only)


def open_model(path: str | None, data_dir: str, *, split_only: bool = True) -> Ctx | None:
    """The model at ``path`` (from the sidebar, or one a page chose instead) with its sample images, and its
    summary in the sidebar; None after saying why it cannot be used."""
    if not path:
        st.info("Enter a checkpoint folder in the sidebar." if not features.public_mode() else "This server has no models.")
        return None
    try:
        loaded = load(path)
    except features.CheckpointError as err:
        st.error(features.cannot_open(err))
        return None
    try:
        gallery, data_dir, not_used = _spinning("gallery", str(loaded.path), data_dir, "Loading sample images…",
                                                lambda: features.gallery_or_bundled(loaded, data_dir))
    except features.DataError as err:
        st.error(features.no_sample_images(err))
        return None
    if not_used is not None and not features.public_mode():
        st.sidebar.warning(f"Dataset folder not used: {not_used}")
    summary, slow = features.model_notes(loaded, gallery)
    st.sidebar.caption(summary)
    if slow:
        st.sidebar.info(slow)
    if split_only and not loaded.model.has_split:
        st.info(features.no_split_note(loaded.model.config, "This page") + " Open **Swap grid** to see it render each input at "
                "every pose, or pick another model in the sidebar.")
        return None
    return Ctx(loaded, gallery, data_dir)


@contextmanager
def decoding(ctx: Ctx, what: str = "images") -> Iterator[features.Progress | None]:
    """``with decoding(ctx, "the grid") as progress:`` a progress callback for ``core.explore`` functions,
    shown as a bar while a PixelCNN model samples (removed when done); None for one-pass decoders."""
    if not ctx.model.autoregressive:
        yield None
        return
    bar = st.progress(0.0, text=f"Sampling {what} pixel by pixel…")

    def progress(done: int, total: int) -> None:
        bar.progress(done / total, text=f"Sampling {what} pixel by pixel: {done:,} / {total:,} pixels")

    try:
        yield progress
    finally:
        bar.empty()


def class_name(ctx: Ctx, label: int) -> str:
    return label_name(ctx.gallery, label)


def show(array: np.ndarray, caption: str | None = None, *, width: int = 640) -> None:
    """A picture (uint8) upscaled crisply, with its caption: ``show(*view)`` shows a ``core.features`` view."""
    st.image(enlarged(array, width), caption=caption, output_format="PNG")


def thumbnail_sheet(ctx: Ctx, indices: list[int], *, per_row: int = 12) -> None:
    """Numbered thumbnails, so images can be picked by their number."""
    cols = st.columns(per_row)
    for i, idx in enumerate(indices):
        with cols[i % per_row]:
            label = class_name(ctx, int(ctx.gallery.labels[idx]))
            show(picture(ctx.gallery.floats(idx)[None]), f"#{idx} · {label}", width=56)


def tiles(row: list[Tile], widths: list[float] | None = None) -> None:
    """``core.features`` tiles (headline numbers) side by side, every one of them: ``widths`` (relative column widths)
    shorter than ``row`` is padded with 1s, so a tile a model adds is never dropped."""
    widths = [*(widths or []), *[1] * (len(row) - len(widths or []))]
    for col, tile in zip(st.columns(widths), row):
        col.metric(tile.label, tile.value, help=tile.help)  # st.metric's third positional is delta


def explain(text: str) -> None:
    with st.expander("What am I looking at?"):
        st.write(text)


__all__ = ["OTHER", "Ctx", "class_name", "data_dir_ui", "decoding", "explain", "gallery_codes", "heavy", "load",
           "load_gallery_of", "model_picker_ui", "open_model", "page_header", "page_setup", "prototypes", "session_alive",
           "session_id", "show", "thumbnail_sheet", "tiles"]


def gallery_codes(ctx: Ctx) -> features.Encoding:
    """z mean, z logvar and s of every gallery image, computed once per model and gallery (process-wide)."""
    return _spinning("codes", ctx.path, ctx.data_dir, "Encoding the sample images…",
                     lambda: features.gallery_codes(ctx.loaded, ctx.data_dir))


def prototypes(ctx: Ctx):
    """Per-class mean s (K, s_dim): from the checkpoint's statistics, else from the gallery."""
    return features.prototypes(ctx.loaded, ctx.gallery, lambda: gallery_codes(ctx))
