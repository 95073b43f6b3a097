"""CC-VAE Explorer engine: models, losses, data, checkpoints, evaluation and exploration.

Public API (stable; the app, the CLIs and the tests use only this):

    model = core.load_model("checkpoints/mnist")      # any checkpoint folder
    enc = model.encode(x)                              # x: (B, C, H, W) float in [0, 1]
    enc.z_mu, enc.z_logvar, enc.s                      # Encoding named tuple, each (B, dim)
    y = model.decode(enc.z_mu, enc.s)                  # (B, C, H, W) in [0, 1]
    model.config                                       # ModelConfig: image_shape, z_dim, s_dim, dataset, ...

Importing ``core`` itself is light (no torch): the names below load their module on first use (PEP 562), so
``core.settings`` and ``core.shipped`` serve a cold server's first view before torch is imported.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "core.checkpoint": ("CheckpointError", "find_checkpoints", "load_latents", "load_metrics", "load_model", "save_checkpoint"),
    "core.data": ("DataError", "ImageSet", "load_dataset"),
    "core.explore": ("encode_all", "framed_grid", "latent_statistics", "swap_grid"),
    "core.models": ("CCVAE", "Encoding", "ModelConfig", "build_model", "reparameterize"),
    "core.pairs": ("PairSampler",),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    try:
        return importlib.import_module(f"core.{name}")
    except ModuleNotFoundError as err:
        if err.name != f"core.{name}":
            raise
        raise AttributeError(f"module 'core' has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
