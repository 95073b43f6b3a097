"""Encoder and decoder trunks, chosen from the image shape.

Every method in ``core.models`` shares these trunks, so baselines are compared on the same
network family. Instance norm is created with ``track_running_stats=False``: it always uses the
statistics of the image it normalises, so ``train()`` and ``eval()`` compute the same function
(the authors' code kept running statistics, which breaks swaps after ``.eval()``).

``PairDiscriminator`` is the image-pair discriminator of the adversarial baselines and variants.

Supported shapes (C, H, W):
- (1, 28, 28): the paper's MNIST network (3 conv layers 1->16->32->64, kernel 5, stride 2).
- (1, 64, 64) and (3, 64, 64): a 4-level conv network for faces (``net="conv"``, transposed convolutions), or
  ``net="resnet"`` (issue 31): the same encoder with a residual block at 8x8, and a decoder that draws by
  resize-convolution (nearest upsampling, then a 3x3 convolution: no checkerboard) with a residual block at 8x8,
  narrowing to 16 channels at 32x32, and a pixel-shuffle output layer with ICNR initialisation (Aitken et al.
  2017) that paints the 64x64 image from 32x32 features. About 2.2x today's multiply-adds per image, chosen
  for CPU training: the FLOPs go to low resolutions where they are cheap.
"""

from __future__ import annotations

import torch
from torch import nn

Shape = tuple[int, int, int]


def _norm(channels: int) -> nn.Module:
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


DETERMINISTIC_LOGVAR = -30.0  # what a deterministic encoder reports as log-variance: sigma ~ 3e-7


