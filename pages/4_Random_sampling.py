"""Random sampling (report Fig. 4.10): keep s, draw z from the prior. Export the samples as a dataset."""

from __future__ import annotations

import streamlit as st
import torch

from core.explore import png_bytes, sample_prior, sample_zip, tile
from core.limits import MAX_PICK_CHARS, MAX_PICKS, MAX_ROWS, MAX_ZIP_IMAGES, LimitError
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
        n = st.slider("Samples per row", 2, 16, 10)
        seed = int(st.number_input("Seed", 0, 1_000_000, 0, help="The same seed gives the same z draws"))
    source = st.radio("s from", SOURCES, horizontal=True)
    if source == SOURCES[0]:
        chosen = st.multiselect(f"Classes (at most {MAX_ROWS})", range(k), default=list(range(min(k, 10))),
                                format_func=names.__getitem__, max_selections=MAX_ROWS)
        if not chosen:
            st.warning("Choose at least one class.")
            return
        s, labels = protos[chosen], [names[c] for c in chosen]
    else:
        picks = st.text_input(f"Gallery numbers, comma-separated (at most {MAX_PICKS})", "0, 1, 2",
                              max_chars=MAX_PICK_CHARS)
        try:
            idx = [int(v) for v in picks[:MAX_PICK_CHARS].replace(" ", "").split(",") if v]
        except ValueError:
            st.error("Write gallery numbers as integers separated by commas, e.g. 0, 7, 42.")
            return
        if len(idx) > MAX_PICKS:
            st.error(f"{len(idx)} gallery numbers: the limit is {MAX_PICKS} rows.")
            return
        bad = [i for i in idx if not 0 <= i < len(ctx.gallery)]
        if not idx or bad:
            st.error(f"Gallery numbers go from 0 to {len(ctx.gallery) - 1}" + (f"; not {bad}" if bad else "."))
            return
        with torch.no_grad():
            s = ctx.model.encode(ctx.gallery.floats(torch.tensor(idx))).s
        labels = [class_name(ctx, int(ctx.gallery.labels[i])) for i in idx]
    try:
        with decoding(ctx, "the samples") as progress:
            samples = sample_prior(ctx.model, s, n=n, seed=seed, progress=progress)  # (rows, n, C, H, W)
    except LimitError as err:
        st.error(str(err))
        return
    grid = tile(samples.flatten(0, 1), nrow=n)
    show(grid, width=720, caption="Rows: " + ", ".join(labels) + ". Columns: z ~ N(0, I), the same draw down each column.")
    st.download_button("Download grid (PNG)", png_bytes(grid), "samples.png", "image/png")

    st.subheader("Export an augmented dataset")
    most = max(10, min(500, MAX_ZIP_IMAGES // len(labels)) // 10 * 10)
    per_class = st.slider("Images per row to generate", 10, most, min(100, most), step=10, key="zip_per_row",
                          help=f"At most {MAX_ZIP_IMAGES:,} images in one zip.")
    if st.button("Generate zip"):
        st.session_state.pop("export_zip", None)  # one zip per session at a time
        bar = st.progress(0.0, text=f"Generating {per_class * len(labels):,} images…")
        model, rows = ctx.model, s.detach().clone()

        def work(report):
            return sample_zip(model, rows, labels, per_row=per_class, seed=seed + 1,
                              progress=lambda done, total: report(done, total))

        data = heavy(f"a zip of {per_class * len(labels):,} samples", work,
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
