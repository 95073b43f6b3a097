"""Compare: two or more checkpoints side by side on the same images: swap grids, metrics, latent maps.

The fair comparison the baselines exist for (report Table 4.1 and Figs. 4.1/4.6): every model gets
the same row (z) and column (s) images, its metrics come from the same evaluator, and its maps
project the codes of the same test images.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import settings
from core.features import figures, list_models, public_mode
from core.features.compare import MAX_COMPARE_MODELS, Comparison, default_selection, extra_models
from pages.widgets import explain, load, load_gallery_of, page_header, show


def candidates_ui() -> dict[str, str]:
    """Checkpoint name -> resolved folder: the server's models (``core.features.list_models``); a local,
    single-user server also takes extra folders typed in the sidebar."""
    found = {name: str(path) for name, path in list_models().items()}
    if public_mode():
        return found
    extra = st.sidebar.text_input("More checkpoint folders", key="compare_extra", placeholder="runs/authors, runs/sweep",
                                  help="Comma-separated folders that hold checkpoint folders (e.g. the imported "
                                       "authors' checkpoints or sweep cells); each run folder's checkpoint/ counts too.")
    found, warnings = extra_models(found, extra)
    for warning in warnings:
        st.sidebar.warning(warning)
    return found


def main() -> None:
    page_header("Compare", "Pick two or more models: each gets **the same source images**, and their swap grids, "
                "metrics and latent maps are shown side by side.")
    found = candidates_ui()
    names = list(found)
    default = default_selection(found, settings.current().default_model)
    if "compare_models" in st.session_state:  # models of a folder no longer listed drop out of the selection
        st.session_state.compare_models = [n for n in st.session_state.compare_models if n in found]
    picked = st.multiselect(f"Models (at most {MAX_COMPARE_MODELS})", names, default=default, key="compare_models",
                            max_selections=MAX_COMPARE_MODELS)
    if len(picked) < 2:
        st.info("Pick at least two models. More to compare with: the authors' published checkpoints "
                "(`python -m train.import_reference --reference-dir <reference> --out runs/authors`, then add "
                "`runs/authors` in the sidebar, or `--model-root runs/authors` on a class server) or the cells of a "
                "sweep (`runs/sweep`).")
        return
    compared = Comparison.open(picked, found, opener=load)
    for message in compared.errors:
        st.error(message)
    if compared.left_out:
        st.warning(f"Left out (no z/s split to compare): {', '.join(compared.left_out)}.")
    if compared.problem:
        (st.info if compared.problem.startswith("Fewer") else st.error)(compared.problem)
        return
    gallery = load_gallery_of(found[compared.first(picked)], "")
    with st.sidebar:
        n = st.slider("Grid size", 3, 10, 6, key="compare_n")
        seed = int(st.number_input("Seed", 0, 10_000, 0, key="compare_seed", help="Which images are used"))
        points = st.slider("Images in the maps", 200, min(3000, len(gallery)), min(1000, len(gallery)), step=100,
                           key="compare_points")
    st.caption(f"Source images: {gallery.name}, shared by every model (rows give z, columns give s).")

    st.subheader("Swap grids")
    grids = compared.swap_grids(gallery, n, seed)
    for chunk in range(0, len(grids), 3):
        for col, grid in zip(st.columns(3), grids[chunk:chunk + 3]):
            with col:
                show(*grid, width=420)

    st.subheader("Metrics (Table 4.1 protocol)")
    table = pd.DataFrame(compared.metrics_rows()).set_index("checkpoint")
    st.dataframe(table, width="stretch")
    if table.drop(columns=["method", "z / s", "steps"]).isna().all(axis=None):
        st.caption("No evaluation stored with these checkpoints: run `python -m train.evaluate --checkpoint <folder>`.")

    st.subheader("Latent maps (PCA of the same test images)")
    for space in ("s", "z"):
        columns = st.columns(min(3, len(compared.models)))
        for k, (name, xy, labels, title) in enumerate(compared.maps(gallery, points, space)):
            with columns[k % len(columns)]:
                st.plotly_chart(figures.compared_map(xy, labels, title, legend=k == 0), width="stretch",
                                key=f"map-{space}-{name}")
    explain("The same rows and columns go through every model. In a good split each row keeps one style and each "
            "column one class; in a leaky one (a baseline whose z carries the class) the rows change class too. "
            "The table measures that leak: z test accuracy near chance is good, s near 100% is good. The maps show "
            "it: s should form one island per class, z should be mixed. Latent maps use PCA here so they are quick "
            "for several models; the Latent map page has t-SNE and UMAP for one.")


main()
