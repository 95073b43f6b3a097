"""Train live (classroom mode): train a small CC-VAE in this browser session and watch z and s separate.

The run (``core.features.live.Run``: settings, loss history, latest swap grid, in the end the model) lives in
``st.session_state``, so each browser session has its own and never sees another's. It trains in a worker
process, as a long job of the server's heavy-job pool taking turns with the others, and survives reruns (a
click, another page): every script run of the page just draws the run's progress until it ends. Stop ends it
after the current step; a quick Table 4.1 evaluation follows in the same job, and Save writes a checkpoint
folder every page can open.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.features import SaveError, default_name, live, scores, waiting_text
from pages.widgets import data_dir_ui, explain, heavy, page_header, session_alive, session_id, show, tiles


def settings_ui(data_dir: str, *, disabled: bool) -> None:
    """The run's settings, read by ``start`` from session state."""
    st.radio("Data", list(live.sources(data_dir)), key="live_source", disabled=disabled, horizontal=True,
             help="Set the sidebar's dataset folder (or CCVAE_DATA_DIR) to MNIST's files to train on all 60,000 digits.")
    c = st.columns(4)
    c[0].slider("z dims (style)", 1, live.MAX_LIVE_DIMS, 16, key="live_z", disabled=disabled)
    c[1].slider("s dims (class)", 1, live.MAX_LIVE_DIMS, 16, key="live_s", disabled=disabled)
    c[2].number_input(f"Steps (at most {live.MAX_LIVE_STEPS:,})", 10, live.MAX_LIVE_STEPS, live.DEFAULT_STEPS, step=100,
                      key="live_steps", disabled=disabled,
                      help="One step = one update on 64 same-class pairs and one on 64 different-class pairs.")
    if "live_name" not in st.session_state:
        st.session_state.live_name = default_name()  # each session its own default
    c[3].text_input("Model name", key="live_name", max_chars=40,
                    help="The folder Save writes: 1 to 40 letters A-Z, digits, '-' or '_'.")


def start(data_dir: str) -> None:
    """Start button: a fresh run from the settings (replaces this session's previous run)."""
    s = st.session_state
    sid = session_id()
    try:
        s.live_run = live.start(sid, session_alive(sid), source=s.live_source, data_dir=data_dir, z_dim=s.live_z,
                                s_dim=s.live_s, steps=int(s.live_steps), name=s.live_name)
        s.live_error = ""
    except ValueError as err:  # LiveError, LimitError
        s.live_error = str(err)


def stop() -> None:
    run = st.session_state.get("live_run")
    if run is not None:
        run.stop()


def draw(run: live.Run, charts, grid_slot, bar) -> None:
    """Loss curves, progress and the latest swap grid, into their placeholders."""
    bar.progress(run.step / run.steps, text=run.progress_text())
    history = list(run.history)  # the job appends while we draw
    if history:
        frame = pd.DataFrame(history).set_index("step")
        terms = live.charted_terms(history)
        with charts.container():
            for column, (term, title) in zip(st.columns(max(len(terms), 1)), terms):
                with column:
                    st.caption(title)
                    st.line_chart(frame[term], height=180)
    grid = run.grid
    if grid is not None:
        with grid_slot:
            show(grid[1], width=560, caption=f"Swap grid at step {grid[0]:,}: the top row gives s (the digit), "
                                             "the left column gives z (the handwriting).")


def follow(run: live.Run, charts, grid_slot, bar) -> None:
    """Draw the run until its job ends (every script run of the page does this while it trains)."""
    drawn = [-1]

    def on_wait(ahead: int | None) -> None:
        step = run.step
        if ahead is not None and step == 0:
            bar.progress(0.0, text=waiting_text(ahead))
        elif step != drawn[0] and (step - drawn[0] >= live.CHART_EVERY or step == run.steps):
            draw(run, charts, grid_slot, bar)
            drawn[0] = step
        else:  # also lets a click (Stop) interrupt this wait at once
            bar.progress(step / run.steps, text=run.progress_text())

    run.wait(on_wait)


def results_ui(run: live.Run) -> None:
    result = run.results()
    tiles(scores.run_tiles(result), [1] * 5)
    st.caption(f"An MLP trained {live.EVAL_EPOCHS} epochs on the codes of {result.num_train:,} training images, tested on "
               f"{result.num_test:,} held-out ones (the report trains 50 epochs on all 60,000).")


def save_ui(run: live.Run) -> None:
    name = st.session_state.live_name
    if st.button(f"Save as “{name}”", type="primary", key="live_save"):
        try:
            heavy("saving the model", lambda report: live.save(run, name))
        except (live.LiveError, SaveError) as err:
            st.error(str(err))
    if run.saved:
        st.success(live.saved_text(run, "the sidebar's Model list"))


def main() -> None:
    page_header("Train live", "Train a small CC-VAE right here, on this computer's CPU, and watch **z** and **s** "
                "separate: the loss curves fall, and the swap grid's columns turn into one digit each.")
    data_dir = data_dir_ui()
    run: live.Run | None = st.session_state.get("live_run")
    running = run is not None and run.running
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
    bar, charts, grid_slot = st.empty(), st.empty(), st.empty()
    draw(run, charts, grid_slot, bar)
    if running:
        follow(run, charts, grid_slot, bar)
        st.rerun()  # draw the page again: Start enabled, Stop gone, results below
    if run.error:
        st.error(run.error)
    if run.metrics is None:
        st.warning("No evaluation: the run ended before it.")
        return
    st.subheader(f"{'Finished' if run.status == 'done' else 'Stopped'} at step {run.step:,}")
    results_ui(run)
    save_ui(run)


main()
