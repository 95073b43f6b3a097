"""Facial-expression datasets: expression is the label, the person a factor; split by person.

The report's expression model (Table 4.1 "MultiPIE - Expression", Fig. 4.13) trains on Multi-PIE, which has
no public copy; these are its stand-ins (``shared/data/PROVENANCE.md``):

- ``load_jaffe``: JAFFE, 10 people x 7 expressions (213 photos), names ``PP.EEn.N.jpg`` (PP person, EE
  expression code, n repeat, N serial: ``KA.AN1.39.jpg``).
- ``load_yalefaces``: the Yale Face Database, 15 people x 11 conditions, names ``subjectNN.<condition>.jpeg``;
  the six expressions (happy, normal, sad, sleepy, surprised, wink) are kept, the lighting and glasses
  conditions left out. ``subject04.sad`` is a copy of ``subject04.normal`` (the database's Readme) and is dropped.
- ``load_expressions``: both, on the four expressions they share, mapped by name (``SHARED_EXPRESSIONS``):
  happy, neutral (JAFFE NE, Yale normal), sad, surprise (JAFFE SU, Yale surprised).

Every photo goes through the dlib 5-point crop of ``core.align`` (as CelebA's, cached by
``core.data.cache.aligned_crops``) and is made grey; photos where dlib finds no face are left out (a warning
counts them). The person is kept as the ``identity`` factor. Splits are by person: ``test`` holds the fixed
people of ``HELDOUT_JAFFE`` / ``HELDOUT_YALEFACES``, never trained on, so s must carry a stranger's expression;
``train`` holds the others; ``all`` is everyone. The class list (the expressions) and the ``identity`` value
names (every person of the dataset) are the same in every split, so label k and person k mean the same thing in
train and test (the evaluator's guard, ``core.evaluation.guards.check_same_classes``).

``load_aligned_utkface`` reads UTKFace photos through the same crop, grey: the target of the cross-dataset
expression transfer (report Fig. 4.13(b)); UTKFace has no expression labels.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import torch

from core.data.base import DataError, ImageSet, data_roots
from core.data.faces import UTK_FACTORS, UTK_NAME

JAFFE_CODES = {"AN": "angry", "DI": "disgust", "FE": "fear", "HA": "happy", "NE": "neutral", "SA": "sad",
               "SU": "surprise"}
JAFFE_NAME = re.compile(r"^([A-Z]{2})\.([A-Z]{2})(\d)\.(\d+)\.(?:jpe?g|tiff?|png)$", re.I)
YALE_EXPRESSIONS = ("happy", "normal", "sad", "sleepy", "surprised", "wink")
YALE_CONDITIONS = ("centerlight", "glasses", "happy", "leftlight", "noglasses", "normal", "rightlight", "sad",
                   "sleepy", "surprised", "wink")
YALE_NAME = re.compile(r"^(subject\d\d)\.([a-z]+)(?:\.(?:jpe?g|gif|png|pgm))?$", re.I)
YALE_DROPPED = ("subject04.sad",)  # a copy of subject04.normal (the database's Readme.txt)
# the expressions both share, in label order: name -> (JAFFE code, Yale condition)
SHARED_EXPRESSIONS = {"happy": ("HA", "happy"), "neutral": ("NE", "normal"), "sad": ("SA", "sad"),
                      "surprise": ("SU", "surprised")}
# the people never trained on (fixed for all runs): 3 of JAFFE's 10 (every third in name order from the third),
# 3 of Yale's 15 (subjects 03, 08, 13, as Yale B's unseen set is spread over its numbering)
HELDOUT_JAFFE = ("KM", "NA", "UY")
HELDOUT_YALEFACES = ("subject03", "subject08", "subject13")
SPLITS = ("train", "test", "all")
IDENTITY = "identity"


def _folder(root: str | Path, name: str, what: str) -> Path:
    """``root`` itself or its ``name`` sub-folder."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{what} folder {root} does not exist")
    return root / name if (root / name).is_dir() else root


