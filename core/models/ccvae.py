"""The cycle-consistent VAE (Jha et al., ECCV 2018).

One encoder with a shared trunk branches into the Gaussian posterior of the unspecified factors
``z`` (``z_mu``, ``z_logvar``) and the deterministic specified factors ``s``; one decoder maps
``(z, s)`` back to an image. The losses that make the split meaningful live in ``core.losses``.

Decoders (``ModelConfig.decoder``): "plain", the paper's one-pass network with a sigmoid output, trained
with per-pixel MSE; "pixelcnn", the PixelVAE option (``core.models.pixelcnn``): the plain network becomes
the conditioning network and a gated PixelCNN models each pixel given the pixels before it.
"""

from __future__ import annotations

import torch
from torch import nn

from core.models.base import DECODERS, PIXELCNN_FIELDS, Capable, Encoding, ModelConfig, Progress, reparameterize
from core.models.nets import build_nets
from core.models.pixelcnn import PixelCNN

# pixelcnn: the mean image's MSE enters the reconstruction error as a Gaussian NLL in nats per pixel with this sigma
# (up to a constant), i.e. weighted 1 / (2 sigma^2) = 50. With weight 1 the PixelCNN's NLL (about 1 nat per pixel)
# drowned it in the encoder's gradient: after 190 MNIST steps every mean image was the same blur, and the reverse
# cycle, which decodes mean images, had nothing to compare.
MEAN_IMAGE_SIGMA = 0.1
__all__ = ["CCVAE", "DECODERS", "Encoding", "MEAN_IMAGE_SIGMA", "ModelConfig", "PIXELCNN_FIELDS", "reparameterize"]


class CCVAE(Capable, nn.Module):
    """Cycle-consistent VAE; images are float tensors in [0, 1] of shape (B, C, H, W)."""

    has_split = True
    stochastic = True  # z has a Gaussian posterior (False: a deterministic code, see core.models.baselines)

    @staticmethod
    def is_autoregressive(config: ModelConfig) -> bool:
        return config.decoder == "pixelcnn"

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.encoder, self.decoder = build_nets(config.image_shape, z_dim=config.z_dim, s_dim=config.s_dim,
                                                stochastic=self.stochastic, net=config.net)
        self.pixelcnn = None if config.decoder == "plain" else PixelCNN(
            image_shape=config.image_shape, code_dim=config.z_dim + config.s_dim,
            width=config.pixelcnn_width, layers=config.pixelcnn_layers)

    def encode(self, x: torch.Tensor) -> Encoding:
        if x.dim() != 4 or tuple(x.shape[1:]) != self.config.image_shape:
            raise ValueError(f"expected images of shape (B, {', '.join(map(str, self.config.image_shape))}), "
                             f"got {tuple(x.shape)}")
        return Encoding(*self.encoder(x))

    def decode(self, z: torch.Tensor, s: torch.Tensor, *, generator: torch.Generator | None = None,
               progress: Progress | None = None) -> torch.Tensor:
        """(z (B, z_dim), s (B, s_dim)) -> images (B, C, H, W) in [0, 1].

        Plain decoder: the mean image. PixelCNN decoder in eval mode (as ``core.load_model`` returns it): a
        sample drawn pixel by pixel (noise from ``generator``, else seeded with 0, so a call is repeatable;
        ``progress(pixels done, total)`` after each row). In train mode it returns the mean image, one pass:
        what the reverse cycle decodes, since sampling inside training would be far too slow.
        """
        mean = self.decode_mean(z, s)
        if self.pixelcnn is None or self.training:
            return mean
        if generator is None:
            generator = torch.Generator(mean.device).manual_seed(0)
        return self.pixelcnn.sample(mean, torch.cat([z, s], dim=1), generator=generator, progress=progress)

    def decode_mean(self, z: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """The plain decoder's image in one pass, (B, C, H, W) in [0, 1]; for pixelcnn, the conditioning mean image."""
        return torch.sigmoid(self.decoder(z, s))

    def reconstruction_error(self, z: torch.Tensor, s: torch.Tensor, target: torch.Tensor, *,
                             mean: torch.Tensor | None = None) -> torch.Tensor:
        """Per-image error of Dec(z, s) against ``target`` (B, C, H, W): (B,).

        Plain: mean squared error per pixel. PixelCNN: negative log-likelihood of ``target`` in nats per pixel,
        teacher-forced (every pixel predicted from the true pixels before it, in one pass), plus the mean image's
        MSE / (2 MEAN_IMAGE_SIGMA^2), which trains the conditioning network as the plain decoder; the PixelCNN
        reads the mean image as a fixed input (no gradient), so it stays an image: what the reverse cycle decodes.
        ``mean``: Dec(z, s) when the caller has already decoded it (it also needs the image).
        """
        mean = self.decode_mean(z, s) if mean is None else mean
        mse = (mean.float() - target.float()).pow(2).flatten(1).mean(1)
        if self.pixelcnn is None:
            return mse
        return self.pixelcnn.nll(target, mean.detach(), torch.cat([z, s], dim=1)) + mse / (2 * MEAN_IMAGE_SIGMA ** 2)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decode the posterior mean: the deterministic reconstruction of x."""
        enc = self.encode(x)
        return self.decode(enc.z_mu, enc.s)
