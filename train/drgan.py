"""Train a DR-GAN (Tran et al., CVPR 2017) baseline, or measure what its identity feature knows.

    python -m train.drgan --dataset yaleb --data-dir ../shared/data/CroppedYale --out runs/drgan-yaleb
    python -m train.drgan --dataset sprites --data-dir ../shared/data/sprites --out runs/drgan-sprites
    python -m train.drgan --dataset multipie --data-dir my_multipie --out runs/drgan-mpie   # <id>/<pose>/<expr>/<img>
    python -m train.drgan --out runs/drgan-yaleb --resume                 # continue a stopped run
    python -m train.drgan --dry-run --out /tmp/drgan-smoke                # a few steps on tiny data
    python -m train.drgan --evaluate runs/drgan-yaleb/checkpoint --data-dir ../shared/data/CroppedYale

Pose codes: Yale B's 64 light positions binned by azimuth into 3 light directions (``--pose-factor
lighting``, the default there), Sprites' 4 views, MultiPIE's poses. Identity is the label.

Training writes ``<out>/checkpoint/`` (atomically, every --checkpoint-every steps; ``core.load_model``
opens it and the app's Swap grid page shows its pose grid), TensorBoard logs in ``<out>/tb/``, one JSON
line per logged step in ``<out>/log.jsonl`` (losses and the discriminator's accuracies: the share of real
images it calls real, of generations it calls fake) and ``<out>/train_config.json``. Exit status 3
means training collapsed; the message says how and what to try.

``--evaluate CKPT`` trains the Table 4.1 MLP on the encoder's features f to predict identity and pose
(``core.evaluation.drgan``), and the same for an untrained encoder of the same shape as a reference,
prints the numbers as JSON and stores them in the checkpoint's metrics.json under "feature_probe"
(or in --json).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from core.checkpoint import CheckpointError, RunFolder, load_metrics, load_model, save_metrics
from core.data import DataError, ImageSet, holdout_split, is_synthetic, recorded_name, synthetic_faces
from core.data.poses import load_pose_dataset, pose_factor_name
from core.evaluation import PROTOCOL, Protocol
from core.evaluation.drgan import evaluate_features
from core.explore import framed_rows, pose_grid
from core.models import build_model
from core.training import DRGANConfig, DRGANTrainer, dcgan_init, hardware
from train import driver
from train.cli import add_dataclass_arguments, overrides

DRY_RUN = driver.DRY_RUN


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m train.drgan", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="run folder (checkpoint/, tb/, log.jsonl, train_config.json)")
    parser.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint")
    parser.add_argument("--dry-run", action="store_true", help=f"run {DRY_RUN['steps']} steps on at most 256 images "
                        "(synthetic if no data is found); with --evaluate: 300/200 images, 2 classifier epochs")
    parser.add_argument("--evaluate", type=Path, metavar="CKPT", help="measure identity and pose in the features f of "
                        "this checkpoint instead of training")
    parser.add_argument("--epochs", type=int, default=0, help="--evaluate: probe epochs, fixed (0: the protocol's "
                        "early stopping, core.evaluation.PROTOCOL)")
    parser.add_argument("--json", type=Path, help="--evaluate: write the numbers here instead of into the "
                        "checkpoint's metrics.json")
    add_dataclass_arguments(parser, DRGANConfig)
    args = parser.parse_args(argv)
    if args.evaluate is None and args.out is None:
        parser.error("--out is required unless --evaluate is given")
    return args


def load_data(dataset: str, data_dir: str, split: str, *, pose_factor: str, image_size: int, channels: int,
              dry_run: bool, limit: int = 256) -> tuple[ImageSet, str]:
    """(images with identity labels and the pose factor, the pose factor's name); synthetic in a dry run without data."""
    try:
        data = load_pose_dataset(dataset, data_dir or None, split, pose_factor=pose_factor, image_size=image_size,
                                 channels=channels)
        factor = pose_factor_name(dataset, pose_factor)
    except DataError:
        if not dry_run:
            raise
        return synthetic_faces(seed=0 if split == "train" else 1), "pose"
    if dry_run:
        data = data.subset(torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:limit])
    return data, factor


def run_config(args: argparse.Namespace) -> DRGANConfig | None:
    """The options of this run: the saved ones with --resume, else the defaults; the command line wins."""
    new = lambda options: DRGANConfig(**((DRY_RUN if args.dry_run else {}) | options))
    return driver.saved_or_new(RunFolder(args.out), resume=args.resume, cls=DRGANConfig,
                               options=overrides(args, DRGANConfig), new=new)


