"""Measure how Yale B's cropped images are framed relative to our face detector's box.

    python -m tools.calibrate_crop --data-dir ../shared/data/CroppedYale

Each frontal-light Yale B image is reduced to the loader's centre square, padded by repeating its
edges, and passed to
``core.upload.detect_faces``; the square's side and centre are expressed relative to the detected
box. The medians are ``core.upload.YALE_FRAMING``, so uploads are cut like the training images.
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image

from core.data.faces import YALE_NAME, yale_root
from core.upload import detect_faces


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.calibrate_crop", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, help="CroppedYale folder (or its parent)")
    args = parser.parse_args(argv)
    files = sorted(p for p in yale_root(args.data_dir).glob("yaleB*/*A+000E+00.pgm") if YALE_NAME.match(p.name))
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
