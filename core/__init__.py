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

from core.lazy import lazy_exports

_EXPORTS = {
    "core.checkpoint": ("CheckpointError", "find_checkpoints", "load_latents", "load_metrics", "load_model", "save_checkpoint"),
    "core.data": ("DataError", "ImageSet", "load_dataset"),
    "core.explore": ("encode_all", "framed_grid", "latent_statistics", "swap_grid"),
    "core.models": ("CCVAE", "Encoding", "ModelConfig", "build_model", "reparameterize"),
    "core.pairs": ("PairSampler",),
}
__all__, __getattr__, __dir__ = lazy_exports("core", _EXPORTS, globals())
