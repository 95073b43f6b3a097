"""Table 4.1 protocol: how well a frozen code predicts the label.

A 2-layer MLP (256-256, BatchNorm, LeakyReLU 0.2; the authors' classifier) is trained on the
codes of the training set and tested on the codes of the test set. For z the classifier reads a
sample drawn by reparameterisation, as the original protocol does: a fresh sample for every
training batch, one fixed (seeded) sample for the test set. ``z_mean`` reads the posterior mean
instead, which exposes the class information that sampling noise hides.
Ideal: s near 100%, z near chance.
"""

from __future__ import annotations

import torch
from torch import nn


def mlp_classifier(in_dim: int, num_classes: int, width: int = 256) -> nn.Module:
    return nn.Sequential(
        nn.Linear(in_dim, width), nn.BatchNorm1d(width), nn.LeakyReLU(0.2),
        nn.Linear(width, width), nn.BatchNorm1d(width), nn.LeakyReLU(0.2),
        nn.Linear(width, num_classes),
    )


def _sample(mu: torch.Tensor, logvar: torch.Tensor | None, g: torch.Generator) -> torch.Tensor:
    if logvar is None:
        return mu
    return mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=g)


@torch.no_grad()
def _accuracy(net: nn.Module, codes: torch.Tensor, labels: torch.Tensor) -> float:
    net.eval()
    pred = torch.cat([net(codes[i:i + 4096]).argmax(1) for i in range(0, codes.shape[0], 4096)])
    net.train()
    return (pred == labels).float().mean().item()


def classifier_accuracy(train_codes: torch.Tensor, train_labels: torch.Tensor,
                        test_codes: torch.Tensor, test_labels: torch.Tensor, *,
                        train_logvar: torch.Tensor | None = None, test_logvar: torch.Tensor | None = None,
                        num_classes: int | None = None, epochs: int = 50, batch_size: int = 256,
                        lr: float = 1e-3, seed: int = 0) -> dict[str, float]:
    """Train the MLP on (codes, labels) and report {"train": acc, "test": acc} in [0, 1].

    With ``*_logvar`` given, codes are treated as Gaussian means and the classifier reads samples.
    """
    num_classes = num_classes or int(max(train_labels.max(), test_labels.max())) + 1
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = mlp_classifier(train_codes.shape[1], num_classes)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    n = train_codes.shape[0]
    for _ in range(epochs):
        perm = torch.randperm(n, generator=g)
        for start in range(0, n - 1, batch_size):  # a last batch of 1 would break BatchNorm
            idx = perm[start:start + batch_size]
            if idx.numel() < 2:
                continue
            x = _sample(train_codes[idx], None if train_logvar is None else train_logvar[idx], g)
            loss = nn.functional.cross_entropy(net(x), train_labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    test_g = torch.Generator().manual_seed(seed + 1)
    return {"train": _accuracy(net, _sample(train_codes, train_logvar, test_g), train_labels),
            "test": _accuracy(net, _sample(test_codes, test_logvar, test_g), test_labels)}


def chance_accuracy(test_labels: torch.Tensor) -> float:
    """Accuracy of always predicting the most frequent test label."""
    return torch.bincount(test_labels).max().item() / test_labels.numel()
