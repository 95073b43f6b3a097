"""Widgets shared by every page: the model picker, gallery access, image display helpers.

Lives under ``pages/`` but in a sub-folder, so Streamlit does not list it as a page. Every page
calls ``page_setup()`` first (``page_header()`` where it needs no model: Train live), so each page
also works when opened (or tested) on its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st
import torch
from PIL import Image
from streamlit.errors import StreamlitPageNotFoundError

import core
from core.data import DataError, ImageSet
from core.explore import class_means, is_autoregressive, to_uint8
from core.gallery import load_gallery
from core.models import SPLIT_METHODS
from core.models.pixelcnn import Progress

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = os.environ.get("CCVAE_DEFAULT_CHECKPOINT", "mnist")  # the model a new session opens
OTHER = "Other folder…"

if "OMP_NUM_THREADS" not in os.environ:  # an explicit setting wins (the browser tests use 1 on a busy machine)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@dataclass
class Ctx:
    """What a page works with: the chosen model, its statistics and its sample images."""

    path: str
    model: torch.nn.Module
    latents: dict
    metrics: dict
    gallery: ImageSet
    data_dir: str  # "" when the gallery is not a local dataset


@st.cache_resource(show_spinner="Loading model…", max_entries=8)
def cached_model(path: str, mtime: float):
    return core.load_model(path), core.load_latents(path), core.load_metrics(path)


@st.cache_resource(show_spinner="Loading sample images…", max_entries=8)
def cached_gallery(path: str, mtime: float, data_dir: str) -> ImageSet:
    model, latents, _ = cached_model(path, mtime)
    return load_gallery(model, latents, data_dir=data_dir or None)


def checkpoint_dir() -> Path:
    """$CCVAE_CHECKPOINT_DIR, else the repository's checkpoints/. Read on every call, not once at import:
    tests run pages with different folders in one process."""
    return Path(os.environ.get("CCVAE_CHECKPOINT_DIR", ROOT / "checkpoints"))


def _mtime(path: str) -> float:
    """Part of the cache key, so a checkpoint rewritten on disk is loaded again."""
    try:
        return (Path(path) / "model.safetensors").stat().st_mtime
    except OSError:
        return 0.0


def _remember(key: str) -> None:
    st.session_state[key[1:]] = st.session_state[key]


def model_picker_ui() -> str | None:
    """Sidebar: pick a checkpoint (shared by all pages through session state)."""
    names = [p.name for p in core.find_checkpoints(checkpoint_dir())]
    options = names + [OTHER]
    current = st.session_state.get("checkpoint", DEFAULT if DEFAULT in names else options[0])
    st.sidebar.selectbox("Model", options, index=options.index(current) if current in options else 0,
                         key="_checkpoint", on_change=_remember, args=("_checkpoint",))
    st.session_state["checkpoint"] = st.session_state["_checkpoint"]
    if st.session_state["checkpoint"] == OTHER:
        st.sidebar.text_input("Checkpoint folder", value=st.session_state.get("other_path", ""), key="_other_path",
                              on_change=_remember, args=("_other_path",), placeholder="/path/to/checkpoint")
        return st.session_state.get("_other_path") or None
    return str(checkpoint_dir() / st.session_state["checkpoint"])


def data_dir_ui() -> str:
    st.sidebar.text_input("Local dataset folder (optional)", value=st.session_state.get("data_dir", os.environ.get(
        "CCVAE_DATA_DIR", "")), key="_data_dir", on_change=_remember, args=("_data_dir",),
        help="With the dataset on disk (e.g. MNIST's IDX files), its test set replaces the bundled sample images.")
    return st.session_state.get("_data_dir", "")


NAVIGATION = [  # (file relative to the repo root, label, icon)
    ("app.py", "Home", ":material/home:"),
    ("pages/1_Swap_grid.py", "Swap grid", ":material/grid_on:"),
    ("pages/2_Interpolation.py", "Interpolation", ":material/linear_scale:"),
    ("pages/3_Latent_sliders.py", "Latent sliders", ":material/tune:"),
    ("pages/4_Random_sampling.py", "Random sampling", ":material/casino:"),
    ("pages/5_Latent_map.py", "Latent map", ":material/scatter_plot:"),
    ("pages/6_Metrics.py", "Metrics", ":material/table_chart:"),
    ("pages/7_Few_shot.py", "Few-shot", ":material/person_add:"),
    ("pages/8_Train_live.py", "Train live", ":material/model_training:"),
    ("pages/9_Compare.py", "Compare", ":material/compare:"),
]


def navigation_ui() -> None:
    """Our own page links (the automatic list is hidden in .streamlit/config.toml: it would call Home "app")."""
    try:
        for path, label, icon in NAVIGATION:
            st.sidebar.page_link(path, label=label, icon=icon)
    except StreamlitPageNotFoundError:
        return  # a page run on its own (`streamlit run pages/x.py`, AppTest) has no other pages to link to
    st.sidebar.divider()


def page_header(title: str, intro: str = "") -> None:
    """Page config, the page links and the title: what every page starts with."""
    st.set_page_config(page_title=f"{title} · CC-VAE Explorer", page_icon="🔀", layout="wide")
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
    data_dir = data_dir_ui()
    if not path:
        st.info("Enter a checkpoint folder in the sidebar.")
        return None
    try:
        model, latents, metrics = cached_model(path, _mtime(path))
    except core.CheckpointError as err:
        st.error(f"Cannot open this model: {err}")
        return None
    try:
        gallery = cached_gallery(path, _mtime(path), data_dir)
    except DataError as err:
        st.sidebar.warning(f"Dataset folder not used: {err}")
        data_dir = ""
        try:
            gallery = cached_gallery(path, _mtime(path), data_dir)
        except DataError as err2:
            st.error(f"No sample images for this model: {err2}")
            return None
    cfg = model.config
    dims = f"noise {cfg.z_dim} / f {cfg.s_dim}" if cfg.method not in SPLIT_METHODS else f"z {cfg.z_dim} / s {cfg.s_dim}"
    st.sidebar.caption(f"{cfg.method} · {cfg.dataset} · {dims} · {cfg.training_steps:,} steps  \n"
                       f"images: {gallery.name} ({len(gallery):,})")
    if is_autoregressive(model):
        st.sidebar.info(f"PixelCNN decoder (PixelVAE): every image is sampled pixel by pixel "
                        f"({model.config.image_shape[1] * model.config.image_shape[2]:,} steps), so decoding takes "
                        "seconds instead of milliseconds; a progress bar shows how far it is.")
    if split_only and cfg.method not in SPLIT_METHODS:
        st.info(f"This page works on a z/s split, and this is a {cfg.method.upper()} model, which has none (one "
                "identity feature and a pose code). Open **Swap grid** to see it render each input at every pose, "
                "or pick another model in the sidebar.")
        return None
    return Ctx(path, model, latents, metrics, gallery, data_dir)


@contextmanager
def decoding(ctx: Ctx, what: str = "images") -> Iterator[Progress | None]:
    """``with decoding(ctx, "the grid") as progress:`` a progress callback for ``core.explore`` functions,
    shown as a bar while a PixelCNN model samples (removed when done); None for one-pass decoders."""
    if not is_autoregressive(ctx.model):
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
    names = ctx.gallery.class_names
    return names[label] if 0 <= label < len(names) else str(label)


def upscale(array: np.ndarray, width: int) -> Image.Image:
    """Nearest-neighbour upscaling to about ``width`` pixels, so pixels stay crisp."""
    im = Image.fromarray(array if array.shape[-1] == 3 else array[..., 0])
    factor = max(1, round(width / im.width))
    return im.resize((im.width * factor, im.height * factor), Image.NEAREST)


def show(array: np.ndarray, *, width: int = 640, caption: str | None = None) -> None:
    st.image(upscale(array, width), caption=caption, output_format="PNG")


def thumbnail_sheet(ctx: Ctx, indices: torch.Tensor, *, per_row: int = 12) -> None:
    """Numbered thumbnails, so images can be picked by their number."""
    cols = st.columns(per_row)
    for i, idx in enumerate(indices.tolist()):
        with cols[i % per_row]:
            label = class_name(ctx, int(ctx.gallery.labels[idx]))
            st.image(upscale(to_uint8(ctx.gallery.floats(idx)), 56), caption=f"#{idx} · {label}", output_format="PNG")


def explain(text: str) -> None:
    with st.expander("What am I looking at?"):
        st.write(text)


__all__ = ["Ctx", "checkpoint_dir", "class_name", "data_dir_ui", "decoding", "explain", "gallery_codes", "page_header",
           "page_setup", "prototypes", "show", "thumbnail_sheet", "upscale"]


@st.cache_resource(show_spinner="Encoding the sample images…", max_entries=8)
def _cached_codes(path: str, mtime: float, data_dir: str) -> core.Encoding:
    model, _, _ = cached_model(path, mtime)
    return core.encode_all(model, cached_gallery(path, mtime, data_dir).images)


def gallery_codes(ctx: Ctx) -> core.Encoding:
    """z mean, z logvar and s of every gallery image, computed once per model and gallery."""
    return _cached_codes(ctx.path, _mtime(ctx.path), ctx.data_dir)


def prototypes(ctx: Ctx) -> torch.Tensor:
    """Per-class mean s (K, s_dim): from the checkpoint's statistics, else from the gallery."""
    if "class_mean_s" in ctx.latents:
        return ctx.latents["class_mean_s"]
    labels = ctx.gallery.labels
    return class_means(gallery_codes(ctx).s, labels, int(labels.max()) + 1)[0]
