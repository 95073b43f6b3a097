"""Train a CC-VAE.

    python -m train --data-dir ../shared/data/MNIST --out runs/mnist            # the paper's MNIST run
    python -m train --dataset folder --data-dir my_images --image-size 64 --out runs/mine
    python -m train --out runs/mnist --resume                                    # continue a killed run
    python -m train --dry-run --out /tmp/smoke                                   # a few steps on tiny data
    torchrun --nproc_per_node=4 -m train --data-dir ../shared/data/MNIST --out runs/mnist4   # 4 GPUs, global batch 4 x 64

Under torchrun each process trains on its own --batch-size pairs and gradients are averaged over
processes (NCCL on GPUs, gloo on the CPU); only rank 0 prints, logs and writes checkpoints.

Writes ``<out>/checkpoint/`` (atomically, every --checkpoint-every steps), TensorBoard logs in
``<out>/tb/`` and ``<out>/train_config.json``. When training ends, the checkpoint gets the model's
latent statistics (per-class mean s and a code bank) so the app can use it without the dataset.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm import tqdm

from core.checkpoint import CheckpointError, recover
from core.data import DataError, ImageSet, load_dataset
from core.explore import framed_grid, latent_statistics, swap_grid
from core.training import DEFAULT_PRESET, PRESETS, TrainConfig, Trainer, TrainingFailed, preset_config
from train.cli import add_dataclass_arguments, hardware, overrides

DRY_RUN = {"steps": 5, "log_every": 1, "image_every": 2, "checkpoint_every": 2, "batch_size": 8}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="run folder (checkpoint/, tb/, train_config.json)")
    parser.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint")
    parser.add_argument("--dry-run", action="store_true",
                        help=f"run {DRY_RUN['steps']} steps on at most 256 images (synthetic if no data is found)")
    parser.add_argument("--preset", choices=list(PRESETS), default=None,
                        help=f"named recipe the options start from (default for new runs: {DEFAULT_PRESET}; "
                             "authors: the paper's 94k-step schedule); options given here win")
    add_dataclass_arguments(parser, TrainConfig)
    return parser.parse_args(argv)


def synthetic_digits(n: int = 256, seed: int = 0) -> ImageSet:
    """Tiny stand-in data for --dry-run without a dataset: 4 classes of bars, 28x28."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 4
    images = torch.zeros(n, 1, 28, 28, dtype=torch.uint8)
    offset = torch.randint(4, 20, (n,), generator=g)
    for k in range(4):
        for i in torch.nonzero(labels == k).flatten().tolist():
            o = int(offset[i])
            if k % 2 == 0:
                images[i, 0, o:o + 4 + 2 * k, 4:24] = 255
            else:
                images[i, 0, 4:24, o:o + 2 + 2 * k] = 255
    return ImageSet(images, labels, ["h-thin", "v-thin", "h-thick", "v-thick"], "synthetic")


def load_training_data(config: TrainConfig, dry_run: bool) -> ImageSet:
    try:
        data = load_dataset(config.dataset, config.data_dir or None, "train", image_size=config.image_size,
                            channels=config.channels, download=config.download, factor=config.factor)
    except DataError:
        if not dry_run:
            raise
        return synthetic_digits()
    if dry_run:
        data = data.subset(torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:256])
        # with many labels (Sprites: 500 characters) some get one image; same-label pairs need two
        data = data.subset(torch.nonzero(torch.bincount(data.labels)[data.labels] >= 2).flatten())
    return data


