"""Measure how Yale B's cropped images are framed relative to our face detector's box.

    python -m tools.calibrate_crop --data-dir ../shared/data/CroppedYale
    python -m tools.calibrate_crop --dry-run       # seconds: the shipped face model's own faces stand in for Yale B

Each frontal-light Yale B image is reduced to the loader's centre square, padded by repeating its
edges, and passed to
``core.upload.detect_faces``; the square's side and centre are expressed relative to the detected
box. The medians are ``core.data.registry.YALE_FRAMING``, so uploads are cut like the training images.
``--dry-run`` measures the first 3 people of --data-dir, or without it 6 faces the shipped Yale B model draws
(each identity's mean s under the frontal light's mean z) saved as 168x192 images in Yale B's layout.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from core.checkpoint import load_latents, load_model
from core.data.faces import YALE_NAME, yale_root
from core.upload import detect_faces
from train.cli import command_parser

FRONTAL = "A+000E+00"
SHIPPED_FACES = Path(__file__).resolve().parents[1] / "checkpoints" / "yaleb"


def drawn_yale(folder: Path, checkpoint: Path = SHIPPED_FACES, people: int = 6) -> Path:
    """A stand-in CroppedYale in ``folder``: the face model's identities under frontal light, 168x192 PGM files."""
    model, latents = load_model(checkpoint), load_latents(checkpoint)
    z = latents["factor_lighting_z_mu"][model.config.factor_names["lighting"].index(FRONTAL)]
    with torch.no_grad():
        faces = model.decode(z.expand(people, -1), latents["class_mean_s"][:people])
    for k, face in enumerate(faces, start=1):
        (folder / f"yaleB{k:02d}").mkdir(parents=True)
        image = Image.fromarray((face[0].clamp(0, 1).numpy() * 255).astype(np.uint8)).resize((168, 192), Image.BICUBIC)
        image.save(folder / f"yaleB{k:02d}" / f"yaleB{k:02d}_P00{FRONTAL}.pgm")
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("python -m tools.calibrate_crop", __doc__,
                            dry_run="3 people of --data-dir, or without it 6 faces drawn by the shipped face model")
    parser.add_argument("--data-dir", help="CroppedYale folder (or its parent); required without --dry-run")
    args = parser.parse_args(argv)
    if not args.data_dir and not args.dry_run:
        parser.error("--data-dir is required (or --dry-run)")
    with tempfile.TemporaryDirectory() as tmp:
        root = yale_root(args.data_dir) if args.data_dir else drawn_yale(Path(tmp))
        files = sorted(p for p in root.glob(f"yaleB*/*{FRONTAL}.pgm") if YALE_NAME.match(p.name))
        if args.dry_run:
            files = files[:3] if args.data_dir else files
        return calibrate(files)


def calibrate(files: list[Path]) -> int:
    """Print the median framing of Yale B's frontal-light ``files`` relative to the detector's box."""
    rel = []
    for path in files:
        with Image.open(path) as im:
            w, h = im.size
            side = min(w, h)
            square = im.convert("RGB").crop(((w - side) // 2, (h - side) // 2, (w + side) // 2, (h + side) // 2))
        padded = Image.fromarray(np.pad(np.asarray(square), ((side // 2,) * 2, (side // 2,) * 2, (0, 0)), mode="edge"))
        faces = detect_faces(padded)
        if not faces:
            continue
        x, y, bw, bh = faces[0].box
        centre = side / 2 + side // 2
        rel.append((side / bw, (centre - (y + bh / 2)) / bh))
    if not rel:
        print("no faces detected")
        return 1
    scale, dy = np.median(np.array(rel), axis=0)
    print(f"faces found in {len(rel)} of {len(files)} frontal-light images")
    print(f"Framing(scale={scale:.2f}, dy={dy:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
