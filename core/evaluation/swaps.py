"""The swap test of a face model, in the embedding of an identity classifier the project trained (issue 22).

For photos of N different people (a, and b = the next person in the list):

- **s effect / z effect**: how far the decoded face moves in the classifier's embedding (unit vectors) when s is
  swapped, |f(Dec(z_a, s_a)) - f(Dec(z_a, s_b))|, and when z is swapped, |f(Dec(z_a, s_a)) - f(Dec(z_b, s_a))|.
  A decoder that ignores s (identity carried by z) has a ratio near 0; the target is >= 1.
- **swap labelled a / b**: the share of Dec(z_b, s_a) that the classifier names a (s's person) or b (z's person).
- **reconstruction MSE**: Dec(z_a, s_a) against the photo, per pixel.
- **the instrument's own ceilings**: the share of the photos themselves, and of their reconstructions, that the
  classifier names right. "Swap named a" cannot be read above them.

The classifier used here must not be one a loss trained against (a loss that optimises a metric empties it):
training logs use a second classifier from another seed (``TrainConfig.monitor_classifier``).
"""

from __future__ import annotations

import torch


@torch.no_grad()
def swap_test(model, classifier, images: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """images (N, C, H, W) uint8 (or floats in [0, 1]) of N different people, labels (N,) their classifier labels."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    x = (images.float().div(255) if images.dtype == torch.uint8 else images.float()).to(device)
    labels = labels.to(device)
    enc = model.encode(x)
    z, s = enc.z_mu.float(), enc.s.float()
    partner = torch.roll(torch.arange(x.shape[0], device=device), 1)
    own = model.decode_mean(z, s).float()
    s_swapped = model.decode_mean(z, s[partner]).float()
    z_swapped = model.decode_mean(z[partner], s).float()
    f_own, f_s, f_z = (classifier.features(v) for v in (own, s_swapped, z_swapped))
    s_effect = float((f_own - f_s).norm(dim=1).mean())
    z_effect = float((f_own - f_z).norm(dim=1).mean())
    named = classifier(z_swapped).argmax(1)
    model.train(was_training)
    real, rebuilt = (float((classifier(v).argmax(1) == labels).float().mean()) for v in (x, own))
    return {"classifier_on_photos": real, "classifier_on_reconstructions": rebuilt,
            "swap_s_effect": s_effect, "swap_z_effect": z_effect, "swap_ratio": s_effect / max(z_effect, 1e-8),
            "swap_as_s_person": float((named == labels).float().mean()),
            "swap_as_z_person": float((named == labels[partner]).float().mean()),
            "reconstruction_mse": float((own - x).pow(2).mean())}


def one_per_class(labels: torch.Tensor, count: int, seed: int = 0) -> torch.Tensor:
    """Indices of up to ``count`` photos, each of a different class, in a seeded order."""
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(labels.numel(), generator=g)
    seen, picked = set(), []
    for i in order.tolist():
        label = int(labels[i])
        if label not in seen:
            seen.add(label)
            picked.append(i)
            if len(picked) == count:
                break
    return torch.tensor(picked, dtype=torch.long)
