"""CC-VAE Explorer: the landing page. Pick a model and see its swap grid.

    streamlit run app.py

Thin by design: widgets and layout here, everything else in ``core``.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import streamlit as st
import torch
from PIL import Image

import core
from core.data import DataError
from core.gallery import load_gallery, one_per_class

ROOT = Path(__file__).resolve().parent
CHECKPOINT_DIR = Path(os.environ.get("CCVAE_CHECKPOINT_DIR", ROOT / "checkpoints"))
DEFAULT = "mnist"

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@st.cache_resource(show_spinner="Loading model…")
def cached_model(path: str):
    return core.load_model(path), core.load_latents(path), core.load_metrics(path)


@st.cache_resource(show_spinner="Loading sample images…")
def cached_gallery(path: str, data_dir: str):
    model, latents, _ = cached_model(path)
    return load_gallery(model, latents, data_dir=data_dir or None)


def model_picker_ui() -> str | None:
    found = core.find_checkpoints(CHECKPOINT_DIR)
    names = [p.name for p in found]
    st.sidebar.header("Model")
    choice = st.sidebar.selectbox("Checkpoint", names + ["Other folder…"],
                                  index=names.index(DEFAULT) if DEFAULT in names else 0)
    if choice == "Other folder…":
        path = st.sidebar.text_input("Checkpoint folder", placeholder="/path/to/checkpoint")
        return path or None
    return str(CHECKPOINT_DIR / choice)


def data_dir_ui() -> str:
    return st.sidebar.text_input("Local dataset folder (optional)", value=os.environ.get("CCVAE_DATA_DIR", ""),
                                 help="With MNIST on disk, the test set replaces the bundled sample digits.")


def model_card_ui(model, metrics: dict) -> None:
    cfg = model.config
    cols = st.columns(4)
    cols[0].metric("Dataset", cfg.dataset)
    cols[1].metric("z / s dims", f"{cfg.z_dim} / {cfg.s_dim}")
    cols[2].metric("Training steps", f"{cfg.training_steps:,}")
    acc = metrics.get("evaluation", {}).get("accuracy")
    if acc:
        cols[3].metric("s test acc. / z test acc.", f"{acc['s']['test']:.1f}% / {acc['z_sample']['test']:.1f}%",
                       help="Table 4.1 protocol: an MLP predicts the label from s (should be high) or from a "
                            f"sample of z (should be near chance). z from the posterior mean: {acc['z_mean']['test']:.1f}%.")
    else:
        cols[3].metric("Evaluation", "not run", help="python -m train.evaluate --checkpoint <folder>")


def upscale(array, factor: int = 3) -> Image.Image:
    im = Image.fromarray(array)
    return im.resize((im.width * factor, im.height * factor), Image.NEAREST)


def main() -> None:
    st.set_page_config(page_title="CC-VAE Explorer", page_icon="🔀", layout="wide")
    st.title("CC-VAE Explorer")
    st.write("A cycle-consistent VAE splits each image into **s**, the factor it was told about "
             "(which digit), and **z**, everything else (how it is written). Below, every cell is decoded "
             "from the **z of its row** and the **s of its column**.")
    path = model_picker_ui()
    data_dir = data_dir_ui()
    if not path:
        st.info("Enter a checkpoint folder in the sidebar.")
        return
    try:
        model, latents, metrics = cached_model(path)
        gallery = cached_gallery(path, data_dir)
    except (core.CheckpointError, DataError) as err:
        st.error(f"Cannot open this model: {err}")
        return
    model_card_ui(model, metrics)

    st.subheader("Swap grid")
    left, right = st.columns([1, 3])
    with left:
        rows = st.slider("Rows (z sources)", 2, 12, 6)
        if st.button("Shuffle rows"):
            st.session_state["seed"] = st.session_state.get("seed", 0) + 1
        seed = st.session_state.get("seed", 0)
        st.caption(f"Images: {gallery.name}, {len(gallery):,}")
    g = torch.Generator().manual_seed(seed)
    row_idx = torch.randperm(len(gallery), generator=g)[:rows]
    col_idx = one_per_class(gallery, seed=seed)[:12]
    z_src, s_src = gallery.floats(row_idx), gallery.floats(col_idx)
    grid = core.framed_grid(core.swap_grid(model, z_src, s_src), z_src, s_src)
    with right:
        st.image(upscale(grid), caption="Top row: s sources. Left column: z sources.", output_format="PNG")
        buf = io.BytesIO()
        Image.fromarray(grid).save(buf, format="PNG")
        st.download_button("Download PNG", buf.getvalue(), file_name="swap_grid.png", mime="image/png")


main()
