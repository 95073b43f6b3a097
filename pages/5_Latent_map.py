"""Latent map: 2-D projections of z and s, coloured by label. Click a point to see its image."""

from __future__ import annotations

import numpy as np
import streamlit as st

from core.features import figures
from core.features.maps import DEFAULT_MAP_POINTS, MAX_MAP_POINTS, METHODS, LatentMap
from pages.widgets import explain, gallery_codes, heavy, page_setup, show, tiles


def selected_points(event) -> list[int]:
    if not event:
        return []
    points = event.get("selection", {}).get("points", []) if isinstance(event, dict) else event.selection.points
    return [int(p["customdata"][0]) for p in points if isinstance(p.get("customdata"), list) and p["customdata"]]


def project_both(latent: LatentMap, method: str):
    """The z and s maps: at once when stored (or PCA), else one heavy job of the server's pool. None when refused."""
    if latent.ready(method):
        return latent.project(method)
    n = len(latent.points)
    with st.status(f"Projecting {n:,} codes with {method}…", expanded=False) as status:
        result = heavy(f"{method} of {n:,} codes", lambda report: latent.project(method, tick=report, in_worker=True),
                       key=latent.job_key(method), on_progress=lambda text: status.update(label=f"{n:,} codes: {text}"))
        if result is None:
            status.update(label="Not projected", state="error")
            return None
        status.update(label=f"{method} of {n:,} codes (kept beside the checkpoint: instant next time)", state="complete")
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
    latent = LatentMap(ctx.loaded, ctx.gallery, gallery_codes(ctx), ctx.data_dir, n)
    maps = project_both(latent, method)
    if maps is None:
        return
    xy_z, xy_s = maps

    tiles(latent.silhouette_tiles())
    points = np.array(latent.points)
    left, right = st.columns(2)
    with left:
        ev_z = st.plotly_chart(figures.latent_map(xy_z, points, latent.labels, "z (posterior mean)"), on_select="rerun",
                               selection_mode=("points", "box", "lasso"), key="map_z", width="stretch")
    with right:
        ev_s = st.plotly_chart(figures.latent_map(xy_s, points, latent.labels, "s"), on_select="rerun",
                               selection_mode=("points", "box", "lasso"), key="map_s", width="stretch")
    st.caption("Click a point, or drag a box or lasso, to see the images.")

    for space, event in (("z", ev_z), ("s", ev_s)):
        picked = selected_points(event)
        if len(picked) == 1:
            st.subheader(f"Image #{picked[0]} (label {latent.label_of(picked[0])}), picked in the {space} map")
            show(*latent.picked(space, picked[0]), width=800)
        elif len(picked) > 1:
            st.subheader(f"{len(picked)} images selected in the {space} map")
            show(*latent.selection(picked), width=900)
    explain("t-SNE and UMAP keep neighbours together; PCA is a linear view. Nearest neighbours in s share the "
            "label; nearest neighbours in z share the style across labels. The silhouette score turns the picture "
            "into a number. Report Fig. 4.6 (t-SNE of z and s).")


main()
