"""The two cycles of the CC-VAE as pure functions of a model and tensors.

Forward cycle (report eq. 3.1): for same-label pairs (x1, x2), decode x1' = Dec(z1, s2) and
x2' = Dec(z2, s1) with z sampled by reparameterisation; loss = reconstruction of both + KL.
Reverse cycle (eq. 3.2): decode one prior sample z with two different s, re-encode both images,
penalise the L1 distance between the two re-encoded z means. It trains the encoder only.

Normalisation follows the authors' code, so the default weights (2, 3, 10) mean the same thing:
reconstruction is the per-pixel mean squared error summed over the two images of a pair; KL is
summed over z dimensions and the two images, then divided by the number of pixels per image.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from core.models import reparameterize

RECONSTRUCTION_WEIGHT = 2.0
KL_WEIGHT = 3.0
REVERSE_WEIGHT = 10.0


class ReverseTerms(NamedTuple):
    total: torch.Tensor
    l1: torch.Tensor  # unweighted


class ForwardTerms(NamedTuple):
    total: torch.Tensor
    reconstruction: torch.Tensor  # unweighted
    kl: torch.Tensor  # unweighted


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per sample, summed over dimensions: (B, D) -> (B,)."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)


def forward_cycle_loss(model, x1: torch.Tensor, x2: torch.Tensor, *,
                       reconstruction_weight: float = RECONSTRUCTION_WEIGHT,
                       kl_weight: float = KL_WEIGHT,
                       generator: torch.Generator | None = None) -> ForwardTerms:
    """x1, x2: (B, C, H, W) with label(x1[i]) == label(x2[i])."""
    batch = x1.shape[0]
    x = torch.cat([x1, x2])  # (2B, C, H, W): one pass; instance norm keeps samples independent
    enc = model.encode(x)
    z = reparameterize(enc.z_mu, enc.z_logvar, generator)
    s_swapped = torch.cat([enc.s[batch:], enc.s[:batch]])  # x1 gets s2, x2 gets s1
    per_image_error = model.reconstruction_error(z, s_swapped, x)  # (2B,): per-pixel MSE (plain) or NLL (pixelcnn)
    reconstruction = per_image_error.sum() / batch
    pixels = x[0].numel()
    kl = kl_to_standard_normal(enc.z_mu.float(), enc.z_logvar.float()).sum() / (batch * pixels)
    return ForwardTerms(reconstruction_weight * reconstruction + kl_weight * kl, reconstruction, kl)


def reverse_cycle_loss(model, x1: torch.Tensor, x2: torch.Tensor, *,
                       weight: float = REVERSE_WEIGHT,
                       generator: torch.Generator | None = None) -> ReverseTerms:
    """x1, x2: (B, C, H, W), preferably with different labels.

    The decodings are made without a graph (s is a constant here, as in the authors' code, and the
    decoder is not trained by this term), so the only gradient path is the re-encoding: this loss
    reaches encoder parameters and nothing else.
    """
    batch = x1.shape[0]
    with torch.no_grad():
        s = model.encode(torch.cat([x1, x2])).s  # (2B, s_dim)
        z = torch.randn(batch, model.config.z_dim, generator=generator, device=s.device, dtype=s.dtype)
        generated = model.decode(torch.cat([z, z]), s)  # same z, two different s
    z_again = model.encode(generated).z_mu  # (2B, z_dim)
    l1 = (z_again[:batch].float() - z_again[batch:].float()).abs().mean()
    return ReverseTerms(weight * l1, l1)
