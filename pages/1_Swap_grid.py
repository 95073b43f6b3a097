"""Swap grid (report Fig. 4.1/4.8): z from the row images, s from the column images.

For a pose-conditioned model (DR-GAN, report 4.0.3.1), which has no separate style code, a pose grid instead:
each row an input image, each column a target pose.
"""

from __future__ import annotations

import streamlit as st
import torch

from core.explore import framed_grid, framed_rows, png_bytes, pose_grid, swap_grid
from core.gallery import class_columns, random_images
from pages.widgets import class_name, decoding, explain, page_setup, show, thumbnail_sheet

MODES = ("Random", "One per class", "Pick by hand")


def sources_ui(ctx, which: str, n: int, seed: int, candidates: torch.Tensor) -> torch.Tensor:
    mode = st.radio(f"{which} images", MODES, horizontal=True, key=f"{which}_mode",
                    index=1 if which == "Column (s)" else 0)
    if mode == "Random":
        return random_images(ctx.gallery, n, seed=seed + (0 if which.startswith("Row") else 7919))
    if mode == "One per class":
        return class_columns(ctx.gallery, n, seed=seed)
    picked = st.multiselect(f"{which}: numbers from the sheet below", candidates.tolist(), key=f"{which}_picked",
                            default=candidates[: min(n, 4)].tolist(),
                            format_func=lambda i: f"#{i} ({class_name(ctx, int(ctx.gallery.labels[i]))})",
                            max_selections=12)
    if len(picked) < 1:
        st.warning(f"Pick at least one {which.lower()} image.")
        picked = candidates[:1].tolist()
    return torch.tensor(picked)


def pose_grid_ui(ctx) -> None:
    """DR-GAN: rows are input images, columns the model's poses."""
    model = ctx.model
    factor, poses = model.pose_factor.replace("_", " "), model.pose_names
    st.write(f"Each row is one input image; each column renders its identity feature f at one target {factor}.")
    with st.sidebar:
        n_rows = st.slider("Rows", 2, 12, 6, key="pose_rows")
        seed = int(st.number_input("Seed", 0, 10_000, 0, help="Which images are used", key="pose_seed"))
        noise_seed = int(st.number_input("Noise seed (0: zero noise)", 0, 10_000, 0, key="pose_noise",
                                         help="DR-GAN's decoder also reads a noise vector; 0 uses its mean"))
    mode = st.radio("Input images", MODES[:2], horizontal=True, key="pose_mode")
    if mode == "Random":
        rows = random_images(ctx.gallery, n_rows, seed=seed)
    else:
        rows = class_columns(ctx.gallery, n_rows, seed=seed, cycle=False)
    noise = None
    if noise_seed:
        noise = model.sample_noise(1, torch.Generator(next(model.parameters()).device).manual_seed(noise_seed))[0]
    x = ctx.gallery.floats(rows)
    grid = framed_rows(pose_grid(model, x, list(range(len(poses))), noise=noise), x)
    show(grid, width=120 * (len(poses) + 1), caption=f"Left column: inputs. Then one column per {factor}: "
         f"{', '.join(poses)}.")
    st.caption("Why not a swap grid? DR-GAN has no separate style code: its encoder gives one identity feature f, "
               f"and the {factor} is an input of the decoder, so there is no z to take from one image and no s to "
               "take from another. What the pose code does not describe stays in f.")
    st.download_button("Download PNG", png_bytes(grid), file_name="pose_grid.png", mime="image/png")
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
        n_rows = st.slider("Rows", 2, 12, 6)
        n_cols = st.slider("Columns", 2, 12, 10)
        seed = st.number_input("Seed", 0, 10_000, 0, help="Which random images are used")
    g = torch.Generator().manual_seed(int(seed))
    candidates = torch.randperm(len(ctx.gallery), generator=g)[:36]
    c1, c2 = st.columns(2)
    with c1:
        rows = sources_ui(ctx, "Row (z)", n_rows, int(seed), candidates)
    with c2:
        cols = sources_ui(ctx, "Column (s)", n_cols, int(seed), candidates)
    if "Pick by hand" in (st.session_state.get("Row (z)_mode"), st.session_state.get("Column (s)_mode")):
        with st.expander("Images to pick from", expanded=True):
            thumbnail_sheet(ctx, candidates)
    z_src, s_src = ctx.gallery.floats(rows), ctx.gallery.floats(cols)
    with decoding(ctx, "the grid") as progress:
        grid = framed_grid(swap_grid(ctx.model, z_src, s_src, progress=progress), z_src, s_src)
    what = ("what digit", "how it is written") if ctx.model.config.dataset == "mnist" else \
        ("the labelled factor: " + ", ".join(ctx.gallery.class_names[:2]) + ", ...", "everything else")
    show(grid, width=900, caption=f"Top row: s sources ({what[0]}). Left column: z sources ({what[1]}).")
    st.download_button("Download PNG", png_bytes(grid), file_name="swap_grid.png", mime="image/png")
    explain("Each row keeps the style of its left-most image; each column keeps the class of its top image. "
            "A good split gives rows that look like one writer and columns that all show one digit. "
            "Report Fig. 4.1 (MNIST) and Fig. 4.8 (faces); ECCV paper Fig. 3.")


main()
