"""Same-label and different-label pair sampling on a label tensor, vectorised.

Only the grouping matters ("these two share a label"), never the label's meaning. Labels are
sorted once into contiguous class blocks; a draw is then a few tensor operations, with no Python
loop per sample, and is deterministic for a given ``torch.Generator`` state.
"""

from __future__ import annotations

import torch


class PairSampler:
    """Draws index pairs from ``labels`` (N,) of any integer values. Anchors are drawn uniformly, or with the
    relative ``weights`` (N,) when given (few-shot fine-tuning: half the pairs among a handful of new images)."""

    def __init__(self, labels: torch.Tensor, weights: torch.Tensor | None = None):
        labels = torch.as_tensor(labels).long().flatten().cpu()
        if labels.numel() < 2:
            raise ValueError("pair sampling needs at least 2 samples")
        _, group = torch.unique(labels, return_inverse=True)  # group ids 0..G-1
        self.order = torch.argsort(group, stable=True)  # indices sorted into class blocks
        self.counts = torch.bincount(group)  # (G,)
        self.starts = torch.cumsum(self.counts, 0) - self.counts  # (G,)
        self.group = group
        self.rank = torch.empty_like(group)  # position of each sample inside its block
        self.rank[self.order] = torch.arange(labels.numel()) - self.starts[group[self.order]]
        self.n = labels.numel()
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.float).flatten().cpu()
        if self.weights is not None and (self.weights.numel() != self.n or not (self.weights >= 0).all()
                                         or self.weights.sum() <= 0):
            raise ValueError(f"weights must be {self.n} non-negative numbers, not all zero")
        if (self.counts < 2).any():
            small = torch.unique(labels)[self.counts < 2].tolist()
            raise ValueError(f"same-label pairs need at least 2 samples per label; labels with fewer: {small}")

    @property
    def num_groups(self) -> int:
        return int(self.counts.numel())

    def anchors(self, batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.weights is not None:
            return torch.multinomial(self.weights, batch, replacement=True, generator=generator)
        return torch.randint(self.n, (batch,), generator=generator)

    def same(self, anchors: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """For each anchor, a different sample with the same label (B,)."""
        g = self.group[anchors]
        r = (torch.rand(anchors.shape, generator=generator) * (self.counts[g] - 1)).long()
        r = r + (r >= self.rank[anchors]).long()  # skip the anchor itself
        return self.order[self.starts[g] + r]

    def different(self, anchors: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """For each anchor, a sample drawn uniformly from all samples with another label (B,)."""
        if self.num_groups < 2:
            raise ValueError("different-label pairs need at least 2 labels")
        g = self.group[anchors]
        r = (torch.rand(anchors.shape, generator=generator) * (self.n - self.counts[g])).long()
        r = r + (r >= self.starts[g]).long() * self.counts[g]  # jump over the anchor's own block
        return self.order[r]

    def same_pairs(self, batch: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.anchors(batch, generator)
        return a, self.same(a, generator)

    def different_pairs(self, batch: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.anchors(batch, generator)
        return a, self.different(a, generator)
