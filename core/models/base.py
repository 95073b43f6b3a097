"""What every model shares: its config, the codes it returns, the progress callback, and the capability
flags that callers ask instead of comparing method names.

Capabilities (class attributes of every model class; ``autoregressive`` may depend on the config):

    has_split       encode(x) -> Encoding(z_mu, z_logvar, s) and decode(z, s): the CC-VAE and its baselines
    takes_pose      features(x) -> f and render(f, pose, noise): a pose-conditioned generator (DR-GAN)
    stochastic      z has a Gaussian posterior, so z drawn from N(0, I) lands where training codes lie
    autoregressive  decode samples pixel by pixel (the PixelCNN decoder): seconds, not milliseconds

``capabilities(config)`` gives the same flags from a config alone (config.json read, weights not loaded).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import ClassVar, NamedTuple, Protocol

import torch

DECODERS = ("plain", "pixelcnn")
PIXELCNN_FIELDS = ("decoder", "pixelcnn_width", "pixelcnn_layers")  # left out of plain models' config.json
METHOD_NAMES = {"ccvae": "CC-VAE", "mathieu": "Mathieu et al.", "szabo": "Szabó et al.", "drgan": "DR-GAN"}

Progress = Callable[[int, int], None]  # progress(pixels done, total pixels)


def method_name(method: str) -> str:
    """The display name of a method ("CC-VAE", "Mathieu et al.", ...); an unknown one as it is spelt."""
    return METHOD_NAMES.get(method, method)


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
    method: str = "ccvae"  # ccvae | mathieu | szabo | drgan (core.models.METHODS)
    dataset: str = "mnist"  # what it was trained on, for people and the app
    class_names: list[str] = field(default_factory=list)  # label index -> name
    factor_names: dict[str, list[str]] = field(default_factory=dict)  # other labelled factors, e.g. Yale B lighting
    training_steps: int = 0  # iterations done so far
    decoder: str = "plain"  # plain | pixelcnn (PixelVAE: autoregressive, 1-channel images; sampling is sequential)
    pixelcnn_width: int = 16  # pixelcnn: channels of each gated layer
    pixelcnn_layers: int = 4  # pixelcnn: gated layers (the first sees 3 rows up and 3 pixels left, each next one 1 more)
    net: str = "conv"  # encoder/decoder family (core.models.nets.NETS): conv | resnet (64x64 faces, resize-conv decoder)

    def __post_init__(self) -> None:
        self.image_shape = tuple(int(v) for v in self.image_shape)
        if self.decoder not in DECODERS:
            raise ValueError(f"unknown decoder {self.decoder!r}; valid: {', '.join(DECODERS)}")

    def to_dict(self) -> dict:
        """As saved in config.json; a plain model's has no decoder keys, so older code reads it too."""
        data = asdict(self) | {"image_shape": list(self.image_shape)}
        if self.net == "conv":  # the default family: left out, so older code reads the file too
            data.pop("net")
        return {k: v for k, v in data.items() if k not in PIXELCNN_FIELDS} if self.decoder == "plain" else data


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """z = mu + sigma * eps, eps ~ N(0, I)."""
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


class Capabilities(NamedTuple):
    """A model's capability flags (see the module docstring)."""

    has_split: bool
    takes_pose: bool
    stochastic: bool
    autoregressive: bool


class Model(Protocol):
    """What callers may rely on for any model in ``core.models.METHODS``."""

    has_split: ClassVar[bool]
    takes_pose: ClassVar[bool]
    stochastic: ClassVar[bool]
    config: ModelConfig

    @staticmethod
    def is_autoregressive(config: ModelConfig) -> bool: ...

    @property
    def autoregressive(self) -> bool: ...

    @property
    def capabilities(self) -> Capabilities: ...


class Capable:
    """Mixin of every model class: the flags as one ``Capabilities`` value, from the class and its config."""

    has_split: ClassVar[bool] = False
    takes_pose: ClassVar[bool] = False
    stochastic: ClassVar[bool] = False
    config: ModelConfig

    @staticmethod
    def is_autoregressive(config: ModelConfig) -> bool:
        return False

    @property
    def autoregressive(self) -> bool:
        return self.is_autoregressive(self.config)

    @property
    def capabilities(self) -> Capabilities:
        return capabilities_of(type(self), self.config)


def capabilities_of(cls: type, config: ModelConfig) -> Capabilities:
    """The flags of model class ``cls`` built for ``config``."""
    return Capabilities(cls.has_split, cls.takes_pose, cls.stochastic, cls.is_autoregressive(config))
