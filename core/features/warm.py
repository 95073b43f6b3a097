"""What a worker process loads before its first job (``core.workers.prestart``, called by ``serve.py``)."""

from __future__ import annotations

import numpy as np

from core import align
from core.features import codes, grids, live, maps, photos  # noqa: F401  (imported to be ready)


def warm_worker() -> None:
    """The features' modules are imported with this module; where dlib is installed, its face detector is loaded."""
    if align.available():
        align.find_faces(np.zeros((64, 64), np.uint8))
