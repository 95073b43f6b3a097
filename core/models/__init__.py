"""Models: one module per method. The CC-VAE and its two baselines share the trunks in ``nets``;
DR-GAN (a pose-conditioned GAN with no z/s split) has its own networks."""

from core.models.baselines import Mathieu, Szabo
from core.models.ccvae import CCVAE, DECODERS, Encoding, ModelConfig, reparameterize
from core.models.drgan import DRGAN
from core.models.nets import PairDiscriminator, ZPairDiscriminator

METHODS = {"ccvae": CCVAE, "mathieu": Mathieu, "szabo": Szabo, "drgan": DRGAN}
SPLIT_METHODS = ("ccvae", "mathieu", "szabo")  # models with encode -> (z_mu, z_logvar, s) and decode(z, s)


def build_model(config: ModelConfig):
    """A fresh model for ``config.method``."""
    if config.method not in METHODS:
        raise ValueError(f"unknown method {config.method!r}; valid: {', '.join(sorted(METHODS))}")
    return METHODS[config.method](config)


__all__ = ["CCVAE", "DECODERS", "DRGAN", "Encoding", "METHODS", "Mathieu", "ModelConfig", "PairDiscriminator", "SPLIT_METHODS",
           "Szabo", "ZPairDiscriminator", "build_model", "reparameterize"]
