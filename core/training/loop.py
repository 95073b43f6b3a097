"""The one training loop: every caller that trains (``python -m train``, ``python -m train.drgan``, the Train-live
page, few-shot fine-tuning) runs ``run(trainer, ...)``; what differs between them is in the callbacks.

Each iteration: ``trainer.step()``; ``on_step(step, terms)`` (every step: progress bars, a live page);
every ``log_every`` steps the NaN check (``check_finite``, which waits for the GPU) and
``on_log(step, values, seconds)`` with the terms as floats plus what the method logs besides (the CC-VAE's
swap effects on ``probe``, which may stop a degenerate run); every ``image_every`` steps ``on_image(step)``;
every ``checkpoint_every`` steps a save to ``checkpoint`` (not on the last step: the caller saves the final
checkpoint with its metrics). ``should_stop()`` ends the run early (a Stop button, a time budget).

A ``TrainingFailed`` (a NaN, a collapse) propagates with the last checkpoint kept. Ctrl-C saves the
checkpoint where there is one (one process; under torchrun the ranks stop at different points, so a save, a
collective, could hang) and returns ``"interrupted"``. ``trainer.train_seconds`` counts the wall time of all
runs of a resumed training.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from core.training.engine import Engine


@dataclass
class Outcome:
    status: str  # done | stopped | interrupted
    steps: int  # steps this run
    seconds: float  # wall seconds this run

    @property
    def it_per_s(self) -> float:
        return self.steps / max(self.seconds, 1e-9)


def run(trainer: Engine, *, steps: int | None = None,
        on_step: Callable[[int, dict[str, torch.Tensor]], None] | None = None,
        log_every: int = 0, on_log: Callable[[int, dict[str, float], float], None] | None = None,
        probe: torch.Tensor | None = None,
        image_every: int = 0, on_image: Callable[[int], None] | None = None,
        checkpoint: str | Path | None = None, checkpoint_every: int = 0,
        should_stop: Callable[[], bool] | None = None) -> Outcome:
    """Train until ``trainer.step_count`` reaches ``steps`` (default: the config's), see the module docstring."""
    until = trainer.config.steps if steps is None else steps
    start, t0, before = trainer.step_count, time.time(), trainer.train_seconds
    cpu0, cpu_before = time.process_time(), trainer.cpu_seconds

    def clock() -> float:
        """Seconds of this run so far, added to the trainer's totals of wall and CPU time (saved with each checkpoint)."""
        seconds = time.time() - t0
        trainer.train_seconds = before + seconds
        trainer.cpu_seconds = cpu_before + time.process_time() - cpu0
        return seconds

    def outcome(status: str) -> Outcome:
        return Outcome(status, trainer.step_count - start, clock())

    try:
        while trainer.step_count < until:
            terms = trainer.step()
            step = trainer.step_count
            if on_step is not None:
                on_step(step, terms)
            if log_every and step % log_every == 0:
                trainer.check_finite()
                values = trainer.log_values(terms, probe)
                if on_log is not None:
                    on_log(step, values, time.time() - t0)
            if on_image is not None and image_every and step % image_every == 0:
                on_image(step)
            if checkpoint is not None and checkpoint_every and step % checkpoint_every == 0 and step < until:
                clock()
                trainer.save(checkpoint)
            if should_stop is not None and should_stop():
                return outcome("stopped")
    except KeyboardInterrupt:
        result = outcome("interrupted")
        if checkpoint is not None and trainer.world_size == 1:
            trainer.save(checkpoint)
        return result
    return outcome("done")