class Encoder(nn.Module):
    """x (B, C, H, W) -> (z_mu, z_logvar, s), each (B, dim).

    ``stochastic=False`` (Szabó et al.'s autoencoder) has no log-variance head; it reports the
    constant ``DETERMINISTIC_LOGVAR``, so a reparameterised sample equals the mean to ~1e-7.
    """

    def __init__(self, trunk: nn.Module, feature_dim: int, *, z_dim: int, s_dim: int, stochastic: bool = True):
        super().__init__()
        self.trunk = trunk
        self.z_mu = nn.Linear(feature_dim, z_dim)
        self.z_logvar = nn.Linear(feature_dim, z_dim) if stochastic else None
        self.s = nn.Linear(feature_dim, s_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.trunk(x).flatten(1)  # (B, feature_dim)
        z_mu = self.z_mu(h)
        z_logvar = self.z_logvar(h) if self.z_logvar is not None else torch.full_like(z_mu, DETERMINISTIC_LOGVAR)
        return z_mu, z_logvar, self.s(h)


class Decoder(nn.Module):
    """(z (B, z_dim), s (B, s_dim)) -> image logits (B, C, H, W)."""

    def __init__(self, head: nn.Module, *, z_dim: int, s_dim: int, width: int, seed_shape: Shape):
        super().__init__()
        self.z_in = nn.Linear(z_dim, width)
        self.s_in = nn.Linear(s_dim, width)
        self.seed_shape = seed_shape
        self.head = head
        self.act = nn.LeakyReLU(0.2)

    def forward(self, z: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        h = torch.cat([self.act(self.z_in(z)), self.act(self.s_in(s))], dim=1)  # (B, 2 * width)
        return self.head(h.view(h.shape[0], *self.seed_shape))


def _mnist28(channels: int, z_dim: int, s_dim: int, stochastic: bool) -> tuple[Encoder, Decoder]:
    trunk = nn.Sequential(  # 28 -> 13 -> 6 -> 2
        nn.Conv2d(channels, 16, 5, stride=2, padding=1), _norm(16), nn.ReLU(),
        nn.Conv2d(16, 32, 5, stride=2, padding=1), _norm(32), nn.ReLU(),
        nn.Conv2d(32, 64, 5, stride=2, padding=1), _norm(64), nn.ReLU(),
    )
    head = nn.Sequential(  # (128, 2, 2) -> 6 -> 14 -> 28
        nn.ConvTranspose2d(128, 32, 4, stride=2), _norm(32), nn.LeakyReLU(0.2),
        nn.ConvTranspose2d(32, 16, 4, stride=2), _norm(16), nn.LeakyReLU(0.2),
        nn.ConvTranspose2d(16, channels, 4, stride=2, padding=1),
    )
    return (Encoder(trunk, 256, z_dim=z_dim, s_dim=s_dim, stochastic=stochastic),
            Decoder(head, z_dim=z_dim, s_dim=s_dim, width=256, seed_shape=(128, 2, 2)))


class Residual(nn.Module):
    """x + f(x), with f two 3x3 convolutions (instance norm, LeakyReLU between): keeps width and size."""

    def __init__(self, channels: int):
        super().__init__()
        self.f = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), _norm(channels), nn.LeakyReLU(0.2),
                               nn.Conv2d(channels, channels, 3, padding=1), _norm(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.f(x)


def icnr_(weight: torch.Tensor, scale: int = 2) -> torch.Tensor:
    """ICNR initialisation of a conv feeding ``PixelShuffle(scale)``: each group of scale^2 output channels starts
    equal, so the shuffled output starts as a nearest-neighbour upsampling (no checkerboard at step 0)."""
    out, *rest = weight.shape
    sub = torch.empty(out // scale ** 2, *rest)
    nn.init.kaiming_normal_(sub)
    with torch.no_grad():
        weight.copy_(sub.repeat_interleave(scale ** 2, dim=0))
    return weight


def _resize_up(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, padding=1), _norm(cout),
            nn.LeakyReLU(0.2)]


def _faces64_resnet(channels: int, z_dim: int, s_dim: int, stochastic: bool) -> tuple[Encoder, Decoder]:
    def down(cin: int, cout: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 4, stride=2, padding=1), _norm(cout), nn.ReLU()]

    trunk = nn.Sequential(  # 64 -> 32 -> 16 -> 8 (residual) -> 4 -> (128 * 4 * 4) -> 512
        *down(channels, 16), *down(16, 32), *down(32, 64), Residual(64), *down(64, 128),
        nn.Flatten(), nn.Linear(128 * 4 * 4, 512), nn.ReLU(),
    )
    shuffle = nn.Conv2d(16, channels * 4, 3, padding=1)
    icnr_(shuffle.weight)
    nn.init.zeros_(shuffle.bias)
    head = nn.Sequential(  # (128, 4, 4) -> 8 (residual) -> 16 -> 32 -> pixel shuffle -> 64
        *_resize_up(128, 64), Residual(64), *_resize_up(64, 32), *_resize_up(32, 16),
        shuffle, nn.PixelShuffle(2),
    )
    return (Encoder(trunk, 512, z_dim=z_dim, s_dim=s_dim, stochastic=stochastic),
            Decoder(head, z_dim=z_dim, s_dim=s_dim, width=1024, seed_shape=(128, 4, 4)))


def _faces64(channels: int, z_dim: int, s_dim: int, stochastic: bool) -> tuple[Encoder, Decoder]:
    def down(cin: int, cout: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 4, stride=2, padding=1), _norm(cout), nn.ReLU()]

    def up(cin: int, cout: int) -> list[nn.Module]:
        return [nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1), _norm(cout), nn.LeakyReLU(0.2)]

    # widths chosen for CPU training speed (about 4x fewer multiply-adds than 32-64-128-256)
    trunk = nn.Sequential(  # 64 -> 32 -> 16 -> 8 -> 4 -> (128 * 4 * 4) -> 256
        *down(channels, 16), *down(16, 32), *down(32, 64), *down(64, 128),
        nn.Flatten(), nn.Linear(128 * 4 * 4, 256), nn.ReLU(),
    )
    head = nn.Sequential(  # (32, 4, 4) -> 8 -> 16 -> 32 -> 64
        nn.Conv2d(32, 128, 3, padding=1), nn.LeakyReLU(0.2),
        *up(128, 64), *up(64, 32), *up(32, 16),
        nn.ConvTranspose2d(16, channels, 4, stride=2, padding=1),
    )
    return (Encoder(trunk, 256, z_dim=z_dim, s_dim=s_dim, stochastic=stochastic),
            Decoder(head, z_dim=z_dim, s_dim=s_dim, width=256, seed_shape=(32, 4, 4)))


