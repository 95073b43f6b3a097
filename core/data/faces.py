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

from core.data.base import DataError, ImageSet, data_roots
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


# Yale B's 64 light positions binned by azimuth (core.data.poses explains the bins)
LIGHT_DIRECTIONS = ["lit from left", "frontal light", "lit from right"]
LIGHT_FACTOR = "light_direction"
FRONTAL_EDGE = 20  # |azimuth| <= this (degrees) counts as frontal


def light_direction_bins(lighting_names: list[str], *, edge: int = FRONTAL_EDGE) -> torch.Tensor:
    """Yale B light names "A+035E+15" (azimuth, elevation) -> bin index per name (0 left, 1 frontal, 2 right)."""
    bins = []
    for name in lighting_names:
        if len(name) < 5 or name[0] != "A" or not name[1:5].lstrip("+-").isdigit():
            raise DataError(f"cannot read an azimuth from the Yale B light name {name!r} (expected 'A+035E+15')")
        azimuth = int(name[1:5])
        bins.append(0 if azimuth > edge else 2 if azimuth < -edge else 1)
    return torch.tensor(bins, dtype=torch.long)


def with_light_directions(data: ImageSet) -> ImageSet:
    """Yale B with a ``light_direction`` factor (3 bins) beside its 64-valued ``lighting`` factor."""
    if "lighting" not in data.factors:
        raise DataError(f"{data.name} has no lighting factor to bin into light directions")
    direction = light_direction_bins(data.factor_names["lighting"])[data.factors["lighting"]]
    return ImageSet(data.images, data.labels, data.class_names, data.name,
                    data.factors | {LIGHT_FACTOR: direction}, data.factor_names | {LIGHT_FACTOR: list(LIGHT_DIRECTIONS)})


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


CELEBA_UNSEEN_COUNT = 30
CELEBA_UNSEEN_MIN_PHOTOS = 10  # unseen identities need photos to upload (up to 5) and others to compare with
CELEBA_UNSEEN_SEED = 17
CELEBA_TEST_FRACTION = 0.15
# the unseen identities of celeba_subset, never trained on: ``celeba_unseen_rule`` applied to its identity file
# (identities with >= 10 photos, ordered by number, permuted with numpy seed 17, the first 30); a test re-derives it
UNSEEN_CELEBA = ("7216", "7224", "7227", "7235", "7269", "7275", "7279", "7295", "7301", "7308", "7314", "7316",
                 "7329", "7331", "7335", "7350", "7356", "7365", "7381", "7394", "7410", "7424", "7427", "7434",
                 "7474", "7476", "7479", "7496", "7497", "7499")


def celeba_unseen_rule(photo_counts: dict[str, int]) -> tuple[str, ...]:
    """The seeded rule behind ``UNSEEN_CELEBA``: identities with enough photos, permuted, the first 30, sorted."""
    eligible = sorted((k for k, n in photo_counts.items() if n >= CELEBA_UNSEEN_MIN_PHOTOS), key=_identity_order)
    order = np.random.default_rng(CELEBA_UNSEEN_SEED).permutation(len(eligible))
    return tuple(sorted((eligible[i] for i in order[:CELEBA_UNSEEN_COUNT]), key=_identity_order))


def _identity_order(name: str):
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


def celeba_layout(root: str | Path) -> tuple[Path, Path]:
    """(identity file, image folder) of CelebA: torchvision's layout (``celeba/img_align_celeba``) or the
    in-the-wild subset's (``identity_CelebA.txt`` beside ``images/``)."""
    root = _require_dir(Path(root), "CelebA")
    root = root / "celeba" if (root / "celeba").is_dir() else root
    ident_file = root / "identity_CelebA.txt"
    for name in ("img_align_celeba", "images"):
        if (root / name).is_dir() and ident_file.is_file():
            return ident_file, root / name
    raise DataError(f"CelebA: expected {ident_file} beside img_align_celeba/ (torchvision's layout) or images/ "
                    "(in-the-wild photos)")


def celeba_layouts(root: str | Path | list) -> list[tuple[Path, Path]]:
    """Every CelebA folder of ``root``, as ``celeba_layout`` pairs: ``root`` is one CelebA folder, a folder that
    holds several (e.g. ``celeba_subset/`` and ``celeba_aligned/``, taken in name order), a list of folders, or
    folders joined by ``os.pathsep`` (``--data-dir A B`` on the command line)."""
    layouts = []
    for folder in data_roots(root):
        try:
            layouts.append(celeba_layout(folder))
        except DataError:
            inner = sorted(p for p in _require_dir(folder, "CelebA").iterdir() if p.is_dir())
            found = []
            for sub in inner:
                try:
                    found.append(celeba_layout(sub))
                except DataError:
                    continue
            if not found:
                raise
            layouts += found
    if not layouts:
        raise DataError("CelebA: no data folder given")
    return layouts


