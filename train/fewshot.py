"""Few-shot experiment (report Fig. 4.14-4.16): how well s captures a class the model never saw.

    python -m train.fewshot --data-dir ../shared/data --face-checkpoint checkpoints/yaleb --out runs/fewshot

- **MNIST**: a CC-VAE is trained with one digit withheld (default 7, --mnist-steps iterations), then
  given 0, 1 or 10 of its images by few-shot fine-tuning (``core.fewshot.fine_tune``; the report
  retrained from scratch, which this CPU cannot afford for every setting). Reported: the
  Table 4.1 classifier on s (trained on codes of all ten classes) tested on the withheld digit's
  test images, and on all test images.
- **Yale B, unseen identities**: the face checkpoint never saw 8 identities. Each unseen identity's
  images are split in half; the model is fine-tuned on 0, 1 or 10 images per identity from the
  first half; a classifier on s (and on z) is trained on the first half's codes, tested on the second.
- **ORL (cross-dataset)**: the same with the 40 AT&T/ORL identities (10 images each, so 0, 1 and 4 shots).

Writes ``results.json``, swap grids (rows: z sources; columns: s of the new class) and a Markdown table.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from core.checkpoint import CheckpointError, load_model
from core.data import DataError, ImageSet, holdout_split, load_dataset, load_orl
from core.evaluation import classifier_accuracy
from core.explore import encode_all, framed_grid, png_bytes, swap_grid
from core.fewshot import fine_tune
from core.gallery import one_per_class
from core.training import TrainConfig, make_trainer
from train.cli import command_parser, hardware, parse_command


def first_per_class(data: ImageSet, k: int, seed: int = 0) -> ImageSet:
    """k random images of every class (all of them when a class has fewer)."""
    g = torch.Generator().manual_seed(seed)
    keep = [idx[torch.randperm(idx.numel(), generator=g)[:k]] for idx in
            (torch.nonzero(data.labels == c).flatten() for c in torch.unique(data.labels))]
    return data.subset(torch.cat(keep))


def references(data: ImageSet, count: int = 512, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:count]
    return data.floats(idx), data.labels[idx]


def accuracies(model, train: ImageSet, test: ImageSet, *, epochs: int, focus: int | None = None) -> dict:
    """Classifier accuracy (%) from s and from z (mean), on all test codes and on class ``focus``."""
    tr, te = encode_all(model, train.images), encode_all(model, test.images)
    k = int(max(train.labels.max(), test.labels.max())) + 1
    out = {}
    for name, a, b in (("s", tr.s, te.s), ("z_mean", tr.z_mu, te.z_mu)):
        out[name] = round(100 * classifier_accuracy(a, train.labels, b, test.labels, num_classes=k, epochs=epochs)["test"], 2)
        if focus is not None:
            mask = test.labels == focus
            out[f"{name}_withheld"] = round(100 * classifier_accuracy(a, train.labels, b[mask], test.labels[mask],
                                                                      num_classes=k, epochs=epochs)["test"], 2)
    return out


def save_grid(model, z_images: torch.Tensor, s_images: torch.Tensor, path: Path) -> None:
    path.write_bytes(png_bytes(framed_grid(swap_grid(model, z_images, s_images), z_images, s_images)))


def mnist_experiment(args, out: Path) -> dict:
    train, test = (load_dataset("mnist", args.mnist_dir, split) for split in ("train", "test"))
    w = args.withheld
    base_train = train.subset(torch.nonzero(train.labels != w).flatten())
    config = TrainConfig(steps=args.mnist_steps, seed=args.seed)
    trainer = make_trainer(config, base_train, dataset_name="mnist")
    t0 = time.time()
    while trainer.step_count < config.steps:
        trainer.step()
    base = trainer.model.eval()
    base_seconds = time.time() - t0
    print(f"mnist: base model without digit {w}: {config.steps} steps in {base_seconds:.0f} s", flush=True)
    withheld_train = train.subset(torch.nonzero(train.labels == w).flatten())
    refs, ref_labels = references(base_train, seed=args.seed)
    g = torch.Generator().manual_seed(args.seed)
    clf_train = train.subset(torch.randperm(len(train), generator=g)[:args.classifier_images])
    grid_z = test.floats(torch.randperm(len(test), generator=g)[:6])
    grid_s = test.floats(one_per_class(test, seed=args.seed))
    rows = []
    for shots in (0, 1, 10):
        model = base
        if shots:
            images = withheld_train.floats(torch.arange(shots))
            model = fine_tune(base, images, refs, ref_labels, steps=args.fewshot_steps, seed=args.seed)
        acc = accuracies(model, clf_train, test, epochs=args.epochs, focus=w)
        save_grid(model, grid_z, grid_s, out / f"mnist_withheld{w}_{shots}shot.png")
        rows.append({"shots": shots} | acc)
        print(f"mnist {shots}-shot: {acc}", flush=True)
    return {"withheld": w, "base_steps": config.steps, "base_seconds": round(base_seconds, 1),
            "fewshot_steps": args.fewshot_steps, "classifier_train_images": len(clf_train), "rows": rows}


def new_identities_experiment(base, data: ImageSet, refs, ref_labels, shots_list, args, out: Path, name: str,
                              grid_z: torch.Tensor) -> dict:
    half_a, half_b = (holdout_split(data, split, fraction=0.5, seed=args.seed) for split in ("test", "train"))
    rows = []
    for shots in shots_list:
        model = base
        if shots:
            few = first_per_class(half_a, shots, seed=args.seed)
            model = fine_tune(base, few.floats(), refs, ref_labels, labels=few.labels, steps=args.fewshot_steps,
                              seed=args.seed)
        acc = accuracies(model, half_a, half_b, epochs=args.epochs)
        grid_s = half_b.floats(one_per_class(half_b, seed=args.seed)[:10])
        save_grid(model, grid_z, grid_s, out / f"{name}_{shots}shot.png")
        rows.append({"shots": shots} | acc)
        print(f"{name} {shots}-shot: {acc}", flush=True)
    return {"identities": len(data.class_names), "images": len(data), "classifier_train": len(half_a),
            "classifier_test": len(half_b), "fewshot_steps": args.fewshot_steps,
            "chance": round(100 / len(data.class_names), 2), "rows": rows}


def faces_experiments(args, out: Path) -> dict:
    base = load_model(args.face_checkpoint)
    size = base.config.image_shape[1]
    seen = load_dataset("yaleb", args.yale_dir, "train", image_size=size)
    refs, ref_labels = references(seen, seed=args.seed)
    seen_test = load_dataset("yaleb", args.yale_dir, "test", image_size=size)
    grid_z = seen_test.floats(torch.randperm(len(seen_test), generator=torch.Generator().manual_seed(args.seed))[:6])
    results = {"yaleb_unseen": new_identities_experiment(base, load_dataset("yaleb", args.yale_dir, "unseen", image_size=size),
                                                          refs, ref_labels, (0, 1, 10), args, out, "yaleb_unseen", grid_z)}
    if args.orl_dir:
        orl = load_orl(args.orl_dir, size=size)
        results["orl"] = new_identities_experiment(base, orl, refs, ref_labels, (0, 1, 4), args, out, "orl", grid_z)
    return results


def markdown(results: dict) -> str:
    lines = []
    m = results.get("mnist")
    if m:
        lines += [f"MNIST, digit {m['withheld']} withheld ({m['base_steps']} training steps; shots added by "
                  f"{m['fewshot_steps']} fine-tuning steps):", "",
                  f"| shots of {m['withheld']} | s acc. on {m['withheld']}s | s acc. (all) "
                  f"| z acc. on {m['withheld']}s | z acc. (all) |",
                  "|---|---|---|---|---|"]
        lines += [f"| {r['shots']} | {r['s_withheld']:.2f} | {r['s']:.2f} | {r['z_mean_withheld']:.2f} | {r['z_mean']:.2f} |"
                  for r in m["rows"]]
        lines.append("")
    for key, title in (("yaleb_unseen", "Yale B, 8 unseen identities"), ("orl", "ORL (cross-dataset), 40 identities")):
        if key in results.get("faces", {}):
            f = results["faces"][key]
            lines += [f"{title} (chance {f['chance']:.2f}%; {f['fewshot_steps']} fine-tuning steps):", "",
                      "| shots per identity | s accuracy | z (mean) accuracy |", "|---|---|---|"]
            lines += [f"| {r['shots']} | {r['s']:.2f} | {r['z_mean']:.2f} |" for r in f["rows"]]
            lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("python -m train.fewshot", __doc__, threads=0)
    parser.add_argument("--data-dir", default="", help="folder holding MNIST/, CroppedYale/ and orl_faces/")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--face-checkpoint", type=Path, default=None, help="Yale B checkpoint (skip faces if absent)")
    parser.add_argument("--skip-mnist", action="store_true")
    parser.add_argument("--withheld", type=int, default=7)
    parser.add_argument("--mnist-steps", type=int, default=5000, help="training steps of the MNIST base model")
    parser.add_argument("--fewshot-steps", type=int, default=200)
    parser.add_argument("--classifier-images", type=int, default=10000, help="MNIST training codes for the classifier")
    parser.add_argument("--epochs", type=int, default=30, help="classifier epochs")
    parser.add_argument("--seed", type=int, default=0)
    args = parse_command(parser, argv)
    root = Path(args.data_dir) if args.data_dir else None
    args.mnist_dir = root / "MNIST" if root and (root / "MNIST").is_dir() else args.data_dir
    args.yale_dir = args.data_dir
    args.orl_dir = str(root / "orl_faces") if root and (root / "orl_faces").is_dir() else ""
    args.out.mkdir(parents=True, exist_ok=True)
    results = {"hardware": hardware(), "date": time.strftime("%Y-%m-%d"), "seed": args.seed}
    t0 = time.time()
    try:
        if not args.skip_mnist:
            results["mnist"] = mnist_experiment(args, args.out)
        if args.face_checkpoint:
            results["faces"] = faces_experiments(args, args.out)
    except (DataError, CheckpointError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    results["seconds"] = round(time.time() - t0, 1)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    (args.out / "results.md").write_text(table + f"\n{results['hardware']}, {results['seconds']:.0f} s in all\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
