"""Models: one module per method, sharing the trunks in ``nets``."""

from core.models.ccvae import CCVAE, DECODERS, Encoding, ModelConfig, reparameterize

METHODS = {"ccvae": CCVAE}


def build_model(config: ModelConfig):
    """A fresh model for ``config.method``."""
    if config.method not in METHODS:
        raise ValueError(f"unknown method {config.method!r}; valid: {', '.join(sorted(METHODS))}")
    return METHODS[config.method](config)


__all__ = ["CCVAE", "DECODERS", "Encoding", "METHODS", "ModelConfig", "build_model", "reparameterize"]