def read_identities(ident_file: Path) -> dict[str, list[str]]:
    """CelebA's identity file: ``<file> <identity>`` per line -> identity -> sorted file names."""
    by_identity: dict[str, list[str]] = {}
    for number, line in enumerate(ident_file.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            raise DataError(f"{ident_file}:{number}: expected '<file> <identity>', got {line!r}")
        by_identity.setdefault(parts[1], []).append(parts[0])
    return {k: sorted(v) for k, v in by_identity.items()}


def celeba_photos(layouts: list[tuple[Path, Path]]) -> dict[str, list[Path]]:
    """identity -> its photos over all ``layouts``, one class index for all: CelebA's identity numbers are the
    same in every folder. A file name already taken from an earlier folder is the same CelebA photo (another
    crop of it) and is skipped, so one photo never lands in both train and test."""
    photos: dict[str, list[Path]] = {}
    seen: set[str] = set()
    for ident_file, image_dir in layouts:
        taken = set()
        for ident, names in read_identities(ident_file).items():
            fresh = [n for n in names if n not in seen]
            taken.update(fresh)
            photos.setdefault(ident, []).extend(image_dir / n for n in fresh)
        seen |= taken
    return {k: v for k, v in photos.items() if v}


def load_celeba(root: str | Path | list, split: str = "train", *, size: int = 64, channels: int = 3,
                min_images: int = 2, max_identities: int | None = None, seed: int = 0) -> ImageSet:
    """CelebA faces aligned by landmarks (``core.align``), identity as the label; ``root`` may name several
    CelebA folders (``celeba_layouts``), which become one set with one class index.

    Splits: ``unseen`` holds the ``UNSEEN_CELEBA`` identities (never trained on); the other identities'
    photos are split per identity into ``test`` (15%, at least one, for identities with 3 or more photos) and
    ``train``; ``all`` is everything. Photos where dlib finds no face are left out (counted in the warning).
    Every photo, in-the-wild or already aligned by CelebA, goes through the same dlib 5-point crop. The aligned
    crops are cached on disk (``core.data.cache``), so only the first load pays for face detection.
    """
    from core.data.cache import aligned_crops

    if split not in ("train", "test", "unseen", "all"):
        raise ValueError(f"unknown split {split!r}; valid: train, test, unseen, all")
    layouts = celeba_layouts(root)
    by_identity = celeba_photos(layouts)
    unseen = set(UNSEEN_CELEBA)
    chosen = sorted((k for k, v in by_identity.items() if len(v) >= min_images), key=_identity_order)
    if split == "unseen":
        chosen = [k for k in chosen if k in unseen]
    elif split != "all":
        chosen = [k for k in chosen if k not in unseen]
    if max_identities:
        chosen = chosen[:max_identities]
    if not chosen:
        files = ", ".join(str(f) for f, _ in layouts)
        raise DataError(f"CelebA: no identity with at least {min_images} photos for split {split!r} in {files}")
    files = [path for ident in chosen for path in by_identity[ident]]
    crops, found = aligned_crops(files, size)
    g = np.random.default_rng(seed)
    keep, labels, file_index = [], [], {f: i for i, f in enumerate(files)}
    # classes are indexed once, from the identity files after the unseen rule: label k names the same person
    # in train, test and all; a split drops photos (too few aligned ones for pairs), never shifts a class
    for label, ident in enumerate(chosen):
        idx = [file_index[path] for path in by_identity[ident] if found[file_index[path]]]
        if split in ("train", "test"):
            order = g.permutation(len(idx))
            n_test = max(1, round(CELEBA_TEST_FRACTION * len(idx))) if len(idx) >= 3 else 0
            picked = order[:n_test] if split == "test" else order[n_test:]
            idx = [idx[j] for j in sorted(picked)]
        if len(idx) < (1 if split == "test" else 2):
            continue  # too few aligned photos left for pairs: the class stays, without photos in this split
        keep += idx
        labels += [label] * len(idx)
    missing = int((~found).sum())
    if missing:
        warnings.warn(f"CelebA: no face found in {missing} of {len(files)} photos; they are left out", stacklevel=2)
    images = crops[keep] if channels == 3 else crops[keep].mean(-1, keepdims=True).round().astype(np.uint8)
    return _image_set(images, labels, list(chosen), f"celeba:{split}")


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
