"""What the training command lines (``python -m train``, ``python -m train.drgan``, the sweep) add around the one
way to run a training (``core.training.train_run`` / ``run_trainer``, which own the run folder, resume, the loop,
log.jsonl, the cpu-minutes budget and the final checkpoint): the run's options from the command line (saved ones
on --resume, command line on top), a progress bar, TensorBoard scalars and pictures, SIGTERM/SIGINT as Ctrl-C,
the messages, and the exit status (2 bad options or data, 3 failed, 130 interrupted).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from core.checkpoint import RunFolder
from core.data import ImageSet
from core.training import Engine, RunResult, run_trainer, runner
from core.training.runner import DRY_RUN, prepare, start  # noqa: F401 (the command lines' names)


def error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def saved_or_new(folder: RunFolder, *, resume: bool, cls, options: dict, new: Callable[[dict], object]):
    """``core.training.runner.saved_or_new``, refused with a message (None) instead of a ``ValueError``."""
    try:
        return runner.saved_or_new(folder, options, resume=resume, new=new, cls=cls)
    except ValueError as err:
        error(str(err))
        return None


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


class Console:
    """A command line's view of one run, as ``train_run``'s callbacks (``callbacks()``): a progress bar with the
    logged terms (``postfix``: which; all by default), TensorBoard scalars (``tag(name)`` names one) and pictures
    (``draw(writer, trainer, data, step)``) in ``<folder>/tb`` on the main process, ``announce(trainer, data)``
    printed once the trainer is built; ``finish(result)`` prints the outcome and returns the exit status."""

    def __init__(self, folder: RunFolder, *, tag: Callable[[str], str] = lambda k: f"loss/{k}",
                 postfix: tuple[str, ...] = (), draw: Callable | None = None,
                 announce: Callable[[Engine, ImageSet], str] | None = None):
        self.folder, self.tag, self.postfix, self.draw, self.announce = folder, tag, postfix, draw, announce
        self.trainer, self.data, self.writer, self.bar, self.start_step = None, None, None, None, 0

    def callbacks(self) -> dict:
        return {"on_start": self.on_start, "on_step": self.on_step, "on_log": self.on_log,
                "on_image": self.on_image if self.draw else None}

    def on_start(self, trainer: Engine, data: ImageSet) -> None:
        self.trainer, self.data, self.start_step = trainer, data, trainer.step_count
        if trainer.is_main and self.announce:
            print(self.announce(trainer, data), flush=True)
        self.writer = tensorboard_writer(self.folder.tensorboard) if trainer.is_main else None
        self.bar = tqdm(total=trainer.config.steps, initial=self.start_step, dynamic_ncols=True, mininterval=2.0,
                        disable=not trainer.is_main)

    def on_step(self, step: int, terms) -> None:
        self.bar.update(1)

    def on_log(self, step: int, values: dict[str, float], seconds: float) -> None:
        self.bar.set_postfix({k: f"{v:.4f}" for k, v in values.items() if not self.postfix or k in self.postfix})
        if self.writer:
            speed = (step - self.start_step) / max(seconds, 1e-9)
            for k, v in values.items():
                self.writer.add_scalar(self.tag(k), v, step)
            self.writer.add_scalar("lr", self.trainer.learning_rate(step), step)
            self.writer.add_scalar("speed/it_per_s", speed, step)

    def on_image(self, step: int) -> None:
        if self.writer:
            self.draw(self.writer, self.trainer, self.data, step)

    def finish(self, result: RunResult) -> int:
        if self.bar is not None:
            self.bar.close()
        if result.status in ("refused", "failed"):
            error(result.message)
        elif result.status == "interrupted":
            print(result.message, file=sys.stderr)
        else:
            if self.writer:
                self.writer.close()
            if result.trainer is not None and result.trainer.is_main:
                print(result.message, flush=True)
        return result.exit_status


def train(folder: RunFolder, trainer: Engine, data: ImageSet, *, on_image: Callable[[object, int], None] | None = None,
          tag: Callable[[str], str] = lambda k: f"loss/{k}", probe: bool = True, postfix: tuple[str, ...] = (),
          extra_metrics: dict | None = None) -> int:
    """A built trainer's run on the command line (DR-GAN's): ``core.training.run_trainer`` with a ``Console``;
    ``on_image(writer, step)`` draws a picture into TensorBoard. Returns the exit status."""
    console = Console(folder, tag=tag, postfix=postfix,
                      draw=(lambda writer, trainer, data, step: on_image(writer, step)) if on_image else None)
    console.on_start(trainer, data)
    callbacks = console.callbacks()
    del callbacks["on_start"]
    with stop_signals():
        result = run_trainer(trainer, data, folder, probe=probe, extra_metrics=extra_metrics, **callbacks)
    return console.finish(result)
