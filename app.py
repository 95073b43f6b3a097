"""CC-VAE Explorer, home page: pick a model, see what it learned.

    streamlit run app.py

The other pages live in ``pages/`` (Streamlit's multipage folder). All are thin: widgets and layout
there, everything else in ``core``. Each page sets itself up (``pages.widgets.page_setup``), so each
runs, and is tested, on its own.
"""

from __future__ import annotations

import streamlit as st

from core.features import cold_preview

TITLE = "CC-VAE Explorer"
INTRO = ("A cycle-consistent VAE splits each image into **s**, the factor it was told about (which digit, whose face), "
         "and **z**, everything else (how it is written, how it is lit). Use the pages in the sidebar to take the two "
         "apart and put them back together.")


def cold_preview_ui() -> list:
    """On a cold server, the model's stored swap grid at once, while torch and the model load (emptied after)."""
    figure = cold_preview(st.session_state.get("checkpoint"))
    if figure is None:
        return []
    st.set_page_config(page_title=f"{TITLE} · CC-VAE Explorer", page_icon="🔀", layout="wide")  # as page_setup's
    slots = [st.empty(), st.empty()]
    slots[0].title(TITLE)
    slots[1].image(str(figure), width=760, caption="The stored swap grid of this model, shown while the model loads.")
    return slots


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
    preview = cold_preview_ui()
    # torch and the model: seconds on a cold server, so imported after the preview is on screen
    from core.features import png_bytes, scores
    from core.features.home import grid_explanation, home_grid, reconstructions
    from pages.widgets import decoding, explain, page_setup, show, tiles

    ctx = page_setup(TITLE, INTRO)
    for slot in preview:
        slot.empty()
    tour_ui()
    if ctx is None:
        return
    tiles(scores.card(ctx.loaded), [1, 1, 1, 1.5])  # the last holds two percentages

    st.subheader("Swap grid")
    seed = st.session_state.get("home_seed", 0)
    with decoding(ctx, "the grid") as progress:
        grid = home_grid(ctx.model, ctx.gallery, seed, progress=progress)
    left, right = st.columns([3, 1])
    with left:
        show(*grid, width=760)
    with right:
        if st.button("Shuffle"):
            st.session_state["home_seed"] = seed + 1
            st.rerun()
        st.download_button("Download PNG", png_bytes(grid.picture), file_name="swap_grid.png", mime="image/png")
        st.markdown("**Try next**\n- *Swap grid*: choose the images yourself\n- *Latent sliders*: "
                    "move one z dimension at a time\n- *Latent map*: see s cluster by class while z does not")
    explain(grid_explanation(ctx.model.config))

    st.subheader("Reconstructions")
    with decoding(ctx, "the reconstructions") as progress:
        show(*reconstructions(ctx.model, ctx.gallery, seed + 1, progress=progress, where="the sidebar"), width=760)

main()
