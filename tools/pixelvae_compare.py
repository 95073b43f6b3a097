"""Compare the plain decoder with the PixelCNN decoder (PixelVAE; report 4.0.3.2.2) on MNIST.

    python -m tools.pixelvae_compare --plain checkpoints/mnist --pixel runs/pixel/checkpoint \\
        --data-dir ../shared/data/MNIST --out runs/pixelvae_compare
    python -m tools.pixelvae_compare --dry-run     # seconds: untrained tiny models on synthetic digits

Writes into --out:
- ``reconstructions.png``: test images; the plain decoder's Dec(z mean, s); the PixelCNN's sample for the same
  codes; the PixelCNN's conditioning mean image.
- ``samples.png``: each class's mean s (over the training images used) decoded with the same z ~ N(0, I) draws
  by both models.
- ``compare.json``: for each model the Table 4.1 accuracies (``core.evaluation.evaluate_checkpoint``) and the per-pixel
  likelihood of the test images (``core.evaluation.likelihood``: the PixelCNN's own, and for the plain decoder
  a Gaussian around its mean image, discretised to the 256 values, with sigma fitted on training images);
  the time to sample a batch of 64 with the PixelCNN.
Prints a Markdown table. --dry-run: 300 training and 200 test images, 2 classifier epochs, sigma fitted on 20
images, 4 reconstructions and 2 draws per class; without --plain and
--pixel two untrained models (the PixelCNN a tiny one), without the data synthetic digits, without --out a new
temporary folder.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import torch

from core.checkpoint import CheckpointError, load_model, save_checkpoint
from core.data import DataError, ImageSet, load_dataset, spec_for, synthetic_digits
from core.evaluation import evaluate_checkpoint
from core.evaluation.likelihood import fit_sigma, plain_means, reconstruction_likelihood
from core.evaluation.result import Evaluation
from core.explore import class_means, decode, encode_all, sample_prior, tile
from core.models import ModelConfig, build_model
from train.cli import command_parser, hardware, parse_command


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = command_parser("python -m tools.pixelvae_compare", __doc__, threads=0,
                            dry_run="300/200 images, 2 epochs; untrained models, synthetic digits and a temporary "
                                    "--out where those are not given")
    parser.add_argument("--plain", type=Path, help="checkpoint folder of a plain-decoder model")
    parser.add_argument("--pixel", type=Path, help="checkpoint folder of a pixelcnn-decoder model")
    parser.add_argument("--data-dir", default="", help="dataset folder (default: $CCVAE_DATA_DIR)")
    parser.add_argument("--out", type=Path, help="folder for the figures and compare.json")
    parser.add_argument("--epochs", type=int, default=50, help="classifier training epochs (Table 4.1 protocol)")
    parser.add_argument("--max-train", type=int, default=0, help="random subset of training images (0: all)")
    parser.add_argument("--max-test", type=int, default=0, help="random subset of test images (0: all)")
    parser.add_argument("--sigma-images", type=int, default=500, help="training images to fit sigma on (one number)")
    parser.add_argument("--images", type=int, default=16, help="test images in reconstructions.png")
    parser.add_argument("--samples", type=int, default=8, help="z draws per class in samples.png")
    parser.add_argument("--seed", type=int, default=0)
    args = parse_command(parser, argv)
    missing = [f"--{name}" for name in ("plain", "pixel", "out") if getattr(args, name) is None]
    if missing and not args.dry_run:
        parser.error(f"{', '.join(missing)} required (or --dry-run)")
    if args.dry_run and args.out is None:
        args.out = Path(tempfile.mkdtemp(prefix="pixelvae_compare_"))
    if args.dry_run and (args.plain is None or args.pixel is None):
        args.plain, args.pixel = untrained_models(args.out / "models", args.seed)
    return args


def untrained_models(folder: Path, seed: int) -> tuple[Path, Path]:
    """Checkpoints of an untrained plain-decoder model and an untrained tiny PixelCNN one, for --dry-run."""
    names = [str(d) for d in range(10)]
    torch.manual_seed(seed)
    plain = save_checkpoint(folder / "plain", build_model(ModelConfig(dataset="mnist", class_names=names)))
    pixel = save_checkpoint(folder / "pixelcnn", build_model(ModelConfig(dataset="mnist", class_names=names, decoder="pixelcnn",
                                                                         pixelcnn_width=4, pixelcnn_layers=2)))
    return plain, pixel


def load_data(dataset: str, data_dir: str, dry_run: bool, **kw) -> tuple[ImageSet, ImageSet]:
    """Train and test split; for --dry-run synthetic digits where the data is not there."""
    try:
        return tuple(load_dataset(dataset, data_dir or None, split, **kw) for split in ("train", "test"))
    except DataError as err:
        if not (dry_run and spec_for(dataset).kind == "digits"):
            raise
        print(f"note: {err}; using synthetic digits", file=sys.stderr)
        return synthetic_digits(1_000, seed=0), synthetic_digits(500, seed=1)


def load_models(plain_dir: Path, pixel_dir: Path):
    plain, pixel = load_model(plain_dir), load_model(pixel_dir)
    if plain.config.decoder != "plain":
        raise CheckpointError(f"--plain {plain_dir} has the {plain.config.decoder!r} decoder, not 'plain'")
    if pixel.config.decoder != "pixelcnn":
        raise CheckpointError(f"--pixel {pixel_dir} has the {pixel.config.decoder!r} decoder, not 'pixelcnn'")
    if plain.config.image_shape != pixel.config.image_shape:
        raise CheckpointError(f"the models take different images: {plain.config.image_shape} and {pixel.config.image_shape}")
    return plain, pixel


def likelihoods(plain, pixel, train_images: torch.Tensor, test_images: torch.Tensor, seed: int) -> dict:
    """Per-pixel NLL of the test images under both models; sigmas fitted on ``train_images``."""
    floats = train_images.float().div(255)
    out = {}
    for name, model in (("plain", plain), ("pixelcnn", pixel)):
        sigma = fit_sigma(plain_means(model, train_images, seed=seed), floats)
        out[name] = reconstruction_likelihood(model, test_images, sigma=sigma, seed=seed)
    return out


def save_figure(path: Path, panels: list[tuple[str, list[tuple[str, torch.Tensor]]]], nrow: int) -> None:
    """panels: (title, rows) side by side; each row is (label, images (n, C, H, W)) tiled ``nrow`` per line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_rows = max(len(rows) for _, rows in panels)
    fig, axes = plt.subplots(n_rows, len(panels), figsize=(0.5 * nrow * len(panels) + 1.5, 0.75 * n_rows + 0.6),
                             squeeze=False)
    for col, (title, rows) in enumerate(panels):
        axes[0, col].set_title(title, fontsize=10)
        for r in range(n_rows):
            ax = axes[r, col]
            ax.set_xticks([])
            ax.set_yticks([])
            if r < len(rows):
                label, images = rows[r]
                ax.imshow(tile(images, nrow=nrow, padding=1))
                ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
            else:
                ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


