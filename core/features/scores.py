"""A checkpoint's measured numbers, worded for a front end: the Metrics page's table beside the published
numbers (or DR-GAN's feature probe), the home page's model card and a Train live run's results, as rows,
``Tile``s and notes. Nothing is measured here: the numbers are those ``metrics.json`` stores, written by
``train.evaluate`` (Table 4.1's probes, which no loss sees)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core import session
from core.checkpoint import TSNE_FIGURE
from core.evaluation import PAPER_RESULTS
from core.evaluation.protocol import Protocol
from core.evaluation.result import CODES, Evaluation, FeatureProbe
from core.features import Tile

EVALUATE = "`python -m train.evaluate --checkpoint <folder> --data-dir <data>`"


@dataclass
class Table:
    """What the Metrics page shows: rows (the first key names the row; None where a number is missing), notes
    under them, at most one message, a figure file and what it all means."""

    rows: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    info: str | None = None  # instead of numbers: how to get them
    warning: str | None = None
    figure: Path | None = None
    explanation: str = ""


def metrics_table(loaded: session.Loaded) -> Table:
    """Table 4.1 for a model with a z/s split, the identity and pose probes of DR-GAN's feature f otherwise."""
    if loaded.results.unreadable():
        return Table(warning="This checkpoint's metrics.json is incomplete or in a format this page does not know, "
                             "so its numbers are not shown.")
    if loaded.model.takes_pose:
        return _probe_table(loaded.results.feature_probe)
    return _table41(loaded)


def _table41(loaded: session.Loaded) -> Table:
    cfg, ev = loaded.model.config, loaded.results.evaluation
    table = Table(explanation="Lower is better for z (chance is about 11% on MNIST), higher for s. 'Sample' reads z "
                              "after reparameterisation as the paper does; 'mean' reads the posterior mean, which "
                              "shows the class information the sampling noise hides.")
    if ev:
        table.rows.append({"model": f"this checkpoint ({loaded.path.name})", "z test % (sample)": ev.z_sample.test,
                           "z test % (mean)": ev.z_mean.test, "s test %": ev.s.test,
                           "z train % (sample)": ev.z_sample.train, "s train %": ev.s.train})
        table.notes.append(f"Chance (most frequent test label): {ev.chance:.2f}%. Measured on {ev.num_test or 0:,} test "
                           f"images, the probe trained on {ev.num_train or 0:,} training codes; {_how_probed(ev)}; "
                           f"{ev.hardware or ''}, {ev.date or ''}.")
        if ev.silhouette_test:
            table.notes.append(f"Silhouette by label on test codes: z **{ev.silhouette_test.z_mean:.3f}**, "
                               f"s **{ev.silhouette_test.s:.3f}**.")
    for name, (z, s) in PAPER_RESULTS.get((cfg.dataset, cfg.z_dim, cfg.s_dim), {}).items():
        table.rows.append({"model": f"{name}, paper (its own probe)", "z test % (sample)": z, "z test % (mean)": None,
                           "s test %": s})
    if not table.rows:
        table.info = f"No evaluation for this checkpoint and no published numbers for its setting. Run {EVALUATE}."
    elif not ev:
        table.warning = "This checkpoint has not been evaluated; only the published numbers are shown."
    if (tr := loaded.results.training) is not None:
        table.notes.append(f"Trained {tr.steps:,} steps in {tr.seconds / 60:.0f} min on {tr.hardware}.")
    if (loaded.path / TSNE_FIGURE).is_file():
        table.figure = loaded.path / TSNE_FIGURE
    return table


def _how_probed(ev: Evaluation) -> str:
    """The recorded protocol and probe seeds (mean ± sd over seeds), else the pre-protocol fixed epochs."""
    try:
        protocol = Protocol.from_dict(ev.protocol).describe()
    except (TypeError, ValueError):
        return f"probe trained {ev.classifier_epochs} epochs (recorded before the one protocol)"
    if ev.probe_seeds < 2:
        return protocol
    names = dict(zip(CODES, ("z sample", "z mean", "s")))
    spread = ", ".join(f"{names[code]} {m.format_sd()}" for code in CODES if (m := ev.mean_sd(code)).sd is not None)
    return f"{protocol}; the mean of {ev.probe_seeds} probe seeds (sd: {spread})"


def _probe_table(probe: FeatureProbe | None) -> Table:
    """DR-GAN: what its one identity feature f knows (identity and pose), beside an untrained encoder's."""
    if probe is None:
        return Table(info="Not measured yet: `python -m train.drgan --evaluate <checkpoint> --data-dir <data>`.")
    factor = probe.pose.factor or "pose"
    rows = [{"features": name, "identity test %": result.identity.test, f"{factor} test %": result.pose.test}
            for name, result in (("trained encoder", probe), ("untrained encoder (same shape)", probe.untrained_encoder))
            if result is not None]
    return Table(rows, [f"Chance: identity {probe.identity.chance_test:.2f}%, {factor} {probe.pose.chance_test:.2f}%. "
                        f"The Table 4.1 classifier on f ({probe.feature_dim} dims), {probe.num_test:,} test images."],
                 explanation="DR-GAN has no separate style code: its encoder gives one feature f. The classifier finds "
                             "identity in f; whatever of the pose it also finds there has no other code to live in. The "
                             "untrained encoder is the reference: random convolutional features already separate a lot.")


def card(loaded: session.Loaded) -> list[Tile]:
    """The home page's model card: dataset, code sizes, training steps and Table 4.1's headline."""
    cfg, ev = loaded.model.config, loaded.results.evaluation
    tiles = [Tile("Dataset", cfg.dataset), Tile("z / s dims", f"{cfg.z_dim} / {cfg.s_dim}"),
             Tile("Training steps", f"{cfg.training_steps:,}")]
    if ev is None:
        return [*tiles, Tile("Evaluation", "not run", "python -m train.evaluate --checkpoint <folder>")]
    return [*tiles, Tile("s / z test accuracy (%)", f"{ev.s.test:.1f} / {ev.z_sample.test:.1f}",
                         "Table 4.1 protocol: an MLP predicts the label from s (should be high) or from a sample of z "
                         f"(should be near chance). Reading z's posterior mean instead: {ev.z_mean.test:.1f}%.")]


def run_tiles(result: Evaluation) -> list[Tile]:
    """A quick evaluation's accuracies (a Train live run), with the swap effect that says whether z is used."""
    tiles = [Tile("s test accuracy", f"{result.s.test:.1f}%", "Higher is better: s should know the digit."),
             Tile("z test accuracy (sample)", f"{result.z_sample.test:.1f}%",
                  "Lower is better: z should not know the digit (Table 4.1 protocol)."),
             Tile("z test accuracy (mean)", f"{result.z_mean.test:.1f}%", "The posterior mean, without sampling noise."),
             Tile("chance", f"{result.chance:.1f}%")]
    effect = result.extra.get("swap_effect")
    if effect:
        tiles.append(Tile("z effect / s effect", f"{effect['z_over_s']:.2f}",
                          "How much swapping z changes a decoded digit, relative to swapping s. Near 0: z carries "
                          "nothing (every row of the grid alike), so a low z accuracy would mean nothing."))
    return tiles