def tensorboard_writer(folder: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is in requirements.txt; tolerate its absence
        print("tensorboard is not installed: no TensorBoard logs", file=sys.stderr)
        return None
    return SummaryWriter(str(folder))


def log_swap_grid(writer, trainer: Trainer, data: ImageSet, step: int) -> None:
    g = torch.Generator().manual_seed(0)
    idx = torch.randperm(len(data), generator=g)[:16]
    x = data.floats(idx).to(trainer.device)
    model = trainer.model.eval()
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
    """The options of this run: the saved ones with --resume, else the defaults; the command line wins."""
    out: Path = args.out
    config_file = out / "train_config.json"
    if args.resume:
        if not config_file.is_file():
            print(f"error: nothing to resume in {out} (no train_config.json)", file=sys.stderr)
            return None
        if args.preset:
            print("error: --preset applies to new runs; a resumed run keeps its saved options", file=sys.stderr)
            return None
        saved = json.loads(config_file.read_text())
        return TrainConfig.from_dict(saved | overrides(args, TrainConfig))
    if (out / "checkpoint" / "model.safetensors").exists():
        print(f"error: {out / 'checkpoint'} already exists; use --resume to continue it or choose another --out",
              file=sys.stderr)
        return None
    # --dry-run sets small defaults; options given on the command line still win
    return preset_config(args.preset or DEFAULT_PRESET, **((DRY_RUN if args.dry_run else {}) | overrides(args, TrainConfig)))


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
    out: Path = args.out
    checkpoint = out / "checkpoint"
    main_rank = rank == 0
    if args.resume and main_rank:
        recover(checkpoint)
    if world > 1:
        dist.barrier()
    try:
        config.validate()
        if config.threads:
            torch.set_num_threads(config.threads)
        data = load_training_data(config, args.dry_run)
        trainer = Trainer(config, data, dataset_name=config.dataset if data.name != "synthetic" else "synthetic",
                          rank=rank, world_size=world, local_rank=local_rank)
        if args.resume and (checkpoint / "model.safetensors").exists():
            trainer.resume(checkpoint)
        elif args.resume and main_rank:  # killed before its first checkpoint: nothing to lose, start again
            print(f"{checkpoint} has no checkpoint yet; starting from step 0 with the saved options", file=sys.stderr)
    except (DataError, CheckpointError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if main_rank:
        out.mkdir(parents=True, exist_ok=True)
        (out / "train_config.json").write_text(json.dumps(asdict(config), indent=2) + "\n")

    writer = tensorboard_writer(out / "tb") if main_rank else None
    if main_rank:
        processes = f" x {world} processes (global batch {config.batch_size * world})" if world > 1 else ""
        print(f"training on {trainer.device}{processes} with {len(data)} images {data.image_shape}, "
              f"{trainer.sampler.num_groups} classes; steps {trainer.step_count} -> {config.steps}", flush=True)
    start, t0, seconds_before = trainer.step_count, time.time(), trainer.train_seconds
    probe = data.images[torch.randperm(len(data), generator=torch.Generator().manual_seed(1))[:64]]
    log_file = (out / "log.jsonl").open("a") if main_rank else None
    bar = tqdm(total=config.steps, initial=start, dynamic_ncols=True, mininterval=2.0, disable=not main_rank)
    try:
        while trainer.step_count < config.steps:
            terms = trainer.step()
            step = trainer.step_count
            bar.update(1)
            if step % config.log_every == 0:
                trainer.check_finite()
                values = dict(zip(terms, torch.stack(list(terms.values())).tolist()))  # one wait for the GPU
                if config.method == "ccvae":
                    values |= trainer.split_effects(probe)
                bar.set_postfix({k: f"{v:.4f}" for k, v in values.items()})
                if log_file:
                    log_file.write(json.dumps({"step": step, "seconds": round(time.time() - t0, 1)} | values) + "\n")
                    log_file.flush()
                if writer:
                    for k, v in values.items():
                        writer.add_scalar(f"loss/{k}", v, step)
                    writer.add_scalar("lr", trainer.learning_rate(step), step)
                    writer.add_scalar("speed/it_per_s", (step - start) / (time.time() - t0), step)
            if writer and step % config.image_every == 0:
                log_swap_grid(writer, trainer, data, step)
            if step % config.checkpoint_every == 0 and step < config.steps:
                trainer.train_seconds = seconds_before + time.time() - t0
                trainer.save(checkpoint)
    except TrainingFailed as err:
        bar.close()
        print(f"error: {err}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        bar.close()
        if world > 1:  # the ranks stop at different points, so a save (a collective) could hang
            print(f"interrupted; the last checkpoint in {checkpoint} is kept; continue with --resume", file=sys.stderr)
            return 130
        trainer.train_seconds = seconds_before + time.time() - t0
        trainer.save(checkpoint)
        print(f"interrupted at step {trainer.step_count}; saved {checkpoint}; continue with --resume", file=sys.stderr)
        return 130
    bar.close()
    elapsed = time.time() - t0
    trainer.train_seconds = seconds_before + elapsed
    latents, metrics = None, None
    if main_rank:
        trainer.model.eval()
        latents = latent_statistics(trainer.model, data.images, data.labels, num_classes=len(data.class_names),
                                    factors={k: (v, len(data.factor_names[k])) for k, v in data.factors.items()})
        metrics = {"training": {"steps": trainer.step_count, "seconds": round(trainer.train_seconds, 1),
                                "device": str(trainer.device), "hardware": hardware(), "images": len(data),
                                "processes": world, "global_batch": config.batch_size * world}}
    try:
        trainer.save(checkpoint, metrics=metrics, latents=latents)
    except TrainingFailed as err:
        print(f"error: {err}", file=sys.stderr)
        return 3
    if writer:
        writer.close()
    if log_file:
        log_file.close()
    if not main_rank:
        return 0
    print(f"done: {trainer.step_count} steps ({trainer.step_count - start} this run) in {elapsed:.0f} s "
          f"on {trainer.device}; checkpoint at {checkpoint}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
