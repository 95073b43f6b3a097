"""One way to run a training from Python: ``train_run(config, out)`` trains a CC-VAE (or a pair baseline) and
returns its ``RunResult``. ``python -m train``, the sweep (``train.sweep``) and the Train-live page all call it;
what differs between them is in the callbacks (a progress bar and TensorBoard, a live chart and a Stop button).

    from core.training import preset_config, train_run
    result = train_run(preset_config("authors", data_dir="../shared/data/MNIST", steps=2000), "runs/mnist")
    result.status, result.checkpoint      # "done", runs/mnist/checkpoint

``train_run`` loads the data (``core.data.load_dataset``; ``data`` given: that set), builds the trainer of
``config.method`` from ``config.seed``, resumes it from ``<out>/checkpoint`` when asked, writes
``<out>/train_config.json``, runs the one loop (``core.training.run``) with ``<out>/log.jsonl`` (one JSON line per
logged step), the periodic checkpoints and the ``cpu_minutes`` budget, and saves the final checkpoint with the
model's statistics and the run's metrics. ``out=None``: no folder, nothing written (the trained model is
``result.trainer.model``). ``run_trainer`` is the part after the trainer is built, for any ``Engine`` (DR-GAN's
command line uses it).

Nothing is raised for a run that cannot start or fails: the status says it (``RunResult.exit_status`` maps it to
the command line's exit status) and ``message`` says why, worded for the user.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from core.checkpoint import CheckpointError, RunFolder, recover
from core.data import DataError, ImageSet, load_dataset, recorded_name, synthetic_digits
from core.training.ccvae import CCVAETrainer
from core.training.config import TrainConfig
from core.training.engine import Engine, Networks, TrainingFailed, hardware
from core.training.loop import run
from core.training.mathieu import MathieuTrainer
from core.training.pair_trainer import PairTrainer, build_networks
from core.training.szabo import SzaboTrainer

DRY_RUN = {"steps": 5, "log_every": 1, "image_every": 2, "checkpoint_every": 2, "batch_size": 8}  # a dry run's defaults
TRAINERS: dict[str, type[PairTrainer]] = {"ccvae": CCVAETrainer, "mathieu": MathieuTrainer, "szabo": SzaboTrainer}
EXIT_STATUS = {"done": 0, "stopped": 0, "refused": 2, "failed": 3, "interrupted": 130}


def make_trainer(config: TrainConfig, data: ImageSet, networks: Networks | None = None, **options) -> PairTrainer:
    """The trainer of ``config.method`` (a class of ``TRAINERS``); ``options``: ``dataset_name``, ``rank``,
    ``world_size``, ``local_rank``, ``anchor_weights`` (``core.training.engine.Engine``)."""
    if config.method not in TRAINERS:
        raise ValueError(f"unknown method {config.method!r}; valid: {', '.join(TRAINERS)}")
    return TRAINERS[config.method](config, data, networks, **options)


@dataclass
class RunResult:
    """A run's outcome. ``status``: done (reached ``config.steps``), stopped (``should_stop`` or the cpu-minutes
    budget; the final checkpoint is saved as for done), interrupted (Ctrl-C; the checkpoint where the run stands is
    kept, continue with ``resume=True``), failed (a NaN, a collapse, a failed save: ``message`` says why and what
    to try; the last checkpoint is kept), refused (bad options, data or checkpoint: nothing trained)."""

    status: str
    steps: int = 0  # the trainer's step count at the end (all runs of a resumed training)
    steps_this_run: int = 0
    seconds: float = 0.0  # wall seconds of this run's loop
    checkpoint: Path | None = None  # where the checkpoint is (None: out=None, or refused)
    message: str = ""
    trainer: Engine | None = None  # the trained model is ``trainer.model``
    data: ImageSet | None = None  # what it trained on

    @property
    def ok(self) -> bool:
        return self.status in ("done", "stopped")

    @property
    def it_per_s(self) -> float:
        return self.steps_this_run / max(self.seconds, 1e-9)

    @property
    def exit_status(self) -> int:
        """0 done or stopped, 2 refused, 3 failed, 130 interrupted."""
        return EXIT_STATUS[self.status]


def run_folder(out: str | Path | RunFolder | None) -> RunFolder | None:
    return out if out is None or isinstance(out, RunFolder) else RunFolder(out)


def refuse_overwrite(folder: RunFolder) -> None:
    """``ValueError`` (worded for the user) when a new run would replace the checkpoint in ``folder``."""
    if folder.has_checkpoint:
        raise ValueError(f"{folder.checkpoint} already exists; use --resume to continue it or choose another --out")


def saved_or_new(out: str | Path | RunFolder, options: dict, *, resume: bool, new: Callable[[dict], object],
                 cls=TrainConfig):
    """The run's config: with ``resume`` the options saved in ``out`` with ``options`` on top; else ``new(options)``.
    ``ValueError`` (worded for the user) when there is nothing to resume, or a new run would replace a checkpoint."""
    folder = run_folder(out)
    if resume:
        if not folder.train_config.is_file():
            raise ValueError(f"nothing to resume in {folder.root} (no {folder.train_config.name})")
        return cls.from_dict(folder.read_config() | options)
    refuse_overwrite(folder)
    return new(options)


def load_training_data(config: TrainConfig, dry_run: bool = False) -> ImageSet:
    """The training split ``config`` names; a dry run: at most 256 of its images (synthetic digits if none is found)."""
    try:
        data = load_dataset(config.dataset, config.data_dir or None, "train", image_size=config.image_size,
                            channels=config.channels, download=config.download, factor=config.factor)
    except DataError:
        if not dry_run:
            raise
        return synthetic_digits(256, classes=4)
    if dry_run:
        data = data.subset(torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:256])
        # with many labels (Sprites: 500 characters) some get one image; same-label pairs need two
        data = data.subset(torch.nonzero(torch.bincount(data.labels)[data.labels] >= 2).flatten())
    return data


def prepare(folder: RunFolder | None, *, resume: bool, main_rank: bool = True) -> None:
    """Before building the trainer: put back a checkpoint whose save was killed between its two renames."""
    if folder is not None and resume and main_rank:
        recover(folder.checkpoint)


def start(folder: RunFolder | None, trainer: Engine, *, resume: bool) -> None:
    """Resume ``trainer`` from the folder's checkpoint if asked (and there is one), then write the run's options."""
    if folder is None:
        return
    if resume and folder.has_checkpoint:
        trainer.resume(folder.checkpoint)
    elif resume and trainer.is_main:  # killed before its first checkpoint: nothing to lose, start again
        print(f"{folder.checkpoint} has no checkpoint yet; starting from step 0 with the saved options", file=sys.stderr)
    if trainer.is_main:
        folder.write_config(asdict(trainer.config))


def time_budget(trainer: Engine) -> Callable[[], bool] | None:
    """``should_stop`` for ``config.cpu_minutes``: true once the process's CPU time in this run, plus what the
    earlier runs used (saved in the train state), reaches the budget."""
    minutes = getattr(trainer.config, "cpu_minutes", 0.0)
    if not minutes:
        return None
    begin, before = time.process_time(), trainer.cpu_seconds
    return lambda: before + time.process_time() - begin >= 60 * minutes


def _either(*stops: Callable[[], bool] | None) -> Callable[[], bool] | None:
    stops = [s for s in stops if s is not None]
    if not stops:
        return None
    return stops[0] if len(stops) == 1 else lambda: any(s() for s in stops)


def train_run(config: TrainConfig, out: str | Path | RunFolder | None = None, *, resume: bool = False,
              data: ImageSet | None = None, dry_run: bool = False, dataset_name: str | None = None,
              on_start: Callable[[Engine, ImageSet], None] | None = None,
              on_step: Callable[[int, dict[str, torch.Tensor]], None] | None = None,
              on_log: Callable[[int, dict[str, float], float], None] | None = None,
              on_image: Callable[[int], None] | None = None,
              should_stop: Callable[[], bool] | None = None, log_every: int | None = None, probe: bool = True,
              rank: int = 0, world_size: int = 1, local_rank: int = 0, extra_metrics: dict | None = None) -> RunResult:
    """Train ``config`` (a ``TrainConfig``) in the run folder ``out`` (None: none), see the module docstring.

    ``resume``: continue ``<out>/checkpoint`` (the caller gives the config, e.g. the saved one with changes:
    ``saved_or_new``); a new run refuses a folder that holds a checkpoint. ``data``: train on this set instead of
    loading ``config.dataset`` (``dry_run``: a small subset, synthetic digits without data). ``dataset_name``: what
    the model records (default: ``config.dataset``). Callbacks: ``on_start(trainer, data)`` once built (and
    resumed), then ``core.training.run``'s ``on_step``, ``on_log`` (every ``log_every`` steps, default the
    config's; 0: never, and no NaN check), ``on_image`` (every ``config.image_every`` steps) and ``should_stop``.
    ``probe``: measure the method's extra log values on 64 images. ``rank``/``world_size``/``local_rank``: under
    torchrun, with the process group started (only rank 0 writes)."""
    folder = run_folder(out)
    try:
        if folder is not None and not resume:
            refuse_overwrite(folder)
        prepare(folder, resume=resume, main_rank=rank == 0)
        if world_size > 1:
            dist.barrier()
        config.validate()
        if config.threads:
            torch.set_num_threads(config.threads)
        if data is None:
            data = load_training_data(config, dry_run)
        name = dataset_name or recorded_name(config.dataset, data)
        trainer = make_trainer(config, data, build_networks(config, data, dataset_name=name), dataset_name=name,
                               rank=rank, world_size=world_size, local_rank=local_rank)
        start(folder, trainer, resume=resume)
    except (DataError, CheckpointError, ValueError) as err:
        return RunResult("refused", message=str(err), data=data)
    if on_start is not None:
        on_start(trainer, data)
    return run_trainer(trainer, data, folder, on_step=on_step, on_log=on_log, on_image=on_image,
                       should_stop=should_stop, log_every=log_every, probe=probe, extra_metrics=extra_metrics)


def run_trainer(trainer: Engine, data: ImageSet, out: str | Path | RunFolder | None = None, *,
                on_step: Callable[[int, dict[str, torch.Tensor]], None] | None = None,
                on_log: Callable[[int, dict[str, float], float], None] | None = None,
                on_image: Callable[[int], None] | None = None, should_stop: Callable[[], bool] | None = None,
                log_every: int | None = None, probe: bool = True, extra_metrics: dict | None = None) -> RunResult:
    """Run the loop to ``trainer.config.steps`` with ``<out>/log.jsonl`` and the periodic checkpoints, stop at the
    cpu-minutes budget, then save the final checkpoint with the model's statistics (``trainer.statistics(data)``)
    and metrics (the run's time and hardware, plus ``extra_metrics``). ``out=None``: nothing written or saved."""
    folder = run_folder(out)
    config, main = trainer.config, trainer.is_main
    images = data.images[torch.randperm(len(data), generator=torch.Generator().manual_seed(1))[:64]] if probe else None
    start_step = trainer.step_count
    log_file = folder.log.open("a") if folder is not None and main else None
    checkpoint = folder.checkpoint if folder is not None else None

    def logged(step: int, values: dict[str, float], seconds: float) -> None:
        if log_file:
            speed = (step - start_step) / max(seconds, 1e-9)
            log_file.write(json.dumps({"step": step, "seconds": round(seconds, 1), "it_per_s": round(speed, 3)} | values)
                           + "\n")
            log_file.flush()
        if on_log is not None:
            on_log(step, values, seconds)

    def result(status: str, outcome=None, message: str = "") -> RunResult:
        return RunResult(status, trainer.step_count, outcome.steps if outcome else trainer.step_count - start_step,
                         outcome.seconds if outcome else 0.0, checkpoint, message, trainer, data)

    try:
        outcome = run(trainer, on_step=on_step, log_every=config.log_every if log_every is None else log_every,
                      on_log=logged, probe=images, image_every=config.image_every if on_image else 0,
                      on_image=on_image, checkpoint=checkpoint, checkpoint_every=config.checkpoint_every,
                      should_stop=_either(should_stop, time_budget(trainer)))
    except TrainingFailed as err:
        return result("failed", message=str(err))
    finally:
        if log_file:
            log_file.close()
    if outcome.status == "interrupted":
        if folder is None:
            return result("interrupted", outcome, f"interrupted at step {trainer.step_count}")
        if trainer.world_size > 1:
            return result("interrupted", outcome,
                          f"interrupted; the last checkpoint in {folder.checkpoint} is kept; continue with --resume")
        return result("interrupted", outcome,
                      f"interrupted at step {trainer.step_count}; saved {folder.checkpoint}; continue with --resume")
    if folder is not None:
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
            return result("failed", outcome, str(err))
    where = f"; checkpoint at {folder.checkpoint}" if folder is not None else ""
    return result(outcome.status, outcome,
                  f"{outcome.status}: {trainer.step_count} steps ({outcome.steps} this run) in {outcome.seconds:.0f} s "
                  f"({outcome.it_per_s:.2f} it/s) on {trainer.device}{where}")