def _find(root: str | Path | list, name: str, what: str) -> Path:
    """The folder of ``name`` among the given folders: one of them, or a sub-folder ``name`` of one."""
    roots = data_roots(root)
    for r in roots:
        if (r / name).is_dir():
            return r / name
    for r in roots:
        if r.name == name and r.is_dir():
            return r
    if len(roots) == 1:
        return _folder(roots[0], name, what)
    raise DataError(f"no {what} folder ({name}/) among {', '.join(map(str, roots))}")


def jaffe_files(root: str | Path | list) -> list[tuple[Path, str, str]]:
    """(path, person, expression) of every JAFFE photo under ``root`` (or ``root/jaffe``), in name order."""
    folder = _find(root, "jaffe", "JAFFE")
    found = []
    for path in sorted(folder.iterdir()):
        m = JAFFE_NAME.match(path.name)
        if m and m.group(2).upper() in JAFFE_CODES:
            found.append((path, m.group(1).upper(), JAFFE_CODES[m.group(2).upper()]))
    if not found:
        raise DataError(f"no JAFFE photos named PP.EEn.N.jpg (e.g. KA.AN1.39.jpg) under {folder}")
    return found


def yalefaces_files(root: str | Path | list) -> list[tuple[Path, str, str]]:
    """(path, person, condition) of every Yale Face Database photo under ``root`` (or ``root/yalefaces``), in name
    order, without ``YALE_DROPPED``."""
    folder = _find(root, "yalefaces", "Yale faces")
    found = []
    for path in sorted(folder.iterdir()):
        m = YALE_NAME.match(path.name)
        if not m or m.group(2).lower() not in YALE_CONDITIONS:
            continue
        person, condition = m.group(1).lower(), m.group(2).lower()
        if f"{person}.{condition}" not in YALE_DROPPED:
            found.append((path, person, condition))
    if not found:
        raise DataError(f"no Yale faces named subjectNN.<condition>.jpeg (e.g. subject01.happy.jpeg) under {folder}")
    return found


def aligned_grey(files: list[Path], size: int) -> tuple[np.ndarray, np.ndarray]:
    """(crops (N, size, size, 1) uint8, found (N,) bool): ``core.align``'s crop of each photo, made grey."""
    from core.data.cache import aligned_crops

    crops, found = aligned_crops(files, size)
    return crops.mean(-1, keepdims=True).round().astype(np.uint8), found


def person_split(people: list[str], heldout: tuple[str, ...], split: str) -> list[bool]:
    """Per photo, whether its person belongs to ``split`` (test: the held-out people; train: the others)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    held = set(heldout)
    return [split == "all" or (p in held) == (split == "test") for p in people]


def _expression_set(items: list[tuple[Path, str, str]], expressions: list[str], heldout: tuple[str, ...], split: str,
                    size: int, name: str, crops: tuple[np.ndarray, np.ndarray] | None = None) -> ImageSet:
    """items: (path, person, expression name); label = index in ``expressions``; identity = index among all people."""
    people = sorted({p for _, p, _ in items})
    chosen = person_split([p for _, p, _ in items], heldout, split)
    images, found = crops if crops is not None else aligned_grey([f for f, _, _ in items], size)
    keep = [i for i, ok in enumerate(chosen) if ok and found[i]]
    missing = sum(1 for i, ok in enumerate(chosen) if ok and not found[i])
    if missing:
        warnings.warn(f"{name}: no face found in {missing} photo(s); they are left out", stacklevel=3)
    if not keep:
        raise DataError(f"{name}: no aligned photo in split {split!r}")
    array = torch.from_numpy(images[keep]).permute(0, 3, 1, 2).contiguous()
    labels = torch.tensor([expressions.index(items[i][2]) for i in keep], dtype=torch.long)
    identity = torch.tensor([people.index(items[i][1]) for i in keep], dtype=torch.long)
    return ImageSet(array, labels, list(expressions), f"{name}:{split}", {IDENTITY: identity}, {IDENTITY: people})


def load_jaffe(root: str | Path | list, split: str = "train", *, size: int = 64) -> ImageSet:
    """JAFFE, aligned and grey: the 7 expressions as labels (``JAFFE_CODES`` order), the person as ``identity``."""
    items = jaffe_files(root)
    return _expression_set(items, list(JAFFE_CODES.values()), HELDOUT_JAFFE, split, size, "jaffe")


def load_yalefaces(root: str | Path | list, split: str = "train", *, size: int = 64) -> ImageSet:
    """The Yale Face Database's six expressions, aligned and grey; the person as ``identity``."""
    items = [item for item in yalefaces_files(root) if item[2] in YALE_EXPRESSIONS]
    return _expression_set(items, list(YALE_EXPRESSIONS), HELDOUT_YALEFACES, split, size, "yalefaces")


