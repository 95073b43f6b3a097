"""Render new people (or new classes) from a few photos, in batch: what the Few-shot page does, as files.

    python -m train.render_photos --checkpoint checkpoints/celeba --out out/anna anna1.jpg anna2.jpg anna3.jpg
    python -m train.render_photos --checkpoint checkpoints/celeba --out out/anna --steps 60 anna*.jpg

Each photo is prepared as an upload would be (``core.upload``: faces aligned by eye landmarks for a
model trained on aligned faces, Haar framing otherwise); photos in which no face is found are skipped
with a message (``--no-detect`` uses the centre square instead). Writes

- ``DIR/crops/00.png ...``: what the model saw;
- ``DIR/zero_shot/00.png ...``: the mean s of the photos with each of ``--styles`` stored styles,
  and ``DIR/zero_shot.png``, all of them in one row;
- with ``--steps N > 0``: ``DIR/few_shot/...`` and ``DIR/few_shot.png`` after fine-tuning a copy of
  the model for N steps on the photos (``core.fewshot.fine_tune``).

Exit status 2, with a one-line message, when no photo could be used or the checkpoint cannot be read.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from tqdm import tqdm

from core.checkpoint import CheckpointError, load_latents, load_metrics, load_model
from core.data import spec_for
from core.explore import png_bytes, tile, to_uint8
from core.fewshot import FINE_TUNE_PARTS, MAX_STEPS, fine_tune, known_styles, recommended_part, reference_images
from core.upload import UploadError, prepare_upload
from train.cli import command_parser

MAX_PHOTOS = 50


def write_images(folder: Path, images: torch.Tensor) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, array in enumerate(to_uint8(images)):
        (folder / f"{i:02d}.png").write_bytes(png_bytes(array))


def prepare_photos(paths: list[Path], model, latents: dict, *, detect: bool) -> tuple[torch.Tensor | None, list[str]]:
    """The photos the model can use, as one (n, C, H, W) batch, and a line per photo saying what happened."""
    config = model.config
    stats = latents.get("pixel_stats")
    pixel_stats = None if stats is None else (float(stats[0]), float(stats[1]))
    spec = spec_for(config.dataset)
    tensors, lines = [], []
    for path in paths:
        try:
            prepared = prepare_upload(path.read_bytes(), config.image_shape, name=path.name,
                                      framing=spec.framing, pixel_stats=pixel_stats, detect=detect,
                                      landmarks=spec.landmarks)
        except (OSError, UploadError) as err:
            lines.append(f"{path}: skipped ({err})")
            continue
        if detect and not prepared.face_found:
            lines.append(f"{path}: skipped (no face found; --no-detect uses the centre of the image)")
            continue
        tensors.append(prepared.tensor)
        lines.append(f"{path}: used ({'; '.join(prepared.notes) or 'as is'})")
    return (torch.stack(tensors) if tensors else None), lines


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("python -m train.render_photos", __doc__)
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=0, help=f"fine-tuning steps (0: zero-shot only; at most {MAX_STEPS})")
    parser.add_argument("--styles", type=int, default=16, help="stored styles to render the new s with")
    parser.add_argument("--part", choices=FINE_TUNE_PARTS, default=None,
                        help="weights the fine-tune changes (default: the part the checkpoint recommends, as the app)")
    parser.add_argument("--no-detect", action="store_true", help="use each photo's centre square, no face detection")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("photos", type=Path, nargs="+")
    args = parser.parse_args(argv)
    if not 0 <= args.steps <= MAX_STEPS:
        print(f"error: --steps must be between 0 and {MAX_STEPS}", file=sys.stderr)
        return 2
    if not 1 <= args.styles <= 64:
        print("error: --styles must be between 1 and 64", file=sys.stderr)
        return 2
    if len(args.photos) > MAX_PHOTOS:
        print(f"error: at most {MAX_PHOTOS} photos at once", file=sys.stderr)
        return 2
    try:
        model = load_model(args.checkpoint).eval()
        latents = load_latents(args.checkpoint)
        styles, _ = known_styles(model, latents, limit=args.styles)
        part = args.part or recommended_part(load_metrics(args.checkpoint))
    except (CheckpointError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    images, lines = prepare_photos(args.photos, model, latents, detect=not args.no_detect)
    for line in lines:
        print(line, file=sys.stderr)
    if images is None:
        print("error: no photo could be used (see above)", file=sys.stderr)
        return 2
    write_images(args.out / "crops", images)

    def render(net) -> torch.Tensor:
        with torch.no_grad():
            s = net.encode(images).s.mean(0, keepdim=True)
            return net.decode(styles, s.expand(styles.shape[0], -1))

    outputs = {"zero_shot": render(model)}
    if args.steps:
        references, reference_labels = reference_images(model, latents)
        with tqdm(total=args.steps, desc="fine-tuning", dynamic_ncols=True) as bar:
            tuned = fine_tune(model, images, references, reference_labels, steps=args.steps, part=part, seed=args.seed,
                              callback=lambda step, terms: bar.update(1))
        outputs["few_shot"] = render(tuned)
        print(f"fine-tuned {part} for {args.steps} steps", file=sys.stderr)
    for name, out in outputs.items():
        write_images(args.out / name, out)
        (args.out / f"{name}.png").write_bytes(png_bytes(tile(out, nrow=out.shape[0])))
    print(f"wrote {args.out}: crops/ ({images.shape[0]}), " + ", ".join(f"{k}/ ({v.shape[0]})" for k, v in outputs.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
