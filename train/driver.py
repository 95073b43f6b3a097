"""What the training command lines (``python -m train``, ``python -m train.drgan``) share around the one loop
(``core.training.run``): the run's options (saved ones on --resume, command line on top), the run folder
(``core.checkpoint.RunFolder``: checkpoint/, train_config.json, log.jsonl, tb/), a progress bar, one JSON line
and TensorBoard scalars per logged step, Ctrl-C, failures as exit status 3, and the final checkpoint with
the model's statistics and the run's time and hardware.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch
from tqdm import tqdm

from core.checkpoint import RunFolder, recover
from core.data import ImageSet
from core.training import Engine, TrainingFailed, hardware, run

DRY_RUN = {"steps": 5, "log_every": 1, "image_every": 2, "checkpoint_every": 2, "batch_size": 8}


def error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def saved_or_new(folder: RunFolder, *, resume: bool, cls, options: dict, new: Callable[[dict], object]):
    """The run's config: with ``resume`` the saved options with ``options`` on top; else ``new(options)``,
    refused (None, with a message) when ``folder`` already holds a checkpoint."""
    if resume:
        if not folder.train_config.is_file():
            error(f"nothing to resume in {folder.root} (no {folder.train_config.name})")
            return None
        return cls.from_dict(folder.read_config() | options)
    if folder.has_checkpoint:
        error(f"{folder.checkpoint} already exists; use --resume to continue it or choose another --out")
        return None
    return new(options)


def prepare(folder: RunFolder, *, resume: bool, main_rank: bool = True) -> None:
    """Before building the trainer: put back a checkpoint whose save was killed between its two renames."""
    if resume and main_rank:
        recover(folder.checkpoint)


def start(folder: RunFolder, trainer: Engine, *, resume: bool) -> None:
    """Resume ``trainer`` from the folder's checkpoint if asked (and there is one), then write the run's options."""
    if resume and folder.has_checkpoint:
        trainer.resume(folder.checkpoint)
    elif resume and trainer.is_main:  # killed before its first checkpoint: nothing to lose, start again
        print(f"{folder.checkpoint} has no checkpoint yet; starting from step 0 with the saved options", file=sys.stderr)
    if trainer.is_main:
        folder.write_config(asdict(trainer.config))


def tensorboard_writer(folder: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is in requirements.txt; tolerate its absence
        print("tensorboard is not installed: no TensorBoard logs", file=sys.stderr)
        return None
    return SummaryWriter(str(folder))


@contextlib.contextmanager
def stop_signals():
    """SIGTERM (a session or job scheduler ending the process) and SIGINT stop a command-line run as Ctrl-C does:
    the checkpoint is saved where the run stands, so ``--resume`` loses nothing. A shell starts background jobs
    with SIGINT ignored, so ``kill -INT`` would otherwise do nothing; both are put back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    saved = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def time_budget(trainer: Engine) -> Callable[[], bool] | None:
    """``should_stop`` for ``config.cpu_minutes``: true once the process's CPU time in this run, plus what the
    earlier runs used (saved in the train state), reaches the budget."""
    minutes = getattr(trainer.config, "cpu_minutes", 0.0)
    if not minutes:
        return None
    start, before = time.process_time(), trainer.cpu_seconds
    return lambda: before + time.process_time() - start >= 60 * minutes


def train(folder: RunFolder, trainer: Engine, data: ImageSet, *, on_image: Callable[[object, int], None] | None = None,
          tag: Callable[[str], str] = lambda k: f"loss/{k}", probe: bool = True, postfix: tuple[str, ...] = (),
          extra_metrics: dict | None = None) -> int:
    """Run the loop to ``trainer.config.steps`` with logs in ``folder``; save the final checkpoint with the model's
    statistics (``trainer.statistics(data)``) and metrics. Returns the exit status (0, 3 failed, 130 interrupted).
    ``on_image(writer, step)`` draws a picture into TensorBoard; ``tag(name)`` names a scalar; ``postfix``: the
    terms the progress bar shows (all by default); ``probe``: measure the method's extra log values on 64 images."""
    config, main = trainer.config, trainer.is_main
    writer = tensorboard_writer(folder.tensorboard) if main else None
    images = data.images[torch.randperm(len(data), generator=torch.Generator().manual_seed(1))[:64]] if probe else None
    start_step = trainer.step_count
    bar = tqdm(total=config.steps, initial=start_step, dynamic_ncols=True, mininterval=2.0, disable=not main)
    log_file = folder.log.open("a") if main else None

    def on_log(step: int, values: dict[str, float], seconds: float) -> None:
        speed = (step - start_step) / max(seconds, 1e-9)
        bar.set_postfix({k: f"{v:.4f}" for k, v in values.items() if not postfix or k in postfix})
        if log_file:
            log_file.write(json.dumps({"step": step, "seconds": round(seconds, 1), "it_per_s": round(speed, 3)} | values)
                           + "\n")
            log_file.flush()
        if writer:
            for k, v in values.items():
                writer.add_scalar(tag(k), v, step)
            writer.add_scalar("lr", trainer.learning_rate(step), step)
            writer.add_scalar("speed/it_per_s", speed, step)

    try:
        with stop_signals():
            outcome = run(trainer, on_step=lambda step, terms: bar.update(1), log_every=config.log_every, on_log=on_log,
                          probe=images, image_every=config.image_every if writer else 0,
                          on_image=(lambda step: on_image(writer, step)) if writer and on_image else None,
                          checkpoint=folder.checkpoint, checkpoint_every=config.checkpoint_every,
                          should_stop=time_budget(trainer))
    except TrainingFailed as err:
        bar.close()
        error(str(err))
        return 3
    finally:
        if log_file:
            log_file.close()
    bar.close()
    if outcome.status == "interrupted":
        if trainer.world_size > 1:
            print(f"interrupted; the last checkpoint in {folder.checkpoint} is kept; continue with --resume", file=sys.stderr)
        else:
            print(f"interrupted at step {trainer.step_count}; saved {folder.checkpoint}; continue with --resume",
                  file=sys.stderr)
        return 130
    latents, metrics = None, None
    if main:
        trainer.model.eval()
        latents = trainer.statistics(data)
        metrics = {"training": {"steps": trainer.step_count, "seconds": round(trainer.train_seconds, 1),
                                "cpu_seconds": round(trainer.cpu_seconds, 1),
                                "it_per_s_this_run": round(outcome.it_per_s, 3), "device": str(trainer.device),
                                "hardware": hardware(), "images": len(data)} | (extra_metrics or {})}
    try:
        trainer.save(folder.checkpoint, metrics=metrics, latents=latents)
    except TrainingFailed as err:
        error(str(err))
        return 3
    if writer:
        writer.close()
    if main:
        print(f"done: {trainer.step_count} steps ({outcome.steps} this run) in {outcome.seconds:.0f} s "
              f"({outcome.it_per_s:.2f} it/s) on {trainer.device}; checkpoint at {folder.checkpoint}", flush=True)
    return 0
