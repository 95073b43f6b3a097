"""Compare: two or more checkpoints side by side on the same images: swap grids, metrics, latent maps.

The fair comparison the baselines exist for (report Table 4.1 and Figs. 4.1/4.6): every model gets
the same row (z) and column (s) images, its metrics come from the same evaluator, and its maps
project the codes of the same test images.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st
import torch

import core
from core import service
from core.evaluation import cached_projection, silhouette
from core.evaluation.projection import map_selection
from core.explore import framed_grid, swap_grid
from core.gallery import label_name, swap_sources
from core.limits import MAX_COMPARE_MODELS
from core.models import method_name
from pages.widgets import default_model, explain, load_gallery_of, page_header, show
from pages.widgets import load as load_model_cached


def candidates_ui() -> dict[str, str]:
    """Checkpoint name -> resolved folder: the server's models (``core.service.list_models``); a local,
    single-user server also takes extra folders typed in the sidebar."""
    found = {name: str(path) for name, path in service.list_models().items()}
    if service.public_mode():
        return found
    extra = st.sidebar.text_input("More checkpoint folders", key="compare_extra", placeholder="runs/authors, runs/sweep",
                                  help="Comma-separated folders that hold checkpoint folders (e.g. the imported "
                                       "authors' checkpoints or sweep cells); each run folder's checkpoint/ counts too.")
    for root in (Path(r.strip()) for r in extra.split(",") if r.strip()):
        try:
            is_dir = root.is_dir()
        except OSError:
            is_dir = False
        if not is_dir:
            st.sidebar.warning(f"{root} is not a folder this server can read")
            continue
        for name, path in service.list_models([root.resolve()]).items():
            if str(path) not in found.values():
                found.setdefault(name, str(path))
    return found


def default_selection(found: dict[str, str]) -> list[str]:
    """The default model and up to three others that read the same kind of images."""
    shapes = {name: config.image_shape for name, config in service.model_configs(found).items()}
    first = default_model() if default_model() in shapes else next(iter(shapes), None)
    if first is None:
        return []
    return [first] + [n for n in shapes if n != first and shapes[n] == shapes[first]][:3]


def load(path: str):
    loaded = load_model_cached(path)
    return loaded.model, loaded.results


def metrics_row(name: str, model, metrics) -> dict:
    cfg = model.config
    row = {"checkpoint": name, "method": method_name(cfg.method), "z / s": f"{cfg.z_dim} / {cfg.s_dim}",
           "steps": cfg.training_steps}
    ev = metrics.evaluation  # None for a metrics.json without (all of) them
    if ev:
        row |= {"z test % (sample)": ev.z_sample.test, "z test % (mean)": ev.z_mean.test, "s test %": ev.s.test,
                "chance %": ev.chance}
    return row


def main() -> None:
    page_header("Compare", "Pick two or more models: each gets **the same source images**, and their swap grids, "
                "metrics and latent maps are shown side by side.")
    found = candidates_ui()
    names = list(found)
    default = default_selection(found)
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
    models, failed = {}, []
    for name in picked:
        try:
            models[name] = load(found[name])
        except core.CheckpointError as err:
            failed.append(f"{name}: {service.user_message(err, 'this model') if service.public_mode() else err}")
    for message in failed:
        st.error(f"Cannot open {message}")
    unsplit = [n for n, (m, _) in models.items() if not m.has_split]
    if unsplit:
        st.warning(f"Left out (no z/s split to compare): {', '.join(unsplit)}.")
    models = {n: v for n, v in models.items() if n not in unsplit}
    shapes = {m.config.image_shape for m, _ in models.values()}
    if len(models) < 2:
        st.info("Fewer than two comparable models left.")
        return
    if len(shapes) > 1:
        st.error("These models read images of different shapes "
                 f"({', '.join(f'{n}: {m.config.image_shape}' for n, (m, _) in models.items())}); pick models "
                 "trained on the same kind of data.")
        return
    first = picked[0] if picked[0] in models else next(iter(models))
    gallery = load_gallery_of(found[first], "")
    with st.sidebar:
        n = st.slider("Grid size", 3, 10, 6, key="compare_n")
        seed = int(st.number_input("Seed", 0, 10_000, 0, key="compare_seed", help="Which images are used"))
        points = st.slider("Images in the maps", 200, min(3000, len(gallery)), min(1000, len(gallery)), step=100,
                           key="compare_points")
    rows, cols = swap_sources(gallery, n, n, seed=seed, cycle=False)
    z_src, s_src = gallery.floats(rows), gallery.floats(cols)
    st.caption(f"Source images: {gallery.name}, shared by every model (rows give z, columns give s).")

    st.subheader("Swap grids")
    for chunk in range(0, len(models), 3):
        columns = st.columns(3)
        for col, (name, (model, _)) in zip(columns, list(models.items())[chunk:chunk + 3]):
            with col:
                grid = framed_grid(swap_grid(model, z_src, s_src), z_src, s_src)
                show(grid, width=420, caption=f"{name} ({method_name(model.config.method)})")

    st.subheader("Metrics (Table 4.1 protocol)")
    table = pd.DataFrame([metrics_row(name, m, metrics) for name, (m, metrics) in models.items()]).set_index("checkpoint")
    st.dataframe(table, width="stretch")
    if table.drop(columns=["method", "z / s", "steps"]).isna().all(axis=None):
        st.caption("No evaluation stored with these checkpoints: run `python -m train.evaluate --checkpoint <folder>`.")

    st.subheader("Latent maps (PCA of the same test images)")
    idx = torch.from_numpy(map_selection(len(gallery), points))
    labels = gallery.labels[idx].numpy()
    for space in ("s", "z"):
        columns = st.columns(min(3, len(models)))
        for k, (name, (model, _)) in enumerate(models.items()):
            codes = core.encode_all(model, gallery.images[idx])
            values = (codes.s if space == "s" else codes.z_mu).numpy()
            xy = cached_projection(found[name], f"{space}-compare-{gallery.name}", values, "pca")
            fig = px.scatter(x=xy[:, 0], y=xy[:, 1], color=[label_name(gallery, int(v)) for v in labels],
                             title=f"{space} · {name} · silhouette {silhouette(values, labels):.2f}", height=360)
            fig.update_traces(marker={"size": 3})
            fig.update_layout(margin={"l": 0, "r": 0, "t": 40, "b": 0}, showlegend=k == 0, xaxis={"visible": False},
                              yaxis={"visible": False})
            with columns[k % len(columns)]:
                st.plotly_chart(fig, width="stretch", key=f"map-{space}-{name}")
    explain("The same rows and columns go through every model. In a good split each row keeps one style and each "
            "column one class; in a leaky one (a baseline whose z carries the class) the rows change class too. "
            "The table measures that leak: z test accuracy near chance is good, s near 100% is good. The maps show "
            "it: s should form one island per class, z should be mixed. Latent maps use PCA here so they are quick "
            "for several models; the Latent map page has t-SNE and UMAP for one.")


main()
