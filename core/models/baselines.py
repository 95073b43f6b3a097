"""The two baselines of the report, on the same encoder/decoder trunks as the CC-VAE.

Both split the code into z (unspecified) and s (specified) and share the CC-VAE's public API,
``encode -> Encoding(z_mu, z_logvar, s)`` and ``decode(z, s)``, so the evaluator, the app and the
exploration functions treat all three alike. What differs is how they are trained
(``core.training``; losses in ``core.losses``):

- Mathieu et al. (NIPS 2016), "Disentangling factors of variation in deep representations using
  adversarial training": a VAE on z, deterministic s; reconstruction plus same-class swap
  reconstruction, and an image-pair discriminator that judges whether a generation with a swapped s
  belongs with a real image of that class.
- Szabó et al. (2017), "Challenges in disentangling independent factors of variation": a
  deterministic autoencoder (no KL, no log-variance head; ``z_logvar`` is reported as a constant so
  a reparameterised "sample" is the code itself), swap reconstruction on same-class pairs and the
  same kind of pair discriminator. Its decoder follows the authors' reimplementation of it: the z and
  s input layers are linear (no activation) and the transposed convolutions use ReLU, not
  LeakyReLU. The parameters are the same as the CC-VAE's, so weights convert one to one.
"""

from __future__ import annotations

from torch import nn

from core.models.base import ModelConfig
from core.models.ccvae import CCVAE


class Mathieu(CCVAE):
    """Mathieu et al. 2016: the CC-VAE's networks (Gaussian z, deterministic s), trained adversarially."""


class Szabo(CCVAE):
    """Szabó et al. 2017: a deterministic autoencoder; ``encode(x).z_logvar`` is ``DETERMINISTIC_LOGVAR``."""

    stochastic = False

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        self.decoder.act = nn.Identity()
        for i, module in enumerate(self.decoder.head):
            if isinstance(module, nn.LeakyReLU):
                self.decoder.head[i] = nn.ReLU()
