"""Evaluate a checkpoint with the Table 4.1 protocol and draw t-SNE maps of z and s.

    python -m train.evaluate --checkpoint checkpoints/mnist --data-dir ../shared/data/MNIST

Writes ``metrics.json`` into the checkpoint folder (or --out), ``tsne.png`` beside it, and prints a
Markdown table with the paper's numbers. Scores on ``core.evaluation.PROTOCOL`` (the probe stops when it
no longer improves on codes held out of the training set), which the metrics record; ``--probe-seeds 0 1 2``
averages several probes and records the spread. --dry-run uses 300/200 images and at most 2 probe epochs.

    python -m train.evaluate --table checkpoints/mnist runs/authors/authors-ccvae experiments/authors/authors-ccvae.json

prints the recorded evaluations of several checkpoints (or metrics files) as one table, and refuses when they
were scored on different protocols, naming the rows and the fields that differ.
"""

from __future__ import annotations

import sys
import time
from datetime import date
from pathlib import Path

import torch

from core.checkpoint import TSNE_FIGURE, CheckpointError, load_metrics, load_model, save_latents, save_metrics
from core.data import DataError, dataset_spec, load_dataset
from core.evaluation import (
    PAPER_RESULTS,
    PROTOCOL,
    ClassMismatch,
    NonFiniteCodes,
    ProbeDidNotTrain,
    Protocol,
    ProtocolMismatch,
    check_one_protocol,
    evaluate_checkpoint,
    project_2d,
)
from core.evaluation.result import CODES, Evaluation, MetricsError
from core.explore import encode_all, latent_statistics
from train.cli import command_parser, hardware, parse_command


def markdown_table(metrics: dict, model_config) -> str:
    e = Evaluation.from_dict(metrics)
    lines = ["| model (z/s dims) | z test (sample) | z test (mean) | s test | z train | s train |",
             "|---|---|---|---|---|---|",
             f"| this checkpoint ({model_config.z_dim}/{model_config.s_dim}) | {e.z_sample.test:.2f} | "
             f"{e.z_mean.test:.2f} | {e.s.test:.2f} | {e.z_sample.train:.2f} | {e.s.train:.2f} |"]
    for name, (z, s) in PAPER_RESULTS.get((model_config.dataset, model_config.z_dim, model_config.s_dim), {}).items():
        lines.append(f"| {name} | {z:.2f} | n/a | {s:.2f} | | |")
    lines.append(f"\nchance (most frequent test label): {e.chance:.2f}%")
    return "\n".join(lines)


def recorded_evaluation(path: Path) -> Evaluation:
    """The evaluation of a checkpoint folder's metrics.json, of a metrics.json, or of a sweep cell's JSON."""
    import json

    data = load_metrics(path) if path.is_dir() else json.loads(path.read_text())
    try:
        return Evaluation.from_dict(data.get("evaluation", data))
    except MetricsError as err:
        raise CheckpointError(f"{path}: no recorded evaluation ({err}); run python -m train.evaluate --checkpoint "
                              f"{path}") from None


def comparison_table(paths: list[Path]) -> str:
    """One Markdown table of several recorded evaluations; ``ProtocolMismatch`` when their protocols differ."""
    blocks = {str(p): recorded_evaluation(p) for p in paths}
    protocol = check_one_protocol(blocks)
    lines = ["| evaluation | z test (sample) | z test (mean) | s test | probe seeds |", "|---|---|---|---|---|"]
    for name, e in blocks.items():
        lines.append(f"| {name} | " + " | ".join(str(e.mean_sd(c)) for c in CODES) + f" | {e.probe_seeds} |")
    known = {k: v for k, v in protocol.items() if k not in ("num_train", "num_test")}
    try:
        text = Protocol.from_dict(known).describe()
    except (TypeError, ValueError):
        text = f"protocol {known}"
    lines.append(f"\n{text}; {protocol['num_train']:,} training / {protocol['num_test']:,} test images")
    return "\n".join(lines)


