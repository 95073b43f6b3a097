"""Swap grid (report Fig. 4.1/4.8): z from the row images, s from the column images.

For a pose-conditioned model (DR-GAN, report 4.0.3.1), which has no separate style code, a pose grid instead:
each row an input image, each column a target pose.
"""

from __future__ import annotations

import streamlit as st

from core.features import MAX_GRID_SIDE, grids, png_bytes
from pages.widgets import decoding, explain, page_setup, show, thumbnail_sheet

MODES = grids.SOURCE_MODES


def sources_ui(ctx, which: str, n: int, seed: int, candidates: list[int]) -> list[int]:
    mode = st.radio(f"{which} images", MODES, horizontal=True, key=f"{which}_mode",
                    index=1 if which == "Column (s)" else 0)
    if mode != MODES[2]:
        return grids.sources(ctx.gallery, mode, n, seed + (7919 if mode == MODES[0] and not which.startswith("Row") else 0))
    labels = dict(zip(candidates, grids.sheet_labels(ctx.gallery, candidates)))
    picked = st.multiselect(f"{which}: numbers from the sheet below", candidates, key=f"{which}_picked",
                            default=candidates[: min(n, 4)], format_func=labels.get, max_selections=12)
    if len(picked) < 1:
        st.warning(f"Pick at least one {which.lower()} image.")
        picked = candidates[:1]
    return picked


def pose_grid_ui(ctx) -> None:
    """DR-GAN: rows are input images, columns the model's poses."""
    factor = ctx.model.pose_factor.replace("_", " ")
    st.write(f"Each row is one input image; each column renders its identity feature f at one target {factor}.")
    with st.sidebar:
        n_rows = st.slider("Rows", 2, MAX_GRID_SIDE, 6, key="pose_rows")
        seed = int(st.number_input("Seed", 0, 10_000, 0, help="Which images are used", key="pose_seed"))
        noise_seed = int(st.number_input("Noise seed (0: zero noise)", 0, 10_000, 0, key="pose_noise",
                                         help="DR-GAN's decoder also reads a noise vector; 0 uses its mean"))
    mode = st.radio("Input images", MODES[:2], horizontal=True, key="pose_mode")
    grid = grids.pose_view(ctx.model, ctx.gallery, n_rows, seed, by_class=mode != MODES[0], noise_seed=noise_seed)
    show(*grid, width=120 * (len(ctx.model.pose_names) + 1))
    st.caption("Why not a swap grid? DR-GAN has no separate style code: its encoder gives one identity feature f, "
               f"and the {factor} is an input of the decoder, so there is no z to take from one image and no s to "
               "take from another. What the pose code does not describe stays in f.")
    st.download_button("Download PNG", png_bytes(grid.picture), file_name="pose_grid.png", mime="image/png")
    explain(f"DR-GAN (Tran et al., CVPR 2017; report 4.0.3.1) renders an image's identity at a chosen {factor}. "
            "A good model keeps each row one person and makes each column show its "
            f"{factor}. Compare the CC-VAE's swap grid, where the style comes from another image rather than "
            "from a label.")


def main() -> None:
    ctx = page_setup("Swap grid", split_only=False)
    if ctx is not None and ctx.model.takes_pose:
        pose_grid_ui(ctx)
        return
    st.write("Every cell is decoded from the **z of its row** and the **s of its column**.")
    if ctx is None:
        return
    with st.sidebar:
        n_rows = st.slider("Rows", 2, MAX_GRID_SIDE, 6)
        n_cols = st.slider("Columns", 2, MAX_GRID_SIDE, 10)
        seed = int(st.number_input("Seed", 0, 10_000, 0, help="Which random images are used"))
    candidates = grids.candidates(ctx.gallery, seed)
    c1, c2 = st.columns(2)
    with c1:
        rows = sources_ui(ctx, "Row (z)", n_rows, seed, candidates)
    with c2:
        cols = sources_ui(ctx, "Column (s)", n_cols, seed, candidates)
    if MODES[2] in (st.session_state.get("Row (z)_mode"), st.session_state.get("Column (s)_mode")):
        with st.expander("Images to pick from", expanded=True):
            thumbnail_sheet(ctx, candidates)
    with decoding(ctx, "the grid") as progress:
        grid = grids.swap_view(ctx.model, ctx.gallery, rows, cols, progress=progress)
    show(*grid, width=900)
    st.download_button("Download PNG", png_bytes(grid.picture), file_name="swap_grid.png", mime="image/png")
    explain("Each row keeps the style of its left-most image; each column keeps the class of its top image. "
            "A good split gives rows that look like one writer and columns that all show one digit. "
            "Report Fig. 4.1 (MNIST) and Fig. 4.8 (faces); ECCV paper Fig. 3.")


main()
