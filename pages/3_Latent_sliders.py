"""Latent sliders: set z by hand, one dimension at a time, and choose s as a class prototype or a mix."""

from __future__ import annotations

import streamlit as st

from core.features.sliders import S_MODES, WEIGHT_STEP, Z_LIMIT, Z_STEP, from_link, image_z, link, random_z, slider_view
from pages.widgets import class_name, decoding, explain, page_setup, prototypes, show


def _query_state(z_dim: int, n: int, k: int) -> dict:
    """The settings of a shared URL (``core.features.sliders.from_link``), its problem said."""
    state, problem = from_link(dict(st.query_params), z_dim=z_dim, images=n, classes=k)
    if problem:
        st.warning(problem)
    return state


def _set_z(values: list[float]) -> None:
    for i, v in enumerate(values):
        st.session_state[f"sl_z{i}"] = v


def _reset(ctx) -> None:
    _set_z(image_z(ctx.model, ctx.gallery, st.session_state["sl_img"]))


def _randomise(ctx) -> None:
    _set_z(random_z(ctx.model.config.z_dim))


SLIDERS = 32  # sliders drawn at once: a 512-dimensional z (sprites) gets a picker for which 32


def visible_dims(z_dim: int) -> range:
    """The z dimensions that get a slider this run; with more than SLIDERS, the user picks a block."""
    if z_dim <= SLIDERS:
        return range(z_dim)
    blocks = [range(a, min(a + SLIDERS, z_dim)) for a in range(0, z_dim, SLIDERS)]
    block = st.selectbox(f"Sliders for z dimensions ({z_dim} in all)", range(len(blocks)), key="sl_block",
                         format_func=lambda b: f"z{blocks[b].start} to z{blocks[b].stop - 1}")
    return blocks[block]


@st.fragment
def editor(ctx, protos) -> None:
    """Sliders and the decoded image; only this fragment reruns when a slider moves."""
    z_dim, k = ctx.model.config.z_dim, protos.shape[0]
    left, right = st.columns([3, 2])
    with left:
        b1, b2, _ = st.columns([1.4, 1.4, 1])
        b1.button("Reset to image", on_click=_reset, args=(ctx,))
        b2.button("Randomise z", on_click=_randomise, args=(ctx,))
        shown = visible_dims(z_dim)
        for i in range(z_dim):  # the dimensions without a slider this run keep their values
            if i not in shown and f"sl_z{i}" in st.session_state:
                st.session_state[f"sl_z{i}"] = st.session_state[f"sl_z{i}"]
        cols = st.columns(4)
        for j, i in enumerate(shown):
            cols[j % 4].slider(f"z{i}", -Z_LIMIT, Z_LIMIT, step=Z_STEP, key=f"sl_z{i}")
        z = [float(st.session_state.get(f"sl_z{i}", 0.0)) for i in range(z_dim)]
    with right:
        mode = st.radio("s (the class)", S_MODES, key="sl_mode")
        names = [class_name(ctx, i) for i in range(k)]
        a = b = 0
        w = 0.5
        if mode == S_MODES[1]:
            a = st.selectbox("Class", range(k), format_func=names.__getitem__, key="sl_a")
        elif mode == S_MODES[2]:
            a = st.selectbox("Class A", range(k), format_func=names.__getitem__, key="sl_a")
            b = st.selectbox("Class B", range(k), format_func=names.__getitem__, key="sl_b")
            w = st.slider("Weight of B", 0.0, 1.0, step=WEIGHT_STEP, key="sl_w")
        with decoding(ctx, "the image") as progress:
            view = slider_view(ctx.model, ctx.gallery, protos, z, mode, image=st.session_state["sl_img"], a=a, b=b,
                               weight=w, names=names, progress=progress)
        show(*view, width=280)
    st.query_params.update(link(st.session_state["sl_img"], z, mode, st.session_state.get("sl_a", 0),
                                st.session_state.get("sl_b", 1 % k), st.session_state.get("sl_w", 0.5)))
    keys = ["sl_img", "sl_mode", "sl_a", "sl_b", "sl_w"] + [f"sl_z{i}" for i in range(z_dim)]
    st.session_state["sl_saved"] = {key: st.session_state[key] for key in keys if key in st.session_state}
    st.caption("The address bar now holds these settings: copy it to share this exact image.")


def main() -> None:
    ctx = page_setup("Latent sliders", "Each slider is one dimension of **z** (in units of the prior's standard "
                     "deviation). Pick **s** on the right.")
    if ctx is None:
        return
    n, z_dim = len(ctx.gallery), ctx.model.config.z_dim
    protos = prototypes(ctx)
    k = protos.shape[0]
    if st.session_state.get("sl_model") != ctx.path:  # first visit, or another model: start afresh
        st.session_state.update({"sl_model": ctx.path, "sl_img": 0, "sl_mode": S_MODES[1], "sl_a": 0,
                                 "sl_b": 1 % k, "sl_w": 0.5})
        from_link = _query_state(z_dim, n, k)
        st.session_state.update(from_link)
        if "sl_z0" not in from_link:
            _reset(ctx)
    elif "sl_z0" not in st.session_state:  # back from another page, which cleared the widgets
        st.session_state.update(st.session_state.get("sl_saved", {}))
        if "sl_z0" not in st.session_state:
            _reset(ctx)
    st.number_input("Start image (gallery number)", 0, n - 1, key="sl_img", on_change=_reset, args=(ctx,))
    editor(ctx, protos)
    explain("z holds what the label does not: for digits, slant, width and stroke thickness. Moving one slider "
            "should change the style but never the digit; changing s changes the digit but keeps the style. "
            "Mixing two prototypes shows how the model morphs one class into another.")


main()
