"""CC-VAE Explorer, home page: pick a model, see what it learned.

    streamlit run app.py

The other pages live in ``pages/`` (Streamlit's multipage folder). All are thin: widgets and layout
there, everything else in ``core``. Each page sets itself up (``pages.widgets.page_setup``), so each
runs, and is tested, on its own.
"""

from __future__ import annotations

import streamlit as st
import torch

from core.explore import decode, framed_grid, png_bytes, swap_grid, tile
from core.gallery import random_images, swap_sources
from pages.widgets import decoding, explain, page_setup, show


def model_card_ui(ctx) -> None:
    cfg = ctx.model.config
    cols = st.columns([1, 1, 1, 1.5])  # the last holds two percentages
    cols[0].metric("Dataset", cfg.dataset)
    cols[1].metric("z / s dims", f"{cfg.z_dim} / {cfg.s_dim}")
    cols[2].metric("Training steps", f"{cfg.training_steps:,}")
    ev = ctx.metrics.evaluation
    if ev:
        cols[3].metric("s / z test accuracy (%)", f"{ev.s.test:.1f} / {ev.z_sample.test:.1f}",
                       help="Table 4.1 protocol: an MLP predicts the label from s (should be high) or from a sample "
                            f"of z (should be near chance). Reading z's posterior mean instead: {ev.z_mean.test:.1f}%.")
    else:
        cols[3].metric("Evaluation", "not run", help="python -m train.evaluate --checkpoint <folder>")


TOUR = """
**The idea.** The model squeezes every image into two short lists of numbers. **s** is the part it was *told*
about during training: which digit it is (or whose face). **z** is everything else, learnt without any labels:
how thick the pen was, the slant, the size (or, for faces, the lighting). Decoding any z with any s draws a new
image, so you can mix the *style* of one image with the *class* of another.

**What to try first.**
1. Below, the **swap grid**: the left column gives z, the top row gives s. Read a row: the same handwriting writes
   every digit. Read a column: the same digit in everyone's handwriting. Press *Shuffle* for other images.
2. **Interpolation**: walk from one image to another by moving only z (the style morphs, the digit stays) or only s
   (the digit changes, the style stays).
3. **Latent sliders**: move one number of z at a time and see which part of the style it controls.
4. **Latent map**: every image as a dot. Coloured by digit, the s map shows ten clean clusters; the z map should
   look mixed, because z is not supposed to know the digit.
5. **Train live**: train a small model yourself and watch the swap grid sort itself out.

**How to read the grids.** A good model gives rows that look like one writer and columns that each show one digit.
If a column shows several digits, z has kept some of the class; if a row changes style, s has taken some of the
style. The *Metrics* page measures the same thing with numbers: a classifier should guess the digit well from s
and badly (near chance, about 11%) from z.
"""


def tour_ui() -> None:
    with st.expander("New here? A two-minute tour"):
        st.markdown(TOUR)


def main() -> None:
    ctx = page_setup("CC-VAE Explorer", "A cycle-consistent VAE splits each image into **s**, the factor it was told "
                     "about (which digit, whose face), and **z**, everything else (how it is written, how it is lit). "
                     "Use the pages in the sidebar to take the two apart and put them back together.")
    tour_ui()
    if ctx is None:
        return
    model_card_ui(ctx)

    st.subheader("Swap grid")
    seed = st.session_state.get("home_seed", 0)
    z_idx, s_idx = swap_sources(ctx.gallery, 6, 12, seed=seed, cycle=False)
    rows, cols = ctx.gallery.floats(z_idx), ctx.gallery.floats(s_idx)
    with decoding(ctx, "the grid") as progress:
        grid = framed_grid(swap_grid(ctx.model, rows, cols, progress=progress), rows, cols)
    left, right = st.columns([3, 1])
    with left:
        show(grid, width=760, caption="Top row: s sources. Left column: z sources. "
                                      "Each cell: the z of its row decoded with the s of its column.")
    with right:
        if st.button("Shuffle"):
            st.session_state["home_seed"] = seed + 1
            st.rerun()
        st.download_button("Download PNG", png_bytes(grid), file_name="swap_grid.png", mime="image/png")
        st.markdown("**Try next**\n- *Swap grid*: choose the images yourself\n- *Latent sliders*: "
                    "move one z dimension at a time\n- *Latent map*: see s cluster by class while z does not")
    if ctx.model.config.dataset.startswith(("yaleb", "orl", "celeba", "multipie")):
        explain("Rows keep their lighting (carried by z); columns keep their identity (carried by s). If the split "
                "worked, every row is lit the same way and every column shows one person. "
                "This reproduces Fig. 4.8 of the report (faces).")
    else:
        explain("Rows keep their style (slant, thickness, width: carried by z); columns keep their class (carried by s). "
                "If the split worked, every row looks like one person's handwriting and every column shows one digit. "
                "This reproduces Fig. 4.1 of the report (Fig. 3 of the ECCV paper).")

    st.subheader("Reconstructions")
    x = ctx.gallery.floats(random_images(ctx.gallery, 12, seed=seed + 1))
    with torch.no_grad(), decoding(ctx, "the reconstructions") as progress:
        enc = ctx.model.encode(x)
        recon = decode(ctx.model, enc.z_mu, enc.s, progress=progress)
    show(tile(torch.cat([x, recon]), nrow=12), width=760, caption="Top: images. Bottom: Dec(z mean, s) of each.")


main()
