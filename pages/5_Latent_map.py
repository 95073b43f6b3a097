"""Latent map: 2-D projections of z and s, coloured by label. Click a point to see its image."""

from __future__ import annotations

import numpy as np
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
import torch

from core.evaluation import cached_projection, silhouette
from core.evaluation.projection import DEFAULT_MAP_POINTS, is_cached, map_selection, map_source
from core.explore import nearest_neighbours, tile
from core.limits import MAX_MAP_POINTS
from pages.widgets import class_name, explain, gallery_codes, heavy, page_setup, show

METHODS = {"t-SNE": "tsne", "UMAP": "umap", "PCA": "pca"}


def selected_points(event) -> list[int]:
    if not event:
        return []
    points = event.get("selection", {}).get("points", []) if isinstance(event, dict) else event.selection.points
    return [int(p["customdata"][0]) for p in points if isinstance(p.get("customdata"), list) and p["customdata"]]


def scatter(xy: np.ndarray, idx: np.ndarray, labels: list[str], title: str) -> go.Figure:
    """One trace per label. Coordinates and customdata are plain lists: Plotly 6+ would send numpy
    arrays to the browser as typed arrays and hand customdata back in selections as a dict."""
    fig = go.Figure()
    order = sorted(set(labels), key=lambda v: (len(v), v))
    palette = px.colors.qualitative.Dark24 if len(order) > 10 else px.colors.qualitative.Plotly
    for k, label in enumerate(order):
        mask = np.array([lab == label for lab in labels])
        fig.add_trace(go.Scatter(x=xy[mask, 0].tolist(), y=xy[mask, 1].tolist(), mode="markers", name=label,
                                 customdata=[[int(i)] for i in idx[mask]], marker={"size": 4, "color": palette[k % len(palette)]},
                                 hovertemplate="image #%{customdata[0]}<extra>" + label + "</extra>"))
    fig.update_layout(title=title, height=460, xaxis={"visible": False}, yaxis={"visible": False},
                      margin={"l": 0, "r": 0, "t": 40, "b": 0}, legend={"itemsizing": "constant", "title": "label"})
    return fig


def project_both(ctx, idx: torch.Tensor, z: np.ndarray, s: np.ndarray, method: str):
    """The z and s maps: read back from ``<checkpoint>/maps/`` when made before (the shipped models ship
    their default maps), else computed as one heavy job of the server's pool. None when refused."""
    name = ctx.gallery.name
    source = map_source(name, idx.numpy(), ctx.gallery.images.numpy() if ctx.data_dir else None)
    algo = METHODS[method]
    jobs_needed = [(space, codes) for space, codes in (("z", z), ("s", s))
                   if not is_cached(ctx.path, f"{space}-{name}", codes, algo, source=source)]
    if not jobs_needed or algo == "pca":  # instant: no need to queue
        return tuple(cached_projection(ctx.path, f"{space}-{name}", codes, algo, source=source)
                     for space, codes in (("z", z), ("s", s)))

    def work(report):
        out = []
        for space, codes in (("z", z), ("s", s)):
            report(f"projecting {space} with {method}…")
            out.append(cached_projection(ctx.path, f"{space}-{name}", codes, algo, source=source, tick=report))
        return tuple(out)

    with st.status(f"Projecting {len(idx):,} codes with {method}…", expanded=False) as status:
        result = heavy(f"{method} of {len(idx):,} codes", work, key=("map", ctx.path, algo, source),
                       on_progress=lambda text: status.update(label=f"{len(idx):,} codes: {text}"))
        if result is None:
            status.update(label="Not projected", state="error")
            return None
        status.update(label=f"{method} of {len(idx):,} codes (kept beside the checkpoint: instant next time)",
                      state="complete")
    return result


def main() -> None:
    ctx = page_setup("Latent map", "Each dot is one image, placed by a 2-D projection of its code and coloured by its "
                     "label. **s** should form one island per class; **z** should be mixed.")
    if ctx is None:
        return
    n_all = len(ctx.gallery)
    with st.sidebar:
        method = st.radio("Projection", list(METHODS), horizontal=True)
        n = n_all if n_all <= 200 else \
            st.slider("Images", 200, min(MAX_MAP_POINTS, n_all), min(DEFAULT_MAP_POINTS, n_all), step=100)
    idx = torch.from_numpy(map_selection(n_all, n))
    codes = gallery_codes(ctx)
    z, s = codes.z_mu[idx].numpy(), codes.s[idx].numpy()
    labels_int = ctx.gallery.labels[idx].numpy()
    labels = [class_name(ctx, int(v)) for v in labels_int]
    maps = project_both(ctx, idx, z, s, method)
    if maps is None:
        return
    xy_z, xy_s = maps

    if len(set(labels_int)) > 1:
        m1, m2 = st.columns(2)
        m1.metric("Silhouette of z by label", f"{silhouette(z, labels_int):.3f}", help="Near 0 or below: no clusters")
        m2.metric("Silhouette of s by label", f"{silhouette(s, labels_int):.3f}", help="Towards 1: tight class clusters")
    left, right = st.columns(2)
    with left:
        ev_z = st.plotly_chart(scatter(xy_z, idx.numpy(), labels, "z (posterior mean)"), on_select="rerun",
                               selection_mode=("points", "box", "lasso"), key="map_z", width="stretch")
    with right:
        ev_s = st.plotly_chart(scatter(xy_s, idx.numpy(), labels, "s"), on_select="rerun",
                               selection_mode=("points", "box", "lasso"), key="map_s", width="stretch")
    st.caption("Click a point, or drag a box or lasso, to see the images.")

    for space, event, space_codes in (("z", ev_z, codes.z_mu), ("s", ev_s, codes.s)):
        picked = selected_points(event)
        if len(picked) == 1:
            i = picked[0]
            st.subheader(f"Image #{i} (label {class_name(ctx, int(ctx.gallery.labels[i]))}), picked in the {space} map")
            x = ctx.gallery.floats(i)[None]
            with torch.no_grad():
                recon = ctx.model.reconstruct(x)
            nn = nearest_neighbours(space_codes, i, k=8)
            show(tile(torch.cat([x, recon, ctx.gallery.floats(nn)]), nrow=10), width=800,
                 caption=f"The image, its reconstruction, then its 8 nearest neighbours in {space}: "
                         + ", ".join(class_name(ctx, int(ctx.gallery.labels[j])) for j in nn))
        elif len(picked) > 1:
            st.subheader(f"{len(picked)} images selected in the {space} map")
            show(tile(ctx.gallery.floats(torch.tensor(picked[:120])), nrow=20), width=900,
                 caption="Selected images" + (" (first 120)" if len(picked) > 120 else ""))
    explain("t-SNE and UMAP keep neighbours together; PCA is a linear view. Nearest neighbours in s share the "
            "label; nearest neighbours in z share the style across labels. The silhouette score turns the picture "
            "into a number. Report Fig. 4.6 (t-SNE of z and s).")


main()