def shared_items(root: str | Path | list) -> list[tuple[Path, str, str]]:
    """(path, person, shared expression name) of the photos of JAFFE and Yale faces on ``SHARED_EXPRESSIONS``."""
    by_jaffe = {code: name for name, (code, _) in SHARED_EXPRESSIONS.items()}
    by_yale = {cond: name for name, (_, cond) in SHARED_EXPRESSIONS.items()}
    jaffe_codes = {v: k for k, v in JAFFE_CODES.items()}
    items = [(f, p, by_jaffe[jaffe_codes[e]]) for f, p, e in jaffe_files(root) if jaffe_codes[e] in by_jaffe]
    return items + [(f, p, by_yale[c]) for f, p, c in yalefaces_files(root) if c in by_yale]


def load_expressions(root: str | Path | list, split: str = "train", *, size: int = 64) -> ImageSet:
    """JAFFE and Yale faces on the four expressions they share (``SHARED_EXPRESSIONS``), one set: ``root`` holds
    both ``jaffe/`` and ``yalefaces/`` (or names the two folders). Held out: both sets' held-out people."""
    return _expression_set(shared_items(root), list(SHARED_EXPRESSIONS), HELDOUT_JAFFE + HELDOUT_YALEFACES, split,
                           size, "expressions")


def utkface_files(root: str | Path, *, limit: int | None = None, seed: int = 0,
                  ages: tuple[int, int] = (0, 200)) -> list[Path]:
    """UTKFace photos (names ``age_gender_race_*``) under ``root`` (or ``root/utkface``) aged ``ages[0]`` to below
    ``ages[1]``: a seeded sample of ``limit`` of them (all when None), in name order."""
    folder = _find(root, "utkface", "UTKFace")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and UTK_NAME.match(p.name)
                   and ages[0] <= int(UTK_NAME.match(p.name).group(1)) < ages[1])
    if not files:
        raise DataError(f"no UTKFace photos named age_gender_race_*.jpg aged {ages[0]}-{ages[1] - 1} under {folder}")
    if limit is not None and limit < len(files):
        pick = np.random.default_rng(seed).permutation(len(files))[:limit]
        files = [files[i] for i in sorted(pick)]
    return files


def load_aligned_utkface(root: str | Path, *, size: int = 64, limit: int | None = 200, seed: int = 0,
                         ages: tuple[int, int] = (0, 200)) -> ImageSet:
    """UTKFace photos (``utkface_files``) through the dlib crop, grey; the label is the gender (UTKFace has no
    expressions), age and race are factors. Photos without a detected face are left out."""
    files = utkface_files(root, limit=limit, seed=seed, ages=ages)
    images, found = aligned_grey(files, size)
    keep = np.flatnonzero(found)
    if keep.size == 0:
        raise DataError(f"UTKFace: no face found in any of {len(files)} photos")
    parsed = [UTK_NAME.match(files[i].name).groups() for i in keep]
    array = torch.from_numpy(images[keep]).permute(0, 3, 1, 2).contiguous()
    ages = [min(int(a) // 10, 7) for a, _, _ in parsed]
    return ImageSet(array, torch.tensor([int(g) for _, g, _ in parsed]), UTK_FACTORS["gender"], "utkface:aligned",
                    {"age": torch.tensor(ages), "race": torch.tensor([int(r) for _, _, r in parsed])},
                    {"age": UTK_FACTORS["age"], "race": UTK_FACTORS["race"]})
