"""Metrics: the checkpoint's Table 4.1 numbers beside the published ones."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from core.checkpoint import TSNE_FIGURE
from core.evaluation import PAPER_RESULTS
from pages.widgets import explain, page_setup


def feature_probe_ui(ctx) -> None:
    """A pose-conditioned model (DR-GAN): what its one identity feature f knows (identity and pose), beside an
    untrained encoder's."""
    probe = ctx.metrics.feature_probe
    if probe is None:
        st.info("Not measured yet: `python -m train.drgan --evaluate <checkpoint> --data-dir <data>`.")
        return
    factor = probe.pose.factor or "pose"
    rows = [{"features": name, "identity test %": result.identity.test, f"{factor} test %": result.pose.test}
            for name, result in (("trained encoder", probe), ("untrained encoder (same shape)", probe.untrained_encoder))
            if result is not None]
    st.table(pd.DataFrame(rows).set_index("features").style.format("{:.2f}"))
    st.caption(f"Chance: identity {probe.identity.chance_test:.2f}%, {factor} {probe.pose.chance_test:.2f}%. The "
               f"Table 4.1 classifier on f ({probe.feature_dim} dims), {probe.num_test:,} test images.")
    explain("DR-GAN has no separate style code: its encoder gives one feature f. The classifier finds identity in f; "
            "whatever of the pose it also finds there has no other code to live in. The untrained encoder is the "
            "reference: random convolutional features already separate a lot.")


def main() -> None:
    ctx = page_setup("Metrics", "How much each code knows about the label (Table 4.1 protocol): an MLP "
                     "classifier predicts the label from **z** alone and from **s** alone.", split_only=False)
    if ctx is None:
        return
    if ctx.metrics.unreadable():
        st.warning("This checkpoint's metrics.json is incomplete or in a format this page does not know, so its "
                   "numbers are not shown.")
        return
    if ctx.model.takes_pose:
        feature_probe_ui(ctx)
    else:
        table_ui(ctx)


def table_ui(ctx) -> None:
    cfg = ctx.model.config
    ev = ctx.metrics.evaluation
    rows = []
    if ev:
        rows.append({"model": f"this checkpoint ({Path(ctx.path).name})", "z test % (sample)": ev.z_sample.test,
                     "z test % (mean)": ev.z_mean.test, "s test %": ev.s.test,
                     "z train % (sample)": ev.z_sample.train, "s train %": ev.s.train})
    for name, (z, s) in PAPER_RESULTS.get((cfg.dataset, cfg.z_dim, cfg.s_dim), {}).items():
        rows.append({"model": name, "z test % (sample)": z, "z test % (mean)": None, "s test %": s})
    if not rows:
        st.info("No evaluation for this checkpoint and no published numbers for its setting. Run "
                "`python -m train.evaluate --checkpoint <folder> --data-dir <data>`.")
        return
    table = pd.DataFrame(rows).set_index("model")
    st.table(table.style.format(lambda v: "—" if pd.isna(v) else f"{v:.2f}"))
    if ev:
        st.caption(f"Chance (most frequent test label): {ev.chance:.2f}%. Measured on {ev.num_test or 0:,} test "
                   f"images, classifier trained {ev.classifier_epochs} epochs on {ev.num_train or 0:,} training codes; "
                   f"{ev.hardware or ''}, {ev.date or ''}.")
        sil = ev.silhouette_test
        if sil:
            st.write(f"Silhouette by label on test codes: z **{sil.z_mean:.3f}**, s **{sil.s:.3f}**.")
    else:
        st.warning("This checkpoint has not been evaluated; only the published numbers are shown.")
    tr = ctx.metrics.training
    if tr:
        st.write(f"Trained {tr.steps:,} steps in {tr.seconds / 60:.0f} min on {tr.hardware}.")
    tsne = Path(ctx.path) / TSNE_FIGURE
    if tsne.is_file():
        st.image(str(tsne), caption="t-SNE of test codes, written by the evaluation command")
    explain("Lower is better for z (chance is about 11% on MNIST), higher for s. 'Sample' reads z after "
            "reparameterisation as the paper does; 'mean' reads the posterior mean, which shows the class "
            "information the sampling noise hides.")


main()
