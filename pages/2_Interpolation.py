"""Interpolation (report Fig. 4.9): straight lines between two images in z, in s, or both."""

from __future__ import annotations

import streamlit as st

from core.features import INTERPOLATION_MODES, MAX_INTERPOLATION_STEPS, grids, png_bytes
from pages.widgets import decoding, explain, page_setup, show


def _random_pair(n: int) -> None:
    st.session_state["interp_a"], st.session_state["interp_b"] = grids.random_pair(n)


def main() -> None:
    ctx = page_setup("Interpolation", "Walk from image **A** to image **B** in a straight line in latent space.")
    if ctx is None:
        return
    n = len(ctx.gallery)
    with st.sidebar:
        steps = st.slider("Steps", 2, MAX_INTERPOLATION_STEPS, 8)
        mode = st.radio("Interpolate", INTERPOLATION_MODES, format_func=grids.INTERPOLATION_LABELS.get, index=2)
    # first visit, or a smaller gallery after switching model; B starts in another class (the gallery is sorted)
    for key, default in (("interp_a", 0), ("interp_b", n // 2)):
        if st.session_state.get(key, n) >= n:
            st.session_state[key] = default
    c1, c2, c3 = st.columns([2, 2, 1])
    a = int(c1.number_input("Image A (gallery number)", 0, n - 1, key="interp_a"))
    b = int(c2.number_input("Image B (gallery number)", 0, n - 1, key="interp_b"))
    c3.button("Random pair", on_click=_random_pair, args=(n,))
    st.caption(grids.pair_caption(ctx.gallery, a, b))

    with decoding(ctx, "the strip") as progress:
        strip, gif = grids.interpolation_strip(ctx.model, ctx.gallery, a, b, steps, mode, progress=progress)
    show(*strip, width=900)
    d1, d2 = st.columns(2)
    d1.download_button("Download strip (PNG)", png_bytes(strip.picture), "interpolation.png", "image/png")
    d2.download_button("Download animation (GIF)", gif, "interpolation.gif", "image/gif")

    st.subheader("2-D grid: z changes down, s changes across")
    with decoding(ctx, "the grid") as progress:
        grid = grids.interpolation_square(ctx.model, ctx.gallery, a, b, steps, progress=progress)
    show(*grid, width=min(900, 80 * steps))
    st.download_button("Download grid (PNG)", png_bytes(grid.picture), "interpolation_grid.png", "image/png")
    explain("A smooth strip means the latent space is continuous. Interpolating s alone should morph one class into "
            "the other while keeping the style; interpolating z alone keeps the class and changes the style. "
            "Report Fig. 4.9.")


main()
