"""Aligned face crops of a list of photos, computed once and cached on disk.

Face detection is the slow part of loading an in-the-wild face dataset (about 15 ms a photo on one
core), so the crops are kept in ``$CCVAE_CACHE_DIR`` (default ``~/.cache/ccvae``) as a plain ``.npz``
(read with ``allow_pickle=False``). The file name is a hash of the photos' names, sizes and
modification times, the crop size and the alignment template, so any change makes a new cache.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from core import settings
from core.data.base import DataError
from core.settings import CACHE_ENV  # noqa: F401  (the variable's name, for messages and tests)

CACHE_VERSION = 1


def cache_dir() -> Path:
    return settings.current().cache_dir


def _key(files: list[Path], size: int) -> str:
    from core import align

    h = hashlib.sha1(json.dumps({"v": CACHE_VERSION, "size": size, "eyes": align.EYES, "up": align.UPSAMPLE}).encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def aligned_crops(files: list[Path], size: int, *,
                  progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(crops (N, size, size, 3) uint8, found (N,) bool): each photo's largest face aligned by ``core.align``;
    where no face is found the crop is black and ``found`` is False."""
    from core import align

    if not align.available():
        raise DataError("aligning face photos needs dlib-bin and face_recognition_models (pip install -r requirements.txt)")
    missing = [f for f in files if not f.is_file()]
    if missing:
        raise DataError(f"{len(missing)} photo(s) named in the identity file are missing, e.g. {missing[0]}")
    file = cache_dir() / f"aligned_{size}_{_key(files, size)}.npz"
    if file.is_file():
        with np.load(file, allow_pickle=False) as cached:
            return cached["crops"], cached["found"]
    crops = np.zeros((len(files), size, size, 3), dtype=np.uint8)
    found = np.zeros(len(files), dtype=bool)
    for i, path in enumerate(files):
        try:
            with Image.open(path) as im:
                photo = np.asarray(im.convert("RGB"))
        except (UnidentifiedImageError, OSError) as err:
            raise DataError(f"{path}: unreadable image ({err})") from err
        faces = align.find_faces(photo)
        if faces:
            crops[i] = align.align_face(photo, size, faces=faces)
            found[i] = True
        if progress:
            progress(i + 1, len(files))
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(f".tmp{os.getpid()}.npz")
    np.savez(tmp, crops=crops, found=found)
    tmp.replace(file)
    return crops, found
