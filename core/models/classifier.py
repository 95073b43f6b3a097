"""An identity classifier C that the project trains itself (``python -m train.classifier``).

C is part of a recipe, not a yardstick: the face recipe's identity-on-swaps term asks a frozen C to
label Dec(z of person b, s of person a) as a, and a second C, trained from another seed and never used in
a loss, gives the swap test an in-project view of identity (``features``: the embedding before the last
layer). The instrument the README's identity scores come from is dlib's recogniser, which no loss sees.

A plain conv net over (C, 64, 64) images in [0, 1]: five stride-2 blocks with batch norm, global
average pooling, dropout, a linear layer over the training identities.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn


@dataclass
class ClassifierConfig:
    image_shape: tuple[int, int, int] = (3, 64, 64)
    class_names: list[str] = field(default_factory=list)  # label index -> identity (the training split's names)
    width: int = 32  # channels of the first block; each next block doubles them, up to 8x
    dropout: float = 0.3
    dataset: str = ""

    def __post_init__(self) -> None:
        self.image_shape = tuple(int(v) for v in self.image_shape)

    def to_dict(self) -> dict:
        return asdict(self) | {"image_shape": list(self.image_shape)}


class IdentityClassifier(nn.Module):
    """x (B, C, H, W) in [0, 1] -> logits (B, classes); ``features(x)`` -> (B, embedding) unit vectors."""

    def __init__(self, config: ClassifierConfig):
        super().__init__()
        self.config = config
        c, w = config.image_shape[0], config.width
        widths = [w, 2 * w, 4 * w, 8 * w, 8 * w]
        layers, cin = [], c
        for cout in widths:  # 64 -> 32 -> 16 -> 8 -> 4 -> 2
            layers += [nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                       nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
            cin = cout
        self.trunk = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(cin, len(config.class_names))

    @property
    def embedding_dim(self) -> int:
        return self.head.in_features

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.trunk(x * 2 - 1).float(), dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.trunk(x * 2 - 1)))


def augment(x: torch.Tensor, generator: torch.Generator | None = None, *, shift: int = 4) -> torch.Tensor:
    """Random left-right flips, shifts of up to ``shift`` pixels (edge padding) and brightness/contrast jitter of
    (B, C, H, W) images in [0, 1]; what C is trained with, and what sits in front of it in the identity term, so
    the decoder cannot pass C with pixel patterns that a flip or a shift undoes."""
    b, _, h, w = x.shape
    flip = torch.rand(b, generator=generator, device="cpu").to(x.device) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    padded = nn.functional.pad(x, (shift, shift, shift, shift), mode="replicate")
    dx, dy = (torch.randint(0, 2 * shift + 1, (2,), generator=generator)).tolist()
    x = padded[:, :, dy:dy + h, dx:dx + w]
    gain = 1 + 0.2 * (torch.rand(b, 1, 1, 1, generator=generator) - 0.5).to(x.device, x.dtype)
    bias = 0.1 * (torch.rand(b, 1, 1, 1, generator=generator) - 0.5).to(x.device, x.dtype)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return ((x - mean) * gain + mean + bias).clamp(0, 1)


def adversarial_examples(net: nn.Module, x: torch.Tensor, labels: torch.Tensor, eps: float,
                         generator: torch.Generator | None = None) -> torch.Tensor:
    """x (B, C, H, W) in [0, 1] moved by at most ``eps`` per pixel to raise ``net``'s loss: one signed-gradient step of
    1.25 eps from a uniform random start (FGSM with a random start: Wong, Rice and Kolter 2020, "Fast is better than
    free"). Training on them makes the classifier robust, and a robust classifier's gradient points at changes a
    person would see (Santurkar et al. 2019), not at the fine patterns a decoder trained against a plain one draws."""
    delta = (torch.rand(x.shape, generator=generator) * 2 - 1).to(x.device, x.dtype).mul_(eps).requires_grad_()
    loss = nn.functional.cross_entropy(net((x + delta).clamp(0, 1)).float(), labels)
    (grad,) = torch.autograd.grad(loss, delta)
    delta = (delta.detach() + 1.25 * eps * grad.sign()).clamp(-eps, eps)
    return (x + delta).clamp(0, 1)