def tsne_figure(model, images: torch.Tensor, labels: torch.Tensor, class_names: list[str], path: Path,
                seed: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    enc = encode_all(model, images)
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.6))
    many = len(class_names) > 10  # beyond 10 labels: a continuous colour map and no legend
    for ax, (name, codes) in zip(axes, (("z (posterior mean)", enc.z_mu), ("s", enc.s))):
        xy = project_2d(codes.numpy(), "tsne", seed=seed)
        sc = ax.scatter(xy[:, 0], xy[:, 1], c=labels.numpy(), cmap="turbo" if many else "tab10", s=6 if many else 3,
                        alpha=0.8)
        ax.set_title(f"t-SNE of {name}" + (f", coloured by label ({len(class_names)} labels)" if many else ""))
        ax.set_xticks([])
        ax.set_yticks([])
    if not many:
        handles = sc.legend_elements()[0]
        fig.legend(handles, [class_names[int(k)] for k in torch.unique(labels)], loc="center right", title="label")
    fig.tight_layout(rect=(0, 0, 0.93, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("python -m train.evaluate", __doc__, threads=0)
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--table", type=Path, nargs="+", default=None, metavar="PATH",
                        help="print the recorded evaluations of these checkpoints / metrics files as one table "
                        "(refused when their protocols differ) and exit")
    parser.add_argument("--data-dir", default="", help="dataset folder (default: $CCVAE_DATA_DIR)")
    parser.add_argument("--dataset", default=None, help="dataset kind (default: the checkpoint's)")
    parser.add_argument("--epochs", type=int, default=0, help="train every probe exactly this many epochs instead of "
                        "the protocol's early stopping (recorded as protocol fixed-N-epochs; such rows never share a "
                        "table with protocol rows)")
    parser.add_argument("--probe-seeds", type=int, nargs="+", default=None,
                        help="average probes with these seeds (default: --seed); each seed's accuracy is recorded")
    parser.add_argument("--tsne-points", type=int, default=5000, help="test images in the t-SNE maps (0: none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="where to write metrics.json and tsne.png "
                        "(default: the checkpoint folder)")
    parser.add_argument("--update-latents", action="store_true",
                        help="also recompute the checkpoint's latent statistics from the training set")
    parser.add_argument("--max-train", type=int, default=0, help="use a random subset of this many training images (0: all)")
    parser.add_argument("--max-test", type=int, default=0, help="use a random subset of this many test images (0: all)")
    parser.add_argument("--dry-run", action="store_true", help="300/200 images, 2 epochs, for smoke tests")
    args = parse_command(parser, argv)
    if args.table:
        try:
            print(comparison_table(args.table))
        except (ProtocolMismatch, CheckpointError, OSError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        return 0
    if args.checkpoint is None:
        parser.error("give --checkpoint (or --table)")
    try:
        model = load_model(args.checkpoint)
        dataset = args.dataset or model.config.dataset
        image_size = model.config.image_shape[1]
        kw = dict(image_size=image_size, channels=model.config.image_shape[0])
        train, test = (load_dataset(dataset, args.data_dir or None, split, **kw) for split in ("train", "test"))
    except (CheckpointError, DataError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if train.image_shape != model.config.image_shape:
        print(f"error: the data has images of shape {train.image_shape}, the model expects "
              f"{model.config.image_shape}", file=sys.stderr)
        return 2
    tsne_points, max_train, max_test = args.tsne_points, args.max_train, args.max_test
    protocol = Protocol.fixed(args.epochs) if args.epochs else PROTOCOL
    if args.dry_run:
        tsne_points, max_train, max_test = min(tsne_points, 200), 300, 200
        protocol = Protocol(**protocol.to_dict() | {"max_epochs": min(protocol.max_epochs, 2)})
    protocol = protocol.with_sizes(max_train, max_test)
    g = torch.Generator().manual_seed(args.seed)  # one chain of draws: train, test, then the unseen halves
    train, test = train.random_subset(max_train, g), test.random_subset(max_test, g)  # kept for t-SNE and latents

    t0 = time.time()
    out = args.out or args.checkpoint
    try:
        # identities never seen in training, where the dataset has them: does s still tell them apart?
        unseen = load_dataset(dataset, args.data_dir or None, "unseen", **kw) \
            if "unseen" in dataset_spec(dataset).splits else None
        metrics = evaluate_checkpoint(model, train, test, protocol=protocol, seed=args.seed, seeds=args.probe_seeds,
                                      max_train=max_train, max_test=max_test, unseen=unseen, generator=g)
    except (ClassMismatch, NonFiniteCodes, ProbeDidNotTrain, DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    metrics.update({"checkpoint": str(args.checkpoint), "training_steps": model.config.training_steps,
                    "dataset": dataset, "dry_run": args.dry_run, "hardware": hardware(), "date": date.today().isoformat()})
    out.mkdir(parents=True, exist_ok=True)
    if tsne_points:
        idx = torch.randperm(len(test), generator=torch.Generator().manual_seed(args.seed))[:tsne_points]
        tsne_figure(model, test.images[idx], test.labels[idx], test.class_names, out / TSNE_FIGURE, args.seed)
    metrics["eval_seconds"] = round(time.time() - t0, 1)
    save_metrics(out, (load_metrics(out) if out == args.checkpoint else {}) | {"evaluation": metrics})
    if args.update_latents:
        factors = {k: (v, len(train.factor_names[k])) for k, v in train.factors.items()}
        save_latents(args.checkpoint, latent_statistics(model, train.images, train.labels,
                                                        num_classes=len(train.class_names), factors=factors))
    print(markdown_table(metrics, model.config))
    e = Evaluation.from_dict(metrics)
    if e.factors:
        print("other labelled factors: z should predict those that vary within a label (Yale B lighting, Sprites "
              "action and view), s those the label fixes (Sprites attributes)")
    for factor, result in (e.factors or {}).items():
        print(f"{factor} from z: {result.z_mean.test:.2f}%, from s: {result.s.test:.2f}% "
              f"(chance {result.chance_test:.2f}%)")
    if e.unseen is not None:
        u = e.unseen
        print(f"unseen identities: z sample {u.z_sample.test:.2f}%, z mean {u.z_mean.test:.2f}%, "
              f"s {u.s.test:.2f}% (chance {u.chance:.2f}%)")
    print(f"\nsilhouette of test codes by label: z {e.silhouette_test.z_mean:.3f}, "
          f"s {e.silhouette_test.s:.3f}; evaluated in {e.eval_seconds:.0f} s on {e.hardware}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
