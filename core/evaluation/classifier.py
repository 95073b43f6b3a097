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


def sample_codes(mu: torch.Tensor, logvar: torch.Tensor | None, g: torch.Generator) -> torch.Tensor:
    """The codes themselves (``logvar`` None), or one draw of each posterior N(mu, exp(logvar))."""
    if logvar is None:
        return mu
    return mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=g)


@torch.no_grad()
def top1(net: nn.Module, codes: torch.Tensor, labels: torch.Tensor) -> float:
    """The probe's accuracy on ``codes`` (in eval mode, batches of 4,096), as a fraction."""
    net.eval()
    pred = torch.cat([net(codes[i:i + 4096]).argmax(1) for i in range(0, codes.shape[0], 4096)])
    net.train()
    return (pred == labels).float().mean().item()


def train_epoch(net: nn.Module, opt: torch.optim.Optimizer, codes: torch.Tensor, logvar: torch.Tensor | None,
                labels: torch.Tensor, batch_size: int, g: torch.Generator) -> list[float]:
    """One epoch of the probe over a permutation of ``codes`` (a fresh posterior draw per batch when ``logvar`` is
    given); returns the batches' losses. A last batch of 1 is skipped: it would break BatchNorm."""
    perm, losses = torch.randperm(codes.shape[0], generator=g), []
    for start in range(0, codes.shape[0] - 1, batch_size):
        idx = perm[start:start + batch_size]
        if idx.numel() < 2:
            continue
        x = sample_codes(codes[idx], None if logvar is None else logvar[idx], g)
        loss = nn.functional.cross_entropy(net(x), labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


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
    for _ in range(epochs):
        train_epoch(net, opt, train_codes, train_logvar, train_labels, batch_size, g)
    test_g = torch.Generator().manual_seed(seed + 1)
    return {"train": top1(net, sample_codes(train_codes, train_logvar, test_g), train_labels),
            "test": top1(net, sample_codes(test_codes, test_logvar, test_g), test_labels)}


def chance_accuracy(test_labels: torch.Tensor) -> float:
    """Accuracy of always predicting the most frequent test label."""
    return torch.bincount(test_labels).max().item() / test_labels.numel()
