"""DR-GAN (Tran et al., CVPR 2017): an encoder-decoder generator and a multi-task discriminator.

The generator's encoder maps an image to an identity feature ``f``; its decoder renders ``f`` at a
pose given as a one-hot code ``c``, with noise ``n`` (uniform in [-1, 1]):

    x_hat = G_dec(G_enc(x), c, n)

The discriminator reads an image and returns two sets of logits: over N_id identities plus one
"fake" class, and over N_pose poses. The losses (paper eq. 3 and 4, written as minimisations):

    D:  CE(D_id(x), y_id) + CE(D_pose(x), y_pose) + CE(D_id(x_hat), fake)
    G:  CE(D_id(x_hat), y_id) + CE(D_pose(x_hat), c)

Unlike the CC-VAE there is no inferred style code: the pose is an input, and everything else about
the image (identity and whatever the pose labels do not describe) is in ``f``. So ``encode`` and
``decode`` in the CC-VAE sense do not exist here; use ``features`` and ``generate``.

How the shared ``ModelConfig`` describes a DR-GAN: ``s_dim`` is the size of ``f``, ``z_dim`` the size
of the noise, ``class_names`` the identities, and ``factor_names`` holds exactly one entry, the pose
factor and its pose names (e.g. ``{"light_direction": ["lit from left", "frontal light", ...]}``).

The discriminator uses spectral normalisation on every layer (Miyato et al., 2018), a standard
stabiliser; it is part of the architecture, so checkpoints always carry its ``_u``/``_v`` vectors.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import spectral_norm

from core.models.base import Capable, ModelConfig

SHAPES = ((1, 64, 64), (3, 64, 64))
WIDTHS = (16, 32, 64, 128)  # the CC-VAE face trunk's widths (core.models.nets), sized for CPU training


class Judgement(NamedTuple):
    """What the discriminator says about a batch: identity logits (B, N_id + 1; the last is "fake")
    and pose logits (B, N_pose)."""

    identity: torch.Tensor
    pose: torch.Tensor


def _down(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 4, stride=2, padding=1), nn.InstanceNorm2d(cout, track_running_stats=False), nn.ReLU()]


def _up(cin: int, cout: int) -> list[nn.Module]:
    return [nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1), nn.InstanceNorm2d(cout, track_running_stats=False),
            nn.LeakyReLU(0.2)]


class Generator(nn.Module):
    """Encoder x (B, C, 64, 64) -> f (B, feature_dim); decoder (f, one-hot pose, noise) -> image logits."""

    def __init__(self, channels: int, *, feature_dim: int, num_poses: int, noise_dim: int):
        super().__init__()
        a, b, c, d = WIDTHS
        self.encoder = nn.Sequential(  # 64 -> 32 -> 16 -> 8 -> 4
            *_down(channels, a), *_down(a, b), *_down(b, c), *_down(c, d),
            nn.Flatten(), nn.Linear(d * 4 * 4, feature_dim),
        )
        self.seed = nn.Sequential(nn.Linear(feature_dim + num_poses + noise_dim, d * 4 * 4), nn.LeakyReLU(0.2))
        self.decoder = nn.Sequential(  # (d, 4, 4) -> 8 -> 16 -> 32 -> 64
            *_up(d, c), *_up(c, b), *_up(b, a), nn.ConvTranspose2d(a, channels, 4, stride=2, padding=1),
        )
        self.num_poses = num_poses

    def decode(self, f: torch.Tensor, pose: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        code = torch.cat([f, F.one_hot(pose, self.num_poses).to(f.dtype), noise], dim=1)
        h = self.seed(code)  # (B, d * 16)
        return self.decoder(h.view(h.shape[0], -1, 4, 4))


class Discriminator(nn.Module):
    """x (B, C, 64, 64) in [0, 1] -> Judgement; every layer spectrally normalised, no normalisation layers."""

    def __init__(self, channels: int, *, num_identities: int, num_poses: int):
        super().__init__()
        a, b, c, d = WIDTHS
        layers: list[nn.Module] = []
        for cin, cout in ((channels, a), (a, b), (b, c), (c, d)):  # 64 -> 32 -> 16 -> 8 -> 4
            layers += [spectral_norm(nn.Conv2d(cin, cout, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.identity = spectral_norm(nn.Linear(d * 4 * 4, num_identities + 1))
        self.pose = spectral_norm(nn.Linear(d * 4 * 4, num_poses))

    def forward(self, x: torch.Tensor) -> Judgement:
        h = self.body(x * 2 - 1)  # (B, d * 16)
        return Judgement(self.identity(h), self.pose(h))


class DRGAN(Capable, nn.Module):
    """DR-GAN; images are float tensors in [0, 1] of shape (B, C, 64, 64), poses are integer indices."""

    takes_pose = True  # features / render / generate; no z/s split, so encode and decode raise TypeError

    def __init__(self, config: ModelConfig):
        super().__init__()
        if tuple(config.image_shape) not in SHAPES:
            raise ValueError(f"DR-GAN has no architecture for image shape {tuple(config.image_shape)}; "
                             f"supported (C, H, W): {', '.join(map(str, SHAPES))}")
        if len(config.factor_names) != 1:
            raise ValueError("a DR-GAN config needs exactly one entry in factor_names, the pose factor and its pose "
                             f"names; got {sorted(config.factor_names) or 'none'}")
        if not config.class_names:
            raise ValueError("a DR-GAN config needs class_names: the identities its discriminator tells apart")
        self.config = config
        self.pose_factor, self.pose_names = next(iter(config.factor_names.items()))
        if len(self.pose_names) < 2:
            raise ValueError(f"pose factor {self.pose_factor!r} needs at least 2 poses, got {self.pose_names}")
        channels = config.image_shape[0]
        self.generator = Generator(channels, feature_dim=config.s_dim, num_poses=self.num_poses,
                                   noise_dim=config.z_dim)
        self.discriminator = Discriminator(channels, num_identities=self.num_identities, num_poses=self.num_poses)

    @property
    def num_identities(self) -> int:
        return len(self.config.class_names)

    @property
    def num_poses(self) -> int:
        return len(self.pose_names)

    @property
    def fake_class(self) -> int:
        """Index of the "fake" logit in ``Judgement.identity``."""
        return self.num_identities

    def _check_images(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or tuple(x.shape[1:]) != self.config.image_shape:
            raise ValueError(f"expected images of shape (B, {', '.join(map(str, self.config.image_shape))}), "
                             f"got {tuple(x.shape)}")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The identity feature f of each image: (B, C, H, W) -> (B, s_dim)."""
        self._check_images(x)
        return self.generator.encoder(x)

    def render(self, f: torch.Tensor, pose: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Decode features f (B, s_dim) at poses (B,) (indices) with noise (B, z_dim); None means zero noise."""
        pose = torch.as_tensor(pose, device=f.device).long().expand(f.shape[0])
        if pose.numel() and (pose.min() < 0 or pose.max() >= self.num_poses):
            raise ValueError(f"pose indices must be in 0..{self.num_poses - 1} ({', '.join(self.pose_names)}), "
                             f"got {pose.tolist()}")
        if noise is None:
            noise = torch.zeros(f.shape[0], self.config.z_dim, device=f.device, dtype=f.dtype)
        return torch.sigmoid(self.generator.decode(f, pose, noise))

    def generate(self, x: torch.Tensor, pose: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, C, H, W) rendered at ``pose`` (B,) or one pose for all: images (B, C, H, W) in [0, 1]."""
        return self.render(self.features(x), pose, noise)

    def judge(self, x: torch.Tensor) -> Judgement:
        """The discriminator's identity (+ fake) and pose logits for images in [0, 1]."""
        return self.discriminator(x)

    def sample_noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n noise vectors, uniform in [-1, 1] as in the paper: (n, z_dim)."""
        device = next(self.parameters()).device
        return torch.rand(n, self.config.z_dim, generator=generator, device=device) * 2 - 1

    def encode(self, x: torch.Tensor):
        raise TypeError("DR-GAN has no separate style code to encode: its encoder gives one identity feature f and "
                        "the pose is an input of the decoder. Use model.features(x) for f and "
                        "model.generate(x, pose) to render x at a pose.")

    def decode(self, z: torch.Tensor, s: torch.Tensor):
        raise TypeError("DR-GAN decodes (f, pose, noise), not (z, s): use model.render(f, pose, noise) or "
                        "model.generate(x, pose).")


# --------------------------------------------------------------------------------------------- losses

class DiscriminatorLoss(NamedTuple):
    total: torch.Tensor
    real_identity: torch.Tensor  # CE of the real images' identity (N_id + 1 classes)
    real_pose: torch.Tensor  # CE of the real images' pose
    fake: torch.Tensor  # CE of the generated images against the "fake" class


class GeneratorLoss(NamedTuple):
    total: torch.Tensor
    identity: torch.Tensor  # CE of the generated images against their source's identity
    pose: torch.Tensor  # CE of the generated images against their target pose
    reconstruction: torch.Tensor  # weighted L1 to the input (0 unless asked for; not in the paper)


def discriminator_loss(real: Judgement, fake: Judgement, *, identity: torch.Tensor, pose: torch.Tensor,
                       label_smoothing: float = 0.0) -> DiscriminatorLoss:
    """Paper eq. 3. ``label_smoothing`` softens the real images' targets only (one-sided, Salimans et al. 2016)."""
    fake_class = real.identity.shape[1] - 1
    real_identity = F.cross_entropy(real.identity, identity, label_smoothing=label_smoothing)
    real_pose = F.cross_entropy(real.pose, pose, label_smoothing=label_smoothing)
    fake_term = F.cross_entropy(fake.identity, torch.full_like(identity, fake_class))
    return DiscriminatorLoss(real_identity + real_pose + fake_term, real_identity, real_pose, fake_term)


def generator_loss(fake: Judgement, *, identity: torch.Tensor, target_pose: torch.Tensor,
                   reconstruction: torch.Tensor | None = None) -> GeneratorLoss:
    """Paper eq. 4: the generations should pass as their source identity, at their target pose.

    ``reconstruction``: an optional extra term (already weighted), added to the total as given.
    """
    identity_term = F.cross_entropy(fake.identity, identity)
    pose_term = F.cross_entropy(fake.pose, target_pose)
    rec = reconstruction if reconstruction is not None else torch.zeros((), device=identity_term.device)
    return GeneratorLoss(identity_term + pose_term + rec, identity_term, pose_term, rec)


@torch.no_grad()
def judge_accuracy(real: Judgement, fake: Judgement, *, identity: torch.Tensor, pose: torch.Tensor,
                   target_pose: torch.Tensor) -> dict[str, torch.Tensor]:
    """How the discriminator reads a batch, each a 0-dim tensor in [0, 1].

    real_as_real / fake_as_fake: real images it gives a "fake" probability below 1/2, generations it gives
    one above 1/2 (its real/fake decision; an arg-max over N_id + 1 classes would call many real images
    fake just because their probability is split over identities); real_identity / real_pose: its
    classification of real images; fake_pose: generations whose pose it reads as their target pose
    (the generator's pose control, as the discriminator sees it).
    """
    p_fake_real = real.identity.softmax(1)[:, -1]
    p_fake_fake = fake.identity.softmax(1)[:, -1]
    return {"real_as_real": (p_fake_real < 0.5).float().mean(),
            "fake_as_fake": (p_fake_fake > 0.5).float().mean(),
            "real_identity": (real.identity.argmax(1) == identity).float().mean(),
            "real_pose": (real.pose.argmax(1) == pose).float().mean(),
            "fake_pose": (fake.pose.argmax(1) == target_pose).float().mean()}
