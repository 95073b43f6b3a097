"""The CC-VAE's forward objective: every term of the forward cycle, computed and summed in one function.

``forward_objective(model, cycle, config, parts, ...)`` takes what one forward cycle computed (a ``Cycle``: the
paper's pair swap, ``Cycle.of_pairs``, or s from a group of other photos, ``Cycle.of_group``) and returns an
``Objective``: the weighted sum to run backward and every named term, unweighted, for the log and the Train-live
chart. The trainer (``core.training.ccvae``) only runs backward and steps the optimiser. Pair and group share this
one list of terms; a term reads from the ``Cycle`` what it needs.

A new term is its pure function (``core.losses``), one ``TrainConfig`` weight and one line below (with a title in
``TITLES`` if the Train-live page should chart it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from core import losses

TITLES = {  # what the Train-live page calls each term it charts, in this order
    "reconstruction": "Reconstruction (pixel MSE)",
    "kl": "KL of z to the prior",
    "reverse_cycle": "Reverse cycle (L1 between z's)",  # the reverse cycle's own objective (losses.reverse_cycle_loss)
    "pixel_l1": "Pixel L1",
    "z_dependence": "z dependence within pairs (HSIC)",
    "s_contrast": "s pair contrast",
    "s_head": "Label from s (cross-entropy)",
    "identity_swap": "Identity of swaps (cross-entropy)",
    "patch_generator": "Patch adversary (decoder's hinge)",
}


@dataclass
class Cycle:
    """What one forward cycle computed, for the terms to read (the images' order within each field matches)."""

    reconstruction: torch.Tensor  # unweighted
    kl: torch.Tensor  # unweighted
    s: torch.Tensor  # (N, s_dim): every encoded s
    s_labels: torch.Tensor | None  # (N,) their labels, where the trainer knows them
    z: torch.Tensor  # (M, z_dim): the z that were decoded
    decoded_s: torch.Tensor  # (M, s_dim): the s each of them was decoded with
    labels: torch.Tensor | None  # (M,): the label of each decoded_s
    real: torch.Tensor  # (M, C, H, W): what the decoded images are compared with
    decoded: torch.Tensor  # (M, C, H, W): Dec(z, decoded_s)
    z_pairs: tuple[torch.Tensor, torch.Tensor] | None  # z means of same-label pairs (z_dependence)
    pairs: tuple[torch.Tensor, torch.Tensor] | None  # the images of same-label pairs (s_contrast)

    @classmethod
    def of_pairs(cls, f: losses.ForwardTerms, x1: torch.Tensor, x2: torch.Tensor,
                 labels: torch.Tensor | None) -> Cycle:
        """The paper's forward cycle (``losses.forward_cycle_loss``) on same-label pairs with labels ``labels``."""
        batch = x1.shape[0]
        both = None if labels is None else labels.repeat(2)
        return cls(f.reconstruction, f.kl, f.s, both, f.z, f.s_swapped, both, torch.cat([x1, x2]), f.decoded,
                   (f.z_mu[:batch], f.z_mu[batch:]), (x1, x2))

    @classmethod
    def of_group(cls, g: losses.GroupTerms, x: torch.Tensor, group: torch.Tensor, labels: torch.Tensor) -> Cycle:
        """The group forward cycle (``losses.group_cycle_loss``): anchors ``x``, ``group`` (K, B, ...) of their labels."""
        batch, k = x.shape[0], group.shape[0]
        paired = k > 0  # anchor and its first group photo: a same-label pair
        return cls(g.reconstruction, g.kl, g.s, labels.repeat(1 + k), g.z, g.group_s, labels, x, g.decoded,
                   (g.z_mu[:batch], g.z_mu[batch:2 * batch]) if paired else None, (x, group[0]) if paired else None)


@dataclass
class Parts:
    """The networks beside the model that some terms use (None: that term is off)."""

    s_head: torch.nn.Module | None = None  # a linear head on s (s_classifier_weight)
    identity_classifier: torch.nn.Module | None = None  # frozen, trained by the project (identity_weight)
    patch_discriminator: torch.nn.Module | None = None  # when its term is active (patch_weight after patch_start)
    last_layer: torch.nn.Parameter | None = None  # the decoder's last weight, for the patch term's adaptive weight


@dataclass
class Objective:
    """The weighted sum of the terms, and each term unweighted by name (monitors, such as accuracies, beside them)."""

    total: torch.Tensor | None = None
    terms: dict[str, torch.Tensor] = field(default_factory=dict)

    def add(self, name: str, weight: float | torch.Tensor, value: torch.Tensor) -> None:
        weighted = weight * value
        self.total = weighted if self.total is None else self.total + weighted
        self.terms[name] = value

    def monitor(self, name: str, value: torch.Tensor) -> None:
        """Logged beside the terms, not summed."""
        self.terms[name] = value


def forward_objective(model, cycle: Cycle, config, parts: Parts, *, kl_weight: float, autocast,
                      different: tuple[torch.Tensor, torch.Tensor] | None = None,
                      generator: torch.Generator | None = None) -> Objective:
    """Every forward-cycle term of ``config`` (a ``TrainConfig``) on ``cycle``, summed in this order.
    ``different``: a different-label pair batch (the s contrast); ``kl_weight``: this step's (the warm-up's)."""
    c, o = config, Objective()
    o.add("reconstruction", c.reconstruction_weight, cycle.reconstruction)
    o.add("kl", kl_weight, cycle.kl)
    if c.pixel_l1_weight:
        o.add("pixel_l1", c.pixel_l1_weight, losses.pixel_l1(cycle.decoded, cycle.real))
    if c.z_independence_weight and cycle.z_pairs is not None:
        o.add("z_dependence", c.z_independence_weight, losses.pair_dependence(*cycle.z_pairs))
    if c.s_contrast_weight and cycle.pairs is not None and different is not None:
        batch = cycle.pairs[0].shape[0]
        with autocast:
            s = model.encode(torch.cat([*cycle.pairs, *different])).s
        o.add("s_contrast", c.s_contrast_weight,
              losses.s_pair_contrast((s[:batch], s[batch:2 * batch]), (s[2 * batch:3 * batch], s[3 * batch:])))
    if parts.s_head is not None and cycle.s_labels is not None:
        logits = parts.s_head(cycle.s.float())
        o.add("s_head", c.s_classifier_weight, torch.nn.functional.cross_entropy(logits, cycle.s_labels))
        o.monitor("s_head_accuracy", (logits.argmax(1) == cycle.s_labels).float().mean())
    if parts.identity_classifier is not None and cycle.labels is not None:
        with autocast:
            identity, accuracy = losses.identity_swap_loss(model, parts.identity_classifier, cycle.z,
                                                           cycle.decoded_s, cycle.labels, generator,
                                                           blur=c.identity_blur, colour_blur=c.identity_colour_blur)
        o.add("identity_swap", c.identity_weight, identity)
        o.monitor("identity_swap_accuracy", accuracy)
    if parts.patch_discriminator is not None:
        with autocast:
            adversarial = losses.patch_generator_loss(parts.patch_discriminator, cycle.decoded)
        weight = c.patch_weight * losses.adaptive_weight(c.reconstruction_weight * cycle.reconstruction, adversarial,
                                                         parts.last_layer)
        o.add("patch_generator", weight, adversarial)
        o.monitor("patch_weight", weight)
    return o
