"""Interpolation (report Fig. 4.9): straight lines between two images in z, in s, or both."""

from __future__ import annotations

import io

import streamlit as st
import torch
from PIL import Image

from core.explore import INTERPOLATION_MODES, interpolate, interpolation_grid, png_bytes, tile, to_uint8
from pages.widgets import class_name, decoding, explain, page_setup, show

MODE_LABELS = {"z": "z only (style changes)", "s": "s only (class changes)", "both": "both"}


def gif_bytes(frames) -> bytes:
    """An animated GIF that plays the strip forward and back."""
    images = [Image.fromarray(f[..., 0] if f.shape[-1] == 1 else f).resize((112, 112), Image.NEAREST) for f in frames]
    images = images + images[-2:0:-1]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=120, loop=0)
    return buf.getvalue()


def _random_pair(n: int) -> None:
    """Two random gallery numbers from a generator of this click's own (the global one is shared by the
    server's sessions, and training reseeds it)."""
    g = torch.Generator()
    g.seed()  # a fresh, non-deterministic seed
    st.session_state["interp_a"], st.session_state["interp_b"] = torch.randint(n, (2,), generator=g).tolist()


def main() -> None:
    ctx = page_setup("Interpolation", "Walk from image **A** to image **B** in a straight line in latent space.")
    if ctx is None:
        return
    n = len(ctx.gallery)
    with st.sidebar:
        steps = st.slider("Steps", 2, 16, 8)
        mode = st.radio("Interpolate", INTERPOLATION_MODES, format_func=MODE_LABELS.get, index=2)
    # first visit, or a smaller gallery after switching model; B starts in another class (the gallery is sorted)
    for key, default in (("interp_a", 0), ("interp_b", n // 2)):
        if st.session_state.get(key, n) >= n:
            st.session_state[key] = default
    c1, c2, c3 = st.columns([2, 2, 1])
    a = int(c1.number_input("Image A (gallery number)", 0, n - 1, key="interp_a"))
    b = int(c2.number_input("Image B (gallery number)", 0, n - 1, key="interp_b"))
    c3.button("Random pair", on_click=_random_pair, args=(n,))
    x_a, x_b = ctx.gallery.floats(a), ctx.gallery.floats(b)
    la, lb = (class_name(ctx, int(ctx.gallery.labels[i])) for i in (a, b))
    st.caption(f"A = #{a} (label {la}), B = #{b} (label {lb})" + (" — the same image" if a == b else ""))

    with decoding(ctx, "the strip") as progress:
        strip = interpolate(ctx.model, x_a, x_b, steps=steps, mode=mode, progress=progress)
    strip_img = tile(torch.cat([x_a[None], strip, x_b[None]]), nrow=steps + 2)
    show(strip_img, width=900, caption=f"A, then {steps} decodings interpolating {MODE_LABELS[mode]}, then B.")
    d1, d2 = st.columns(2)
    d1.download_button("Download strip (PNG)", png_bytes(strip_img), "interpolation.png", "image/png")
    d2.download_button("Download animation (GIF)", gif_bytes(to_uint8(strip)), "interpolation.gif", "image/gif")

    st.subheader("2-D grid: z changes down, s changes across")
    with decoding(ctx, "the grid") as progress:
        grid = interpolation_grid(ctx.model, x_a, x_b, steps=steps, progress=progress)
    grid_img = tile(grid.flatten(0, 1), nrow=steps)
    show(grid_img, width=min(900, 80 * steps), caption="Top-left: z and s of A. Bottom-right: z and s of B. "
         "Moving right changes only s (the class); moving down changes only z (the style).")
    st.download_button("Download grid (PNG)", png_bytes(grid_img), "interpolation_grid.png", "image/png")
    explain("A smooth strip means the latent space is continuous. Interpolating s alone should morph one class into "
            "the other while keeping the style; interpolating z alone keeps the class and changes the style. "
            "Report Fig. 4.9.")


main()
