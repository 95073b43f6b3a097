"""Your own images: one sub-folder per class (``root/<class>/<image>``), like torchvision's ImageFolder.

Every image is converted to grayscale (channels=1) or RGB (channels=3) and resized to a square
``size``; all are held in memory. Unreadable files stop the load with their paths listed, before
any training starts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from core.data.base import DataError, ImageSet

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}


def load_folder(root: str | Path, *, size: int = 64, channels: int = 1) -> ImageSet:
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise DataError(f"{root} needs at least 2 class sub-folders (one per label); found {classes}")
    images, labels, bad = [], [], []
    for label, name in enumerate(classes):
        files = sorted(p for p in (root / name).iterdir() if p.suffix.lower() in EXTENSIONS)
        for path in files:
            try:
                with Image.open(path) as im:
                    im = im.convert("L" if channels == 1 else "RGB").resize((size, size), Image.BILINEAR)
                    images.append(np.asarray(im, dtype=np.uint8).reshape(size, size, channels))
                    labels.append(label)
            except (UnidentifiedImageError, OSError, ValueError) as err:
                bad.append(f"{path}: {err}")
    if bad:
        shown = "\n  ".join(bad[:10])
        raise DataError(f"{len(bad)} unreadable image(s) under {root}:\n  {shown}")
    counts = np.bincount(labels, minlength=len(classes)) if labels else np.zeros(len(classes), int)
    too_few = [classes[i] for i in np.flatnonzero(counts < 2)]
    if too_few:
        raise DataError(f"classes with fewer than 2 images (no same-class pairs possible): {too_few}")
    array = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    return ImageSet(array, torch.tensor(labels, dtype=torch.long), classes, f"folder:{root.name}")
