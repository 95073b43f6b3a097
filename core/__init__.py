"""CC-VAE Explorer engine: models, losses, data, checkpoints, evaluation and exploration.

Public API (stable; the app, the CLIs and the tests use only this):

    model = core.load_model("checkpoints/mnist")      # any checkpoint folder
    enc = model.encode(x)                              # x: (B, C, H, W) float in [0, 1]
    enc.z_mu, enc.z_logvar, enc.s                      # Encoding named tuple, each (B, dim)
    y = model.decode(enc.z_mu, enc.s)                  # (B, C, H, W) in [0, 1]
    model.config                                       # ModelConfig: image_shape, z_dim, s_dim, dataset, ...
"""

from core.checkpoint import CheckpointError, find_checkpoints, load_latents, load_metrics, load_model, save_checkpoint
from core.data import DataError, ImageSet, load_dataset
from core.explore import encode_all, framed_grid, latent_statistics, swap_grid
from core.models import CCVAE, Encoding, ModelConfig, build_model, reparameterize
from core.pairs import PairSampler

__all__ = [
    "CCVAE", "CheckpointError", "DataError", "Encoding", "find_checkpoints", "ImageSet", "ModelConfig", "PairSampler", "build_model",
    "encode_all", "framed_grid", "latent_statistics", "load_dataset", "load_latents", "load_metrics", "load_model",
    "reparameterize", "save_checkpoint", "swap_grid",
]
