"""What a cold server can show before torch is imported: a checkpoint's figures already on disk.

A fresh ``streamlit run app.py`` needs seconds to import torch and load a model; the figures that
``python -m train.figures`` wrote beside a shipped checkpoint (``swap_grid.png``) stand in meanwhile.
Light on purpose: only ``core.settings`` and the standard library.
"""

from __future__ import annotations

import sys
from pathlib import Path

from core import settings

SWAP_FIGURE = "swap_grid.png"  # written by python -m train.figures


def model_ready(folder: Path) -> bool:
    """True when this process's model cache already holds the model in ``folder`` (never imports torch)."""
    service = sys.modules.get("core.service")
    try:
        return service is not None and service.STORE.cached("model", folder)
    except OSError:
        return False


def cold_preview(name: str | None) -> Path | None:
    """The stored swap-grid figure of the model called ``name`` in the shipped folder (default: the default model),
    while that model is not loaded yet; None when it is loaded or has no such figure."""
    now = settings.current()
    folder = now.checkpoint_dir / (name or now.default_model)
    if not name or "/" in name or name.startswith("."):
        folder = now.checkpoint_dir / now.default_model
    figure = folder / SWAP_FIGURE
    if not figure.is_file() or model_ready(folder):
        return None
    return figure