ARCHITECTURES = {
    (1, 28, 28): _mnist28,
    (1, 64, 64): _faces64,
    (3, 64, 64): _faces64,
}
NETS = ("conv", "resnet")  # ModelConfig.net: the face trunks' family (28x28 has only "conv")
RESNETS = {(1, 64, 64): _faces64_resnet, (3, 64, 64): _faces64_resnet}


def _check_shape(image_shape: Shape) -> Shape:
    shape = tuple(int(v) for v in image_shape)
    if shape not in ARCHITECTURES:
        valid = ", ".join(str(s) for s in ARCHITECTURES)
        raise ValueError(f"no architecture for image shape {shape}; supported (C, H, W): {valid}")
    return shape


def build_nets(image_shape: Shape, *, z_dim: int, s_dim: int, stochastic: bool = True,
               net: str = "conv") -> tuple[Encoder, Decoder]:
    """The encoder/decoder pair for ``image_shape`` = (C, H, W) of family ``net`` (``NETS``)."""
    shape = _check_shape(image_shape)
    if net not in NETS:
        raise ValueError(f"unknown net {net!r}; valid: {', '.join(NETS)}")
    if net == "resnet":
        if shape not in RESNETS:
            raise ValueError(f"net 'resnet' is built for 64x64 faces; image shape {shape} has only 'conv'")
        return RESNETS[shape](shape[0], z_dim, s_dim, stochastic)
    return ARCHITECTURES[shape](shape[0], z_dim, s_dim, stochastic)


class PairDiscriminator(nn.Module):
    """(a, b), each (B, C, H, W) -> logits (B, 2): class 1 "b belongs with a" (same class), 0 "b is a fake".

    The pair discriminator of Mathieu et al. and Szabó et al., as in the authors' reimplementations:
    the two images stacked as channels, three (28x28) or four (64x64) strided convolutions with
    instance norm and LeakyReLU(0.2), one linear layer.
    """

    def __init__(self, image_shape: Shape):
        super().__init__()
        c, h, _ = _check_shape(image_shape)

        def down(cin: int, cout: int, k: int, p: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, k, stride=2, padding=p), _norm(cout), nn.LeakyReLU(0.2)]

        if h == 28:  # 28 -> 13 -> 6 -> 2: 128 * 2 * 2 = 512 features (the authors' network)
            layers = [*down(2 * c, 32, 5, 1), *down(32, 64, 5, 1), *down(64, 128, 5, 1)]
        else:  # 64 -> 32 -> 16 -> 8 -> 4
            layers = [*down(2 * c, 16, 4, 1), *down(16, 32, 4, 1), *down(32, 64, 4, 1), *down(64, 32, 4, 1)]
        self.conv = nn.Sequential(*layers)
        self.output = nn.Linear(512, 2)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.output(self.conv(torch.cat([a, b], dim=1)).flatten(1))


class PatchDiscriminator(nn.Module):
    """x (B, C, 64, 64) -> patch logits (B, 1, 8, 8): is each 22x22-pixel patch from a photo? The detail
    adversary of the face recipe (``TrainConfig.patch_weight``), after PatchGAN (Isola et al. 2017), made small for
    the CPU: three strided 4x4 convolutions 32-64-128 with LeakyReLU(0.2) and spectral norm, then a 3x3 to one
    logit per patch. No normalisation layer: the hinge loss and spectral norm keep it in range."""

    def __init__(self, channels: int):
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm
        self.net = nn.Sequential(
            sn(nn.Conv2d(channels, 32, 4, stride=2, padding=1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(32, 64, 4, stride=2, padding=1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(64, 128, 4, stride=2, padding=1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(128, 1, 3, padding=1)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * 2 - 1)


class ZPairDiscriminator(nn.Module):
    """(z_a, z_b), each (B, z_dim) -> logit (B,) "a and b share a label". Symmetric in a and b: it sees
    |z_a - z_b| and z_a * z_b, so the order of a pair carries nothing."""

    def __init__(self, z_dim: int, width: int = 256):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2 * z_dim, width), nn.LeakyReLU(0.2), nn.Linear(width, width),
                                 nn.LeakyReLU(0.2), nn.Linear(width, 1))

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([(a - b).abs(), a * b], dim=1)).squeeze(1)
