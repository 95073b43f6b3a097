"""Swap grid (report Fig. 4.1/4.8): z from the row images, s from the column images."""

from __future__ import annotations

import streamlit as st
import torch

from core.explore import framed_grid, png_bytes, swap_grid
from core.gallery import one_per_class
from pages.widgets import class_name, decoding, explain, page_setup, show, thumbnail_sheet

MODES = ("Random", "One per class", "Pick by hand")


def sources_ui(ctx, which: str, n: int, seed: int, candidates: torch.Tensor) -> torch.Tensor:
    mode = st.radio(f"{which} images", MODES, horizontal=True, key=f"{which}_mode",
                    index=1 if which == "Column (s)" else 0)
    if mode == "Random":
        g = torch.Generator().manual_seed(seed + (0 if which.startswith("Row") else 7919))
        return torch.randperm(len(ctx.gallery), generator=g)[:n]
    if mode == "One per class":
        idx = one_per_class(ctx.gallery, seed=seed)
        return idx.repeat((n + len(idx) - 1) // len(idx))[:n]
    picked = st.multiselect(f"{which}: numbers from the sheet below", candidates.tolist(), key=f"{which}_picked",
                            default=candidates[: min(n, 4)].tolist(),
                            format_func=lambda i: f"#{i} ({class_name(ctx, int(ctx.gallery.labels[i]))})",
                            max_selections=12)
    if len(picked) < 1:
        st.warning(f"Pick at least one {which.lower()} image.")
        picked = candidates[:1].tolist()
    return torch.tensor(picked)


def main() -> None:
    ctx = page_setup("Swap grid", "Every cell is decoded from the **z of its row** and the **s of its column**.")
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
    show(grid, width=900, caption="Top row: s sources (what digit). Left column: z sources (how it is written).")
    st.download_button("Download PNG", png_bytes(grid), file_name="swap_grid.png", mime="image/png")
    explain("Each row keeps the style of its left-most image; each column keeps the class of its top image. "
            "A good split gives rows that look like one writer and columns that all show one digit. "
            "Report Fig. 4.1 (MNIST) and Fig. 4.8 (faces); ECCV paper Fig. 3.")


main()
