"""Per-pixel likelihood of images under a decoder, comparable between the plain and the PixelCNN decoder.

Both decoders are scored as distributions over the same 256 intensity values of each pixel, so their
negative log-likelihoods (nats, or bits, per pixel) compare directly:

- pixelcnn: its own ``p(x | z, s)``, teacher-forced (exact, one pass: ``model.pixelcnn.nll``).
- plain: the decoder gives a mean image ``mu(z, s)`` only; its MSE training is a Gaussian of fixed variance.
  It is scored with the PixelCNN's base distribution: a Gaussian around ``mu`` discretised to the 256 values
  (``core.models.pixelcnn.gaussian_level_logits``), with one ``sigma`` fitted by maximum likelihood on
  training images (``fit_sigma``). This is the plain decoder's best case within that family.

Codes: z is one sample of q(z | x) (seeded), s the image's own. The NLL is the reconstruction term of the
ELBO; with the KL of q(z | x) to the prior, per pixel, it gives ``nelbo``, an upper bound on
-log p(x | s) per pixel. Pixel values are x * 255 rounded: the dataset's own 8-bit values.
"""

from __future__ import annotations

import math

import torch

from core.losses import kl_to_standard_normal
from core.models import reparameterize
from core.models.pixelcnn import gaussian_level_logits, to_levels

BITS_PER_NAT = 1 / math.log(2)


def gaussian_nll(mean: torch.Tensor, images: torch.Tensor, sigma: float) -> torch.Tensor:
    """NLL of images (B, 1, H, W) under the discretised Gaussian around ``mean``: nats per pixel, (B,)."""
    logits = gaussian_level_logits(mean, sigma)  # (B, H, W, 256)
    nll = torch.logsumexp(logits, -1) - logits.gather(-1, to_levels(images)[..., None])[..., 0]  # (B, H, W)
    return nll.flatten(1).mean(1)


def fit_sigma(mean: torch.Tensor, images: torch.Tensor, *, low: float = 1e-3, high: float = 1.0,
              iterations: int = 25) -> float:
    """The sigma that minimises ``gaussian_nll(mean, images, sigma).mean()``: a golden-section search on log sigma
    (25 iterations narrow [low, high] = [1e-3, 1] to a factor of 1.0001)."""
    def loss(log_sigma: float) -> float:
        return gaussian_nll(mean, images, math.exp(log_sigma)).mean().item()

    a, b = math.log(low), math.log(high)
    ratio = (math.sqrt(5) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = loss(c), loss(d)
    for _ in range(iterations):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = loss(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = loss(d)
    return math.exp((a + b) / 2)


def _batches(model, images: torch.Tensor, batch_size: int, seed: int):
    """(x, encoding, z sample) per batch, on the model's device; batch k's noise is seeded with seed + k."""
    device = next(model.parameters()).device
    for k, start in enumerate(range(0, images.shape[0], batch_size)):
        x = images[start:start + batch_size].to(device)
        x = x.float().div(255) if x.dtype == torch.uint8 else x.float()
        enc = model.encode(x)
        yield x, enc, reparameterize(enc.z_mu, enc.z_logvar, torch.Generator(device).manual_seed(seed + k))


@torch.no_grad()
def plain_means(model, images: torch.Tensor, *, batch_size: int = 500, seed: int = 0) -> torch.Tensor:
    """The mean image Dec(z ~ q(z | x), s(x)) of every image (uint8 or float), as floats on the CPU."""
    return torch.cat([model.decode_mean(z, enc.s).float().cpu() for _, enc, z in _batches(model, images, batch_size, seed)])


@torch.no_grad()
def reconstruction_likelihood(model, images: torch.Tensor, *, sigma: float | None = None, batch_size: int = 500,
                              seed: int = 0) -> dict[str, float]:
    """Mean NLL, KL and their sum per pixel over ``images`` (uint8 or float (N, 1, H, W)).

    A plain model needs ``sigma`` (see ``fit_sigma``). A pixelcnn model is scored with its own distribution;
    ``base_*`` scores its conditioning mean image alone under the discretised Gaussian with ``sigma`` (default:
    its learned one), without the autoregressive part: what the PixelCNN adds is the difference.
    """
    pixelcnn = model.config.decoder == "pixelcnn"
    if not pixelcnn and sigma is None:
        raise ValueError("a plain decoder is scored with a fitted sigma: pass sigma=fit_sigma(...)")
    model.eval()
    base_sigma = sigma if sigma is not None else model.pixelcnn.sigma.item() if pixelcnn else None
    totals = {"nll": 0.0, "kl": 0.0, "base_nll": 0.0}
    for x, enc, z in _batches(model, images, batch_size, seed):
        mean = model.decode_mean(z, enc.s)
        if pixelcnn:
            totals["nll"] += model.pixelcnn.nll(x, mean, torch.cat([z, enc.s], 1)).double().sum().item()
            totals["base_nll"] += gaussian_nll(mean, x, base_sigma).double().sum().item()
        else:
            totals["nll"] += gaussian_nll(mean, x, sigma).double().sum().item()
        totals["kl"] += (kl_to_standard_normal(enc.z_mu.float(), enc.z_logvar.float()) / x[0].numel()).double().sum().item()
    n = images.shape[0]
    nll, kl = totals["nll"] / n, totals["kl"] / n
    out = {"nll_nats_per_pixel": nll, "nll_bits_per_pixel": nll * BITS_PER_NAT, "kl_nats_per_pixel": kl,
           "nelbo_bits_per_pixel": (nll + kl) * BITS_PER_NAT,
           "sigma": model.pixelcnn.sigma.item() if pixelcnn else sigma, "images": n}
    if pixelcnn:
        out |= {"base_nll_bits_per_pixel": totals["base_nll"] / n * BITS_PER_NAT, "base_sigma": base_sigma}
    return {k: round(v, 5) if isinstance(v, float) else v for k, v in out.items()}
