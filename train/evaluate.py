"""Evaluate a checkpoint with the Table 4.1 protocol and draw t-SNE maps of z and s.

    python -m train.evaluate --checkpoint checkpoints/mnist --data-dir ../shared/data/MNIST

Writes ``metrics.json`` into the checkpoint folder (or --out), ``tsne.png`` beside it, and prints a
Markdown table with the paper's numbers. --dry-run uses 300/200 images and 2 classifier epochs.
"""

from __future__ import annotations

import sys
import time
from datetime import date
from pathlib import Path

import torch

from core.checkpoint import TSNE_FIGURE, CheckpointError, load_metrics, load_model, save_latents, save_metrics
from core.data import SPLITS, DataError, holdout_split, load_dataset
from core.evaluation import PAPER_RESULTS, evaluate_factor, evaluate_model, project_2d
from core.evaluation.result import Evaluation
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
    lines.append(f"\nchance (most frequent test label): {metrics['chance_test']:.2f}%")
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
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--data-dir", default="", help="dataset folder (default: $CCVAE_DATA_DIR)")
    parser.add_argument("--dataset", default=None, help="dataset kind (default: the checkpoint's)")
    parser.add_argument("--epochs", type=int, default=50, help="classifier training epochs")
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
    epochs, tsne_points, max_train, max_test = args.epochs, args.tsne_points, args.max_train, args.max_test
    if args.dry_run:
        epochs, tsne_points, max_train, max_test = 2, min(tsne_points, 200), 300, 200
    g = torch.Generator().manual_seed(args.seed)
    if 0 < max_train < len(train):
        train = train.subset(torch.randperm(len(train), generator=g)[:max_train])
    if 0 < max_test < len(test):
        test = test.subset(torch.randperm(len(test), generator=g)[:max_test])

    t0 = time.time()
    metrics = evaluate_model(model, train, test, epochs=epochs, seed=args.seed)
    metrics.update({"checkpoint": str(args.checkpoint), "training_steps": model.config.training_steps,
                    "dataset": dataset, "dry_run": args.dry_run, "hardware": hardware(),
                    "eval_seconds": round(time.time() - t0, 1), "date": date.today().isoformat()})
    out = args.out or args.checkpoint
    out.mkdir(parents=True, exist_ok=True)
    if tsne_points:
        idx = torch.randperm(len(test), generator=torch.Generator().manual_seed(args.seed))[:tsne_points]
        tsne_figure(model, test.images[idx], test.labels[idx], test.class_names, out / TSNE_FIGURE, args.seed)
    for factor in train.factors:  # e.g. Yale B lighting: z should predict it, s should not
        metrics.setdefault("factors", {})[factor] = evaluate_factor(model, train, test, factor, epochs=epochs, seed=args.seed)
    if "unseen" in SPLITS.get(dataset, ()):  # identities never seen in training: does s still tell them apart?
        unseen = load_dataset(dataset, args.data_dir or None, "unseen", **kw)
        halves = [holdout_split(unseen, split, fraction=0.5, seed=args.seed) for split in ("train", "test")]
        halves = [h.subset(torch.randperm(len(h), generator=g)[:n]) if 0 < n < len(h) else h  # Sprites: 8,900 each
                  for h, n in zip(halves, (max_train, max_test))]
        metrics["unseen"] = evaluate_model(model, *halves, epochs=epochs, seed=args.seed)
        metrics["unseen"]["protocol"] = ("classifier trained on codes of half of each unseen identity's images, "
                                         "tested on the other half; the encoder never saw these identities")
    metrics["eval_seconds"] = round(time.time() - t0, 1)
    save_metrics(out, (load_metrics(out) if out == args.checkpoint else {}) | {"evaluation": metrics})
    if args.update_latents:
        factors = {k: (v, len(train.factor_names[k])) for k, v in train.factors.items()}
        save_latents(args.checkpoint, latent_statistics(model, train.images, train.labels,
                                                        num_classes=len(train.class_names), factors=factors))
    print(markdown_table(metrics, model.config))
    if metrics.get("factors"):
        print("other labelled factors: z should predict those that vary within a label (Yale B lighting, Sprites "
              "action and view), s those the label fixes (Sprites attributes)")
    for factor, result in metrics.get("factors", {}).items():
        acc = result["accuracy"]
        print(f"{factor} from z: {acc['z_mean']['test']:.2f}%, from s: {acc['s']['test']:.2f}% "
              f"(chance {result['chance_test']:.2f}%)")
    if "unseen" in metrics:
        e = Evaluation.from_dict(metrics["unseen"])
        print(f"unseen identities: z sample {e.z_sample.test:.2f}%, z mean {e.z_mean.test:.2f}%, "
              f"s {e.s.test:.2f}% (chance {e.chance:.2f}%)")
    print(f"\nsilhouette of test codes by label: z {metrics['silhouette_test']['z_mean']:.3f}, "
          f"s {metrics['silhouette_test']['s']:.3f}; evaluated in {metrics['eval_seconds']:.0f} s on {metrics['hardware']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
