"""Metrics: the checkpoint's Table 4.1 numbers beside the published ones (DR-GAN: its feature probe)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.features.scores import metrics_table
from pages.widgets import explain, page_setup


def main() -> None:
    ctx = page_setup("Metrics", "How much each code knows about the label (Table 4.1 protocol): an MLP "
                     "classifier predicts the label from **z** alone and from **s** alone.", split_only=False)
    if ctx is None:
        return
    table = metrics_table(ctx.loaded)
    if table.rows:
        frame = pd.DataFrame(table.rows).set_index(next(iter(table.rows[0])))
        st.table(frame.style.format(lambda v: "—" if pd.isna(v) else f"{v:.2f}"))
    for note in table.notes:
        st.caption(note)
    if table.info:
        st.info(table.info)
    if table.warning:
        st.warning(table.warning)
    if table.figure is not None:
        st.image(str(table.figure), caption="t-SNE of test codes, written by the evaluation command")
    if table.explanation:
        explain(table.explanation)


main()
