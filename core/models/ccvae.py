"""The cycle-consistent VAE (Jha et al., ECCV 2018).

One encoder with a shared trunk branches into the Gaussian posterior of the unspecified factors
``z`` (``z_mu``, ``z_logvar``) and the deterministic specified factors ``s``; one decoder maps
``(z, s)`` back to an image. The losses that make the split meaningful live in ``core.losses``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import NamedTuple

import torch
from torch import nn

from core.models.nets import build_nets


class Encoding(NamedTuple):
    """What ``encode`` returns: the posterior of z and the specified code s, each (B, dim)."""

    z_mu: torch.Tensor
    z_logvar: torch.Tensor
    s: torch.Tensor


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model; saved as ``config.json`` beside its weights."""

    image_shape: tuple[int, int, int] = (1, 28, 28)  # (C, H, W)
    z_dim: int = 16  # unspecified factors (style, lighting, pose)
    s_dim: int = 16  # specified factors (class, identity)
    method: str = "ccvae"  # ccvae | mathieu | szabo (core.models.METHODS)
    dataset: str = "mnist"  # what it was trained on, for people and the app
    class_names: list[str] = field(default_factory=list)  # label index -> name
    factor_names: dict[str, list[str]] = field(default_factory=dict)  # other labelled factors, e.g. Yale B lighting
    training_steps: int = 0  # iterations done so far

    def __post_init__(self) -> None:
        self.image_shape = tuple(int(v) for v in self.image_shape)

    def to_dict(self) -> dict:
        return asdict(self) | {"image_shape": list(self.image_shape)}


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """z = mu + sigma * eps, eps ~ N(0, I)."""
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


class CCVAE(nn.Module):
    """Cycle-consistent VAE; images are float tensors in [0, 1] of shape (B, C, H, W)."""

    stochastic = True  # z has a Gaussian posterior (False: a deterministic code, see core.models.baselines)

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.encoder, self.decoder = build_nets(config.image_shape, z_dim=config.z_dim, s_dim=config.s_dim,
                                                stochastic=self.stochastic)

    def encode(self, x: torch.Tensor) -> Encoding:
        if x.dim() != 4 or tuple(x.shape[1:]) != self.config.image_shape:
            raise ValueError(f"expected images of shape (B, {', '.join(map(str, self.config.image_shape))}), "
                             f"got {tuple(x.shape)}")
        return Encoding(*self.encoder(x))

    def decode(self, z: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """(z (B, z_dim), s (B, s_dim)) -> images (B, C, H, W) in [0, 1]."""
        return torch.sigmoid(self.decoder(z, s))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decode the posterior mean: the deterministic reconstruction of x."""
        enc = self.encode(x)
        return self.decode(enc.z_mu, enc.s)
