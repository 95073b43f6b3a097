"""Plotly figures of codes, for any front end that shows Plotly (Streamlit's ``st.plotly_chart``, Gradio's
``gr.Plot``): a latent map coloured by label, the compared models' maps, the identity map of a few-shot session.

Coordinates and customdata are plain lists: Plotly 6+ would send numpy arrays to the browser as typed arrays
and hand customdata back in selections as a dict."""

from __future__ import annotations

import numpy as np
import plotly.express as px
import plotly.graph_objects as go

BARE = {"xaxis": {"visible": False}, "yaxis": {"visible": False}, "margin": {"l": 0, "r": 0, "t": 40, "b": 0}}


def latent_map(xy: np.ndarray, idx: np.ndarray, labels: list[str], title: str) -> go.Figure:
    """One trace per label, each point carrying its gallery number (``[i]``, for selections)."""
    fig = go.Figure()
    order = sorted(set(labels), key=lambda v: (len(v), v))
    palette = px.colors.qualitative.Dark24 if len(order) > 10 else px.colors.qualitative.Plotly
    for k, label in enumerate(order):
        mask = np.array([lab == label for lab in labels])
        fig.add_trace(go.Scatter(x=xy[mask, 0].tolist(), y=xy[mask, 1].tolist(), mode="markers", name=label,
                                 customdata=[[int(i)] for i in idx[mask]], marker={"size": 4, "color": palette[k % len(palette)]},
                                 hovertemplate="image #%{customdata[0]}<extra>" + label + "</extra>"))
    fig.update_layout(title=title, height=460, legend={"itemsizing": "constant", "title": "label"}, **BARE)
    return fig


def compared_map(xy: np.ndarray, labels: list[str], title: str, *, legend: bool) -> go.Figure:
    """One compared model's map (``core.features.compare.Comparison.maps``)."""
    fig = px.scatter(x=xy[:, 0].tolist(), y=xy[:, 1].tolist(), color=list(labels), title=title, height=360,
                     labels={"color": "label"})
    fig.update_traces(marker={"size": 3})
    fig.update_layout(showlegend=legend, **BARE)
    return fig


def identity_map(found) -> go.Figure:
    """A few-shot session's ``IdentityMap``: the stored identity codes and, as a star, the photos' mean s."""
    fig = go.Figure()
    fig.add_scatter(x=found.xy[:, 0].tolist(), y=found.xy[:, 1].tolist(), mode="markers", text=found.names,
                    name="known identities (stored codes)",
                    marker={"size": 5, "color": found.labels.tolist(), "colorscale": "Turbo", "opacity": 0.6})
    fig.add_scatter(x=found.star[:, 0].tolist(), y=found.star[:, 1].tolist(), mode="markers", name="your images (mean s)",
                    marker={"size": 16, "symbol": "star", "color": "black"})
    fig.update_layout(height=460, margin={"l": 10, "r": 10, "t": 10, "b": 10}, xaxis_title="PC 1 of s",
                      yaxis_title="PC 2 of s")
    return fig