def log_pose_grid(writer, trainer: DRGANTrainer, data: ImageSet, step: int) -> None:
    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:8]
    x = data.floats(idx).to(trainer.device)
    grid = framed_rows(pose_grid(trainer.model, x, list(range(trainer.model.num_poses))), x)
    trainer.model.train()
    writer.add_image(f"pose_grid (rows: inputs, columns: {', '.join(trainer.model.pose_names)})", grid, step,
                     dataformats="HWC")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.evaluate is not None:
        return evaluate(args)
    config = run_config(args)
    if config is None:
        return 2
    return train(args, config)


def train(args: argparse.Namespace, config: DRGANConfig) -> int:
    folder = RunFolder(args.out)
    driver.prepare(folder, resume=args.resume)
    try:
        config.validate()
        if config.threads:
            torch.set_num_threads(config.threads)
        data, factor = load_data(config.dataset, config.data_dir, "train", pose_factor=config.pose_factor,
                                 image_size=config.image_size, channels=config.channels, dry_run=args.dry_run)
        trainer = DRGANTrainer(config, data, pose_factor=factor,
                               dataset_name=recorded_name(config.dataset, data))
        driver.start(folder, trainer, resume=args.resume)
    except (DataError, CheckpointError, ValueError) as err:
        driver.error(str(err))
        return 2
    model = trainer.model
    print(f"training DR-GAN on {trainer.device} with {len(data)} images {data.image_shape}, {model.num_identities} "
          f"identities, {model.num_poses} poses ({factor}: {', '.join(model.pose_names)}); "
          f"steps {trainer.step_count} -> {config.steps}", flush=True)
    return driver.train(folder, trainer, data, probe=False, on_image=lambda writer, step: log_pose_grid(writer, trainer, data, step),
                        tag=lambda k: f"{'loss' if k.startswith(('d_', 'g_')) else 'accuracy'}/{k}",
                        postfix=("d_loss", "g_loss", "real_as_real", "fake_as_fake"))


def untrained_like(model, *, seed: int) -> torch.nn.Module:
    """A freshly initialised DR-GAN of the same configuration: how much a random encoder's f already tells."""
    torch.manual_seed(seed)
    fresh = build_model(model.config)
    fresh.apply(dcgan_init)
    return fresh.eval()


def evaluate(args: argparse.Namespace) -> int:
    """Identity and pose accuracy of the MLP on f; test images are the dataset's test split where it shares the
    training identities, else a fixed 20% of each training identity's images. The same numbers for an untrained
    encoder of the same shape come along as a reference."""
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        model = load_model(args.evaluate)
        if model.config.method != "drgan":
            raise CheckpointError(f"{args.evaluate} is a {model.config.method} checkpoint, not a DR-GAN; "
                                  "use python -m train.evaluate")
        cfg = model.config
        if is_synthetic(cfg.dataset):  # a dry-run checkpoint
            train_set, test_set = synthetic_faces(seed=0), synthetic_faces(seed=1)
        else:
            common = dict(pose_factor=model.pose_factor, image_size=cfg.image_shape[1], channels=cfg.image_shape[0],
                          dry_run=args.dry_run)
            train_set, _ = load_data(cfg.dataset, args.data_dir or "", "train", limit=300, **common)
            test_set, _ = load_data(cfg.dataset, args.data_dir or "", "test", limit=200, **common)
        if train_set.factor_names.get(model.pose_factor) != model.pose_names:
            raise DataError(f"the data's {model.pose_factor} values {train_set.factor_names.get(model.pose_factor)} "
                            f"are not the model's {model.pose_names}")
        split = "test split"
        if test_set.class_names != train_set.class_names:
            full = train_set
            train_set, test_set = holdout_split(full, "train", fraction=0.2), holdout_split(full, "test", fraction=0.2)
            split = "20% of each training identity's images held out"
        protocol = Protocol.fixed(args.epochs) if args.epochs else PROTOCOL
        if args.dry_run:
            protocol = Protocol(**protocol.to_dict() | {"max_epochs": min(protocol.max_epochs, 2)})
        common = dict(protocol=protocol, seed=args.seed or 0)
        result = evaluate_features(model, train_set, test_set, **common)
        reference = evaluate_features(untrained_like(model, seed=args.seed or 0), train_set, test_set, **common)
    except (DataError, CheckpointError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    result |= {"untrained_encoder": {k: reference[k] for k in ("identity", "pose")},
               "split": split, "dataset": cfg.dataset, "training_steps": cfg.training_steps,
               "hardware": hardware()}
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    else:
        save_metrics(args.evaluate, load_metrics(args.evaluate) | {"feature_probe": result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
