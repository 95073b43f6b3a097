"""Train a CC-VAE (or a pair baseline: --method mathieu | szabo).

    python -m train --data-dir ../shared/data/MNIST --out runs/mnist            # the fast recipe (README)
    python -m train --preset authors --data-dir ../shared/data/MNIST --out runs/mnist-paper   # the paper's schedule
    python -m train --dataset folder --data-dir my_images --image-size 64 --out runs/mine
    python -m train --out runs/mnist --resume                                    # continue a killed run
    python -m train --dry-run --out /tmp/smoke                                   # a few steps on tiny data
    torchrun --nproc_per_node=4 -m train --data-dir ../shared/data/MNIST --out runs/mnist4   # 4 GPUs, global batch 4 x 64

Under torchrun each process trains on its own --batch-size pairs and gradients are averaged over
processes (NCCL on GPUs, gloo on the CPU); only rank 0 prints, logs and writes checkpoints.

Writes the run folder (``core.checkpoint.RunFolder``): ``<out>/checkpoint/`` (atomically, every
--checkpoint-every steps), ``<out>/log.jsonl`` (loss terms, speed and the swap effects of z and s per logged
step), TensorBoard logs in ``<out>/tb/`` and ``<out>/train_config.json``. When training ends, the checkpoint
gets the model's latent statistics (per-class mean s and a code bank) so the app can use it without the
dataset. Exit status 2: bad options or data; 3: training failed (the message says why and what to try).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from core.checkpoint import RunFolder
from core.data import ImageSet
from core.explore import framed_grid, swap_grid
from core.training import DEFAULT_PRESET, PRESETS, TrainConfig, preset_config, train_run
from core.training.engine import precision
from core.training.runner import load_training_data  # noqa: F401 (train.ccvae.load_training_data, as before)
from train import driver
from train.cli import add_dataclass_arguments, overrides


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="run folder (checkpoint/, tb/, log.jsonl, train_config.json)")
    parser.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint")
    parser.add_argument("--dry-run", action="store_true",
                        help=f"run {driver.DRY_RUN['steps']} steps on at most 256 images (synthetic if no data is found)")
    parser.add_argument("--preset", choices=list(PRESETS), default=None,
                        help=f"named recipe the options start from (default for new runs: {DEFAULT_PRESET}; "
                             "authors: the paper's 94k-step schedule); options given here win")
    add_dataclass_arguments(parser, TrainConfig)
    return parser.parse_args(argv)


def log_swap_grid(writer, model, data: ImageSet, step: int) -> None:
    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:16]
    x = data.floats(idx).to(next(model.parameters()).device)
    model.eval()
    grid = framed_grid(swap_grid(model, x[:8], x[8:]), x[:8], x[8:])
    model.train()
    writer.add_image("swap_grid (rows: z source, columns: s source)", grid, step, dataformats="HWC")


def init_distributed(device: str) -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; starts the process group when there
    are several processes: NCCL when they train on GPUs, gloo on the CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, 0
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    on_gpu = torch.cuda.is_available() and not device.startswith("cpu")
    if on_gpu:
        torch.cuda.set_device(local_rank)
    dist.init_process_group("nccl" if on_gpu else "gloo")
    return rank, world, local_rank


def run_config(args: argparse.Namespace) -> TrainConfig | None:
    """The options of this run: the saved ones with --resume, else the preset's; the command line wins."""
    if args.resume and args.preset:
        driver.error("--preset applies to new runs; a resumed run keeps its saved options")
        return None
    # --dry-run sets small defaults; options given on the command line still win
    new = lambda options: preset_config(args.preset or DEFAULT_PRESET, **((driver.DRY_RUN if args.dry_run else {}) | options))
    return driver.saved_or_new(RunFolder(args.out), resume=args.resume, cls=TrainConfig,
                               options=overrides(args, TrainConfig), new=new)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = run_config(args)
    if config is None:
        return 2
    try:
        rank, world, local_rank = init_distributed(config.device)
        return train(args, config, rank, world, local_rank)
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


def train(args: argparse.Namespace, config: TrainConfig, rank: int, world: int, local_rank: int) -> int:
    """``core.training.train_run`` with the command line's progress bar, TensorBoard and signals; the exit status."""
    def announce(trainer, data: ImageSet) -> str:
        processes = f" x {world} processes (global batch {config.batch_size * world})" if world > 1 else ""
        computes = (precision(trainer.uses_bf16, config.bf16) if trainer.device.type == "cpu"
                    else "bf16 autocast" if trainer.uses_bf16 else "float32")
        return (f"training on {trainer.device}{processes} in {computes} with {len(data)} images "
                f"{data.image_shape}, {trainer.sampler.num_groups} classes; steps {trainer.step_count} -> {config.steps}")

    console = driver.Console(RunFolder(args.out), announce=announce,
                             draw=lambda writer, trainer, data, step: log_swap_grid(writer, trainer.model, data, step))
    with driver.stop_signals():
        result = train_run(config, args.out, resume=args.resume, dry_run=args.dry_run, rank=rank, world_size=world,
                           local_rank=local_rank, extra_metrics={"processes": world, "global_batch": config.batch_size * world},
                           **console.callbacks())
    return console.finish(result)


if __name__ == "__main__":
    sys.exit(main())
