"""Models: one module per method, sharing the trunks in ``nets``."""

from core.models.baselines import Mathieu, Szabo
from core.models.ccvae import CCVAE, Encoding, ModelConfig, reparameterize
from core.models.nets import PairDiscriminator

METHODS = {"ccvae": CCVAE, "mathieu": Mathieu, "szabo": Szabo}


def build_model(config: ModelConfig):
    """A fresh model for ``config.method``."""
    if config.method not in METHODS:
        raise ValueError(f"unknown method {config.method!r}; valid: {', '.join(sorted(METHODS))}")
    return METHODS[config.method](config)


__all__ = ["CCVAE", "Encoding", "METHODS", "Mathieu", "ModelConfig", "PairDiscriminator", "Szabo", "build_model",
           "reparameterize"]
