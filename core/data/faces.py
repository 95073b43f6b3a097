"""Face datasets in their original layouts. Identity (or a chosen attribute) is the specified factor.

- ``load_yale``: Extended Yale Face Database B, cropped (``CroppedYale/yaleBNN/yaleBNN_P00A+aaaE+ee.pgm``).
  Identity is the label; the light direction (azimuth, elevation) is kept as the ``lighting`` factor.
  Splits: ``unseen`` is a fixed set of identities never used in training (``UNSEEN_YALE``);
  ``test`` is a fixed 20% of each seen identity's images; ``train`` is the rest.
- ``load_orl``: AT&T / ORL faces (``sN/M.pgm``, 40 identities x 10 images).
- ``load_celeba``: CelebA in torchvision's layout (``celeba/img_align_celeba/*.jpg`` and
  ``celeba/identity_CelebA.txt``); identity is the label.
- ``load_utkface``: UTKFace (``[age]_[gender]_[race]_[datetime].jpg``); the label is one of
  ``age`` (decade bins), ``gender`` or ``race``.
- ``load_multipie``: MultiPIE-style crops, ``root/<identity>/<pose>/<expression>/<image>``; the
  label is ``identity``, ``pose`` or ``expression``; the other two are kept as factors.

Images are converted to grayscale or RGB, centre-cropped to a square and resized (area filter).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from core.data.base import DataError, ImageSet
from core.data.folders import EXTENSIONS

# 8 of the 38 identities, spread over the numbering, never seen in training (fixed for all runs)
UNSEEN_YALE = ("yaleB03", "yaleB08", "yaleB13", "yaleB18", "yaleB23", "yaleB28", "yaleB33", "yaleB38")
YALE_TEST_FRACTION = 0.2
YALE_NAME = re.compile(r"^(yaleB\d\d)_P00A([+-]\d{3})E([+-]\d{2})\.pgm$")
UTK_NAME = re.compile(r"^(\d+)_([01])_([0-4])_")
UTK_FACTORS = {
    "gender": ["male", "female"],
    "race": ["White", "Black", "Asian", "Indian", "Others"],
    "age": ["0-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70+"],
}
MULTIPIE_FACTORS = ("identity", "pose", "expression")


def read_image(path: Path, size: int, channels: int) -> np.ndarray:
    """One image file -> (size, size, channels) uint8: converted, centre-cropped to a square, resized."""
    with Image.open(path) as im:
        im = im.convert("L" if channels == 1 else "RGB")
        w, h = im.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        im = im.crop((left, top, left + side, top + side)).resize((size, size), Image.BOX)
        return np.asarray(im, dtype=np.uint8).reshape(size, size, channels)


def _read_all(paths: list[Path], size: int, channels: int, root: Path) -> np.ndarray:
    images, bad = [], []
    for path in paths:
        try:
            images.append(read_image(path, size, channels))
        except (UnidentifiedImageError, OSError, ValueError) as err:
            bad.append(f"{path}: {err}")
    if bad:
        shown = "\n  ".join(bad[:10])
        raise DataError(f"{len(bad)} unreadable image(s) under {root}:\n  {shown}")
    if not images:
        raise DataError(f"no images found under {root}")
    return np.stack(images)


def _image_set(images: np.ndarray, labels: list[int], class_names: list[str], name: str,
               factors: dict[str, list[int]] | None = None, factor_names: dict[str, list[str]] | None = None) -> ImageSet:
    # classes with one image, or a single class, are refused by the trainer's pair sampler, before step 1
    array = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    return ImageSet(array, torch.tensor(labels, dtype=torch.long), class_names, name,
                    {k: torch.tensor(v, dtype=torch.long) for k, v in (factors or {}).items()}, factor_names or {})


def _require_dir(root: Path, what: str) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{what} folder {root} does not exist")
    return root


def yale_root(root: str | Path) -> Path:
    """Accept the CroppedYale folder itself or a folder that contains it."""
    root = _require_dir(Path(root), "Extended Yale B")
    return root / "CroppedYale" if (root / "CroppedYale").is_dir() else root


def load_yale(root: str | Path, split: str = "train", *, size: int = 64, seed: int = 0) -> ImageSet:
    """Extended Yale B cropped: split is ``train``, ``test`` (seen identities) or ``unseen``."""
    if split not in ("train", "test", "unseen", "all"):
        raise ValueError(f"unknown split {split!r}; valid: train, test, unseen, all")
    root = yale_root(root)
    files = sorted(p for p in root.glob("yaleB*/*.pgm") if YALE_NAME.match(p.name))  # skips _Ambient and .bad
    if not files:
        raise DataError(f"no yaleBNN/yaleBNN_P00A+aaaE+ee.pgm files under {root}")
    parsed = [YALE_NAME.match(p.name).groups() for p in files]
    identities = sorted({ident for ident, _, _ in parsed})
    lightings = sorted({f"A{a}E{e}" for _, a, e in parsed}, key=lambda n: (int(n[1:5]), int(n[6:])))
    unseen = set(UNSEEN_YALE)
    g = np.random.default_rng(seed)
    keep = []
    for ident in identities:
        idx = [i for i, (name, _, _) in enumerate(parsed) if name == ident]
        if split == "all":
            keep += idx
        elif ident in unseen:
            keep += idx if split == "unseen" else []
        elif split != "unseen":
            order = g.permutation(len(idx))
            n_test = round(YALE_TEST_FRACTION * len(idx))
            chosen = order[:n_test] if split == "test" else order[n_test:]
            keep += [idx[j] for j in sorted(chosen)]
    classes = [i for i in identities if (i in unseen) == (split == "unseen")] if split != "all" else identities
    class_index = {name: k for k, name in enumerate(classes)}
    light_index = {name: k for k, name in enumerate(lightings)}
    images = _read_all([files[i] for i in keep], size, 1, root)
    labels = [class_index[parsed[i][0]] for i in keep]
    light = [light_index[f"A{parsed[i][1]}E{parsed[i][2]}"] for i in keep]
    return _image_set(images, labels, classes, f"yaleb:{split}", {"lighting": light}, {"lighting": lightings})


def load_orl(root: str | Path, *, size: int = 64) -> ImageSet:
    """AT&T / ORL faces: ``root/sN/M.pgm`` (or ``root/orl_faces/...``); identity is the label."""
    root = _require_dir(Path(root), "ORL faces")
    root = root / "orl_faces" if (root / "orl_faces").is_dir() else root
    folders = sorted((p for p in root.iterdir() if p.is_dir() and re.fullmatch(r"s\d+", p.name)),
                     key=lambda p: int(p.name[1:]))
    if not folders:
        raise DataError(f"no sN/ identity folders under {root}")
    files, labels = [], []
    for k, folder in enumerate(folders):
        for path in sorted(folder.glob("*.pgm"), key=lambda p: p.stem):
            files.append(path)
            labels.append(k)
    return _image_set(_read_all(files, size, 1, root), labels, [p.name for p in folders], "orl")


def load_celeba(root: str | Path, *, size: int = 64, channels: int = 3, min_images: int = 2,
                max_identities: int | None = None) -> ImageSet:
    """CelebA, torchvision layout: ``root/celeba/{img_align_celeba/, identity_CelebA.txt}`` (or ``root`` = that folder)."""
    root = _require_dir(Path(root), "CelebA")
    root = root / "celeba" if (root / "celeba").is_dir() else root
    ident_file, image_dir = root / "identity_CelebA.txt", root / "img_align_celeba"
    for needed in (ident_file, image_dir):
        if not needed.exists():
            raise DataError(f"CelebA: {needed} not found (expected torchvision's layout)")
    by_identity: dict[str, list[str]] = {}
    for number, line in enumerate(ident_file.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            raise DataError(f"{ident_file}:{number}: expected '<file> <identity>', got {line!r}")
        by_identity.setdefault(parts[1], []).append(parts[0])
    chosen = sorted((k for k, v in by_identity.items() if len(v) >= min_images), key=lambda k: int(k) if k.isdigit() else k)
    if max_identities:
        chosen = chosen[:max_identities]
    files, labels = [], []
    for k, ident in enumerate(chosen):
        for name in sorted(by_identity[ident]):
            files.append(image_dir / name)
            labels.append(k)
    return _image_set(_read_all(files, size, channels, root), labels, chosen, "celeba")


def load_utkface(root: str | Path, *, factor: str = "gender", size: int = 64, channels: int = 3) -> ImageSet:
    """UTKFace: labels parsed from ``[age]_[gender]_[race]_[datetime].jpg``; ``factor`` picks the label."""
    if factor not in UTK_FACTORS:
        raise ValueError(f"unknown UTKFace factor {factor!r}; valid: {', '.join(UTK_FACTORS)}")
    root = _require_dir(Path(root), "UTKFace")
    files, values, skipped = [], {k: [] for k in UTK_FACTORS}, []
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in EXTENSIONS):
        m = UTK_NAME.match(path.name)
        if not m:
            skipped.append(path.name)
            continue
        files.append(path)
        values["age"].append(min(int(m.group(1)) // 10, 7))
        values["gender"].append(int(m.group(2)))
        values["race"].append(int(m.group(3)))
    if skipped:
        warnings.warn(f"UTKFace: skipped {len(skipped)} file(s) whose names do not parse as "
                      f"age_gender_race_*: {skipped[:5]}", stacklevel=2)
    labels = values.pop(factor)
    return _image_set(_read_all(files, size, channels, root), labels, UTK_FACTORS[factor], f"utkface:{factor}",
                      values, {k: UTK_FACTORS[k] for k in values})


def load_multipie(root: str | Path, *, factor: str = "identity", size: int = 64, channels: int = 1) -> ImageSet:
    """MultiPIE-style crops: ``root/<identity>/<pose>/<expression>/<image>``."""
    if factor not in MULTIPIE_FACTORS:
        raise ValueError(f"unknown MultiPIE factor {factor!r}; valid: {', '.join(MULTIPIE_FACTORS)}")
    root = _require_dir(Path(root), "MultiPIE")
    files, parts = [], []
    for path in sorted(p for p in root.glob("*/*/*/*") if p.suffix.lower() in EXTENSIONS):
        files.append(path)
        parts.append(path.relative_to(root).parts[:3])
    if not files:
        raise DataError(f"no <identity>/<pose>/<expression>/<image> files under {root}")
    names = {f: sorted({p[i] for p in parts}) for i, f in enumerate(MULTIPIE_FACTORS)}
    codes = {f: [names[f].index(p[i]) for p in parts] for i, f in enumerate(MULTIPIE_FACTORS)}
    labels = codes.pop(factor)
    return _image_set(_read_all(files, size, channels, root), labels, names[factor], f"multipie:{factor}",
                      codes, {f: names[f] for f in codes})
