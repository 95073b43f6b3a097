"""Models: one module per method, and what they share in ``base`` (config, codes, capability flags).

The CC-VAE and its two baselines share the trunks in ``nets``; DR-GAN (a pose-conditioned GAN with no
z/s split) has its own networks. Callers ask a model's flags (``model.has_split``, ``model.takes_pose``,
``model.autoregressive``; ``capabilities(config)`` without weights), never its method name.
"""

from core.models.base import (
    DECODERS,
    METHOD_NAMES,
    Capabilities,
    Encoding,
    Model,
    ModelConfig,
    Progress,
    capabilities_of,
    method_name,
    reparameterize,
)
from core.models.baselines import Mathieu, Szabo
from core.models.ccvae import CCVAE
from core.models.drgan import DRGAN
from core.models.nets import PairDiscriminator, ZPairDiscriminator

METHODS = {"ccvae": CCVAE, "mathieu": Mathieu, "szabo": Szabo, "drgan": DRGAN}
SPLIT_METHODS = tuple(m for m, cls in METHODS.items() if cls.has_split)  # encode -> (z_mu, z_logvar, s), decode(z, s)


def model_class(method: str) -> type:
    """The model class of ``method``; an unknown one raises ValueError listing the valid ones."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(sorted(METHODS))}")
    return METHODS[method]


def capabilities(config: ModelConfig) -> Capabilities:
    """The capability flags of the model ``config`` describes, without building it."""
    return capabilities_of(model_class(config.method), config)


def build_model(config: ModelConfig):
    """A fresh model for ``config.method``."""
    return model_class(config.method)(config)


__all__ = ["CCVAE", "Capabilities", "DECODERS", "DRGAN", "Encoding", "METHODS", "METHOD_NAMES", "Mathieu", "Model",
           "ModelConfig", "PairDiscriminator", "Progress", "SPLIT_METHODS", "Szabo", "ZPairDiscriminator", "build_model",
           "capabilities", "method_name", "model_class", "reparameterize"]
