"""Random sampling (report Fig. 4.10): keep s, draw z from the prior. Export the samples as a dataset."""

from __future__ import annotations

import streamlit as st

from core.features import MAX_PICK_CHARS, MAX_PICKS, MAX_ROWS, MAX_SAMPLES_SHOWN, MAX_ZIP_IMAGES, grids, png_bytes
from pages.widgets import class_name, decoding, explain, heavy, page_setup, prototypes, show

SOURCES = ("Class prototypes (mean s of each class)", "s of chosen images")


def main() -> None:
    ctx = page_setup("Random sampling", "Each row keeps one **s**; each column is one draw of **z** from the prior "
                     "N(0, I), shared by all rows.")
    if ctx is None:
        return
    if not ctx.model.stochastic:
        st.warning("This model's z is deterministic (Szabó et al.: an autoencoder without a prior), so z drawn "
                   "from N(0, I) may fall where no training code lies; the samples show that, not the method's best.")
    protos = prototypes(ctx)
    k = protos.shape[0]
    names = [class_name(ctx, i) for i in range(k)]
    with st.sidebar:
        n = st.slider("Samples per row", 2, MAX_SAMPLES_SHOWN, 10)
        seed = int(st.number_input("Seed", 0, 1_000_000, 0, help="The same seed gives the same z draws"))
    source = st.radio("s from", SOURCES, horizontal=True)
    if source == SOURCES[0]:
        chosen = st.multiselect(f"Classes (at most {MAX_ROWS})", range(k), default=list(range(min(k, 10))),
                                format_func=names.__getitem__, max_selections=MAX_ROWS)
        if not chosen:
            st.warning("Choose at least one class.")
            return
        s, labels = grids.class_rows(protos, chosen), [names[c] for c in chosen]
    else:
        picks = st.text_input(f"Gallery numbers, comma-separated (at most {MAX_PICKS})", "0, 1, 2",
                              max_chars=MAX_PICK_CHARS)
        try:
            s, labels = grids.image_rows(ctx.model, ctx.gallery, grids.parse_picks(picks, len(ctx.gallery)))
        except ValueError as err:  # LimitError too
            st.error(str(err))
            return
    try:
        with decoding(ctx, "the samples") as progress:
            grid = grids.samples_view(ctx.model, s, labels, n, seed, progress=progress)
    except ValueError as err:  # LimitError
        st.error(str(err))
        return
    show(*grid, width=720)
    st.download_button("Download grid (PNG)", png_bytes(grid.picture), "samples.png", "image/png")

    st.subheader("Export an augmented dataset")
    most = grids.zip_most(len(labels))
    per_class = st.slider("Images per row to generate", 10, most, min(100, most), step=10, key="zip_per_row",
                          help=f"At most {MAX_ZIP_IMAGES:,} images in one zip.")
    if st.button("Generate zip"):
        st.session_state.pop("export_zip", None)  # one zip per session at a time
        bar = st.progress(0.0, text=f"Generating {per_class * len(labels):,} images…")
        data = heavy(f"a zip of {per_class * len(labels):,} samples", grids.zip_work(ctx.model, s, labels, per_class, seed + 1),
                     on_progress=lambda done, total: bar.progress(done / total, text=f"{done:,} / {total:,} images"))
        bar.empty()
        if data is not None:
            st.session_state["export_zip"] = data
    if "export_zip" in st.session_state:
        st.download_button("Download dataset (zip: one folder per label + labels.csv)", st.session_state["export_zip"],
                           "ccvae_samples.zip", "application/zip")
    explain("Because z is independent of the class, any z drawn from the prior can be combined with any s: new "
            "images of the same class in new styles. Such samples can enlarge a training set (generative data "
            "augmentation). Report Fig. 4.10.")


main()