@torch.no_grad()
def figures(plain, pixel, train, test, out: Path, *, images: int, samples: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    x = test.floats(torch.randperm(len(test), generator=g)[:images])
    rows = [("test images", x)]
    for name, model in (("plain", plain), ("PixelCNN", pixel)):
        enc = model.encode(x)
        rows.append((f"{name}: Dec(z mean, s)" if name == "plain" else "PixelCNN: sample", decode(model, enc.z_mu, enc.s)))
    enc = pixel.encode(x)
    rows.append(("PixelCNN: mean image", pixel.decode_mean(enc.z_mu, enc.s)))
    save_figure(out / "reconstructions.png", [("Reconstructions (same test images)", rows)], images)

    k = len(train.class_names)
    panels = []
    for name, model in (("plain decoder", plain), ("PixelCNN decoder", pixel)):
        s = class_means(encode_all(model, train.images).s, train.labels, k)[0]
        grid = sample_prior(model, s, n=samples, seed=seed)  # (K, n, C, H, W); the same z draws for both models
        panels.append((f"{name}: class mean s, z ~ N(0, I)", [(train.class_names[i], grid[i]) for i in range(k)]))
    save_figure(out / "samples.png", panels, samples)


def sampling_seconds(model, batch: int = 64) -> float:
    z, s = torch.randn(batch, model.config.z_dim), torch.randn(batch, model.config.s_dim)
    t0 = time.time()
    decode(model, z, s)
    return round(time.time() - t0, 2)


def markdown(results: dict) -> str:
    lines = ["| decoder | steps | z test (sample) | z test (mean) | s test | NLL bits/pixel | KL bits/pixel | -ELBO bits/pixel |",
             "|---|---|---|---|---|---|---|---|"]
    for name in ("plain", "pixelcnn"):
        r = results[name]
        e, lik = Evaluation.from_dict(r["evaluation"]), r["likelihood"]
        kl_bits = lik["nelbo_bits_per_pixel"] - lik["nll_bits_per_pixel"]
        lines.append(f"| {name} | {r['training_steps']:,} | {e.z_sample.test:.2f} | {e.z_mean.test:.2f} | "
                     f"{e.s.test:.2f} | {lik['nll_bits_per_pixel']:.4f} | {kl_bits:.4f} | {lik['nelbo_bits_per_pixel']:.4f} |")
    pix = results["pixelcnn"]["likelihood"]
    lines.append(f"\nPixelCNN conditioning mean image alone (no autoregression): {pix['base_nll_bits_per_pixel']:.4f} bits/pixel; "
                 f"sampling 64 images: {results['sampling_seconds_64']:.1f} s ({torch.get_num_threads()} threads)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        plain, pixel = load_models(args.plain, args.pixel)
        kw = dict(image_size=pixel.config.image_shape[1], channels=pixel.config.image_shape[0])
        train, test = load_data(pixel.config.dataset, args.data_dir, args.dry_run, **kw)
    except (CheckpointError, DataError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if train.image_shape != pixel.config.image_shape:
        print(f"error: the data has images of shape {train.image_shape}, the models expect {pixel.config.image_shape}",
              file=sys.stderr)
        return 2
    epochs, max_train, max_test, sigma_images = args.epochs, args.max_train, args.max_test, args.sigma_images
    if args.dry_run:
        epochs, max_train, max_test, sigma_images = 2, 300, 200, min(sigma_images, 20)
        args.images, args.samples = min(args.images, 4), min(args.samples, 2)
    g = torch.Generator().manual_seed(args.seed)  # one chain of draws: train, test, then sigma's images
    train, test = train.random_subset(max_train, g), test.random_subset(max_test, g)
    args.out.mkdir(parents=True, exist_ok=True)

    t0 = time.time()
    sigma_set = train.images[torch.randperm(len(train), generator=g)[:sigma_images]]
    lik = likelihoods(plain, pixel, sigma_set, test.images, args.seed)
    results = {name: {"checkpoint": str(path), "training_steps": model.config.training_steps,
                      "evaluation": evaluate_checkpoint(model, train, test, epochs=epochs, seed=args.seed),
                      "likelihood": lik[name]}
               for name, model, path in (("plain", plain, args.plain), ("pixelcnn", pixel, args.pixel))}
    figures(plain, pixel, train, test, args.out, images=args.images, samples=args.samples, seed=args.seed)
    results |= {
        "sampling_seconds_64": sampling_seconds(pixel),
        "pixelcnn_config": {k: v for k, v in pixel.config.to_dict().items() if k.startswith(("decoder", "pixelcnn"))},
        "protocol": {
            "accuracy": "core.evaluation.evaluate_model: Table 4.1 MLP on frozen codes, test accuracy in %",
            "likelihood": "negative log-likelihood of the test images' 8-bit pixel values given z ~ q(z|x) (one seeded "
                          "sample) and the image's own s; PixelCNN: its own teacher-forced p(x | z, s); plain: a Gaussian "
                          "around its mean image discretised to the 256 values, sigma fitted by maximum likelihood on "
                          f"{len(sigma_set)} training images; -ELBO adds KL(q(z|x) || N(0, I)) per pixel",
            "base_nll_bits_per_pixel": "the PixelCNN model's conditioning mean image scored like the plain decoder "
                                       "(own fitted sigma): the likelihood without the autoregressive part",
        },
        "num_train": len(train), "num_test": len(test), "classifier_epochs": epochs, "seed": args.seed,
        "dry_run": args.dry_run, "hardware": hardware(), "seconds": round(time.time() - t0, 1),
        "date": date.today().isoformat(),
    }
    (args.out / "compare.json").write_text(json.dumps(results, indent=2) + "\n")
    print(markdown(results))
    print(f"\nwrote {args.out / 'compare.json'}, {args.out / 'reconstructions.png'}, {args.out / 'samples.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
